"""`convlab completion bash|zsh`: a shell completion script (written by
shtab from the argument parser) that completes commands, options, preset
names (`convlab presets --names`), run ids (`convlab runs --ids`) and the
values of --format and --device.
Enable it with one line in ~/.bashrc:  eval "$(convlab completion bash)"."""

from __future__ import annotations

import argparse

from convlab.extras import require

SHELLS = ("bash", "zsh")
# Candidates for the word being completed ($1), asked of convlab itself, so
# the user's own presets and the current store's runs are offered.
PREAMBLE = {
    "bash": """
_convlab_presets() { compgen -W "$(convlab presets --names 2>/dev/null)" -- "$1"; }
_convlab_preset_or_file() { _convlab_presets "$1"; compgen -d -- "$1"; compgen -f -X '!*.toml' -- "$1"; }
_convlab_runs() { compgen -W "$(convlab runs --ids 2>/dev/null)" -- "$1"; }
_convlab_formats() { compgen -W "FORMATS" -- "$1"; }
_convlab_devices() { compgen -W "DEVICES" -- "$1"; }
""",
    "zsh": """
_convlab_presets() { compadd -- ${(f)"$(convlab presets --names 2>/dev/null)"}; }
_convlab_preset_or_file() { _convlab_presets; _files -g '*.toml'; }
_convlab_runs() { compadd -- ${(f)"$(convlab runs --ids 2>/dev/null)"}; }
_convlab_formats() { compadd -- FORMATS; }
_convlab_devices() { compadd -- DEVICES; }
""",
}
RUN_ARGUMENTS = {"run", "runs", "resume"}
# Fixed values offered, not enforced as argparse choices: a wrong one stays one line naming the choices.
VALUES = {"format": "_convlab_formats", "device": "_convlab_devices"}


def add_completion(sub) -> None:
    p = sub.add_parser(
        "completion",
        help="print a shell completion script (bash or zsh)",
        description="Completes commands, options, presets and run ids. Enable it with "
        '`eval "$(convlab completion bash)"` in ~/.bashrc (zsh: in ~/.zshrc, with zsh).',
    )
    p.add_argument("shell", choices=SHELLS, help="the shell")
    p.set_defaults(func=cmd_completion)


def _complete_with(action: argparse.Action, function: str) -> None:
    action.complete = {"bash": function, "zsh": function}


def annotate(parser: argparse.ArgumentParser) -> None:
    """Tell shtab which arguments take presets and which take run ids."""
    for sub in parser._subparsers._group_actions[0].choices.values():  # noqa: SLF001 (argparse has no public walk)
        for action in sub._actions:
            if action.dest in RUN_ARGUMENTS:
                _complete_with(action, "_convlab_runs")
            elif action.dest in VALUES:
                _complete_with(action, VALUES[action.dest])
            elif action.dest == "preset":
                _complete_with(action, "_convlab_preset_or_file" if action.option_strings == [] else "_convlab_presets")


def preamble(shell: str) -> str:
    from convlab.config.spec import DEVICES
    from convlab.results.export import FORMATS

    return PREAMBLE[shell].replace("FORMATS", " ".join(FORMATS)).replace("DEVICES", " ".join(DEVICES))


def cmd_completion(args) -> int:
    shtab = require("shtab", "completion", "convlab completion")
    parser = args.root_parser  # set by convlab.cli.build_parser
    annotate(parser)
    print(shtab.complete(parser, shell=args.shell, preamble=preamble(args.shell)))
    return 0
