"""The `convlab` command. With no arguments it opens the Textual lab; each
subcommand works headless, for a terminal reached over SSH.

One module per group of commands (browse: presets/runs/show; run; compare:
compare/export; ensemble; reproduce; sweep), each adding its parsers through
`add_<command>(sub)`; `options` declares the options they share, `training`
and `printers` hold the rest of what they share.

Every error a user can cause ends in one line on stderr and exit status 2.
torch is imported only by the commands that train, so `convlab --help`,
`presets`, `runs` and `show` answer at once.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

from convlab.config.paths import DATA_VAR, PRESETS_VAR, STORE_VAR, env_store
from convlab.errors import UserError
from convlab.term.text import printable

EPILOG = f"""\
examples:
  convlab                               open the lab (full-screen)
  convlab --store runs.sqlite           the lab on another store
  convlab presets                       the chapter's networks
  convlab run relu --epochs 1 --train-limit 2000
  convlab run my-net.toml --repeats 3 --seed 1
  convlab run --resume 7                continue an interrupted run
  convlab runs                          what the store holds
  convlab show 7                        one run: config, curve, filters, mistakes
  convlab sweep relu --set train.lmbda=0,0.1,1 --epochs 5 --workers 2
  convlab search relu --param train.eta=log:0.003..0.3 --trials 20 --epochs 5

environment: {STORE_VAR} (the run store; default ./convlab.sqlite if there is
one, else convlab.sqlite in your user data folder), {PRESETS_VAR} (your presets;
default ./presets if there is one that is not the shipped folder, else presets/
in your user data folder), {DATA_VAR} (the MNIST folder, default the shipped one)."""


def commands() -> tuple:
    """Each command's `add_<command>`, in the order of `convlab --help`. Imported
    here, not at the top, so that `convlab` alone (the lab) loads none of them:
    they bring numpy and the printers, a third of the lab's first frame."""
    from convlab.cli import (
        browse,
        compare,
        completion,
        ensemble,
        export_model,
        inspect,
        manage,
        reproduce,
        run,
        search,
        serve,
        sweep,
    )

    return (
        browse.add_presets,
        run.add_run,
        browse.add_runs,
        browse.add_show,
        compare.add_compare,
        ensemble.add_ensemble,
        compare.add_export,
        inspect.add_inspect,
        export_model.add_export_model,
        reproduce.add_reproduce,
        manage.add_rm,
        manage.add_note,
        manage.add_tag,
        manage.add_gc,
        serve.add_serve,
        sweep.add_sweep,
        search.add_search,
        completion.add_completion,
    )


class OneLineParser(argparse.ArgumentParser):
    """A bad option is one line and exit 2, like every other user error."""

    def error(self, message: str):
        where = "" if self.prog == "convlab" else f"{printable(self.prog)}: "  # never `convlab: convlab:`
        print(
            f"convlab: {where}{printable(message)}; `{self.prog} --help` lists the options",
            file=sys.stderr,
        )
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    from convlab import __version__

    parser = OneLineParser(
        prog="convlab",
        description="A lab for the convolutional networks of chapter 6 of Nielsen's "
        "Neural Networks and Deep Learning: train them, watch them learn, compare them with the book.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"convlab {__version__}")
    # the lab's store (`convlab --store PATH`); its own dest, so a command's --store is never overwritten
    parser.add_argument(
        "--store", dest="lab_store", metavar="PATH", help=f"the lab's run store (default: ${STORE_VAR}, see below)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in commands():
        add(sub)
    parser.set_defaults(root_parser=parser)  # for `convlab completion`, which describes the whole parser
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `convlab` alone opens the lab without building the parser (see commands())
    args = build_parser().parse_args(argv) if argv else None
    try:
        if args is None or args.command is None:
            from convlab.tui.app import main as tui_main

            return tui_main(store=(args and args.lab_store) or env_store())
        if args.lab_store and getattr(args, "store", None) is None:  # `convlab --store PATH runs`
            args.store = args.lab_store
        return args.func(args) or 0
    except UserError as exc:
        print(f"convlab: {printable(str(exc))}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:  # after the store opened: a full disk, a read-only file, damage
        from convlab.config.paths import store_path
        from convlab.store.schema import failure

        print(f"convlab: {printable(failure(store_path(getattr(args, 'store', None)), exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("convlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
