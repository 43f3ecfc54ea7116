"""`convlab inspect`: one digit through a finished run's network, layer by
layer (convlab/inspect/), as pictures or --json; `--split` lists the test
digits a vote's members disagree on. A hidden `--helper` answers the lab in
JSON lines (convlab/inspect/session.py)."""

from __future__ import annotations

import argparse
import json
import sys

from convlab.cli.options import common
from convlab.errors import UserError


def add_inspect(sub) -> None:
    p = sub.add_parser(
        "inspect",
        help="one digit through a trained run, layer by layer",
        description="A test digit (--digit) or a picture of a hand-written digit (--image, PNG or JPEG: "
        "made grey, inverted when dark on light, fitted into 20×20 and centred by mass in 28×28 as "
        "MNIST's digits are) through a finished run's best-validation network: the input and its "
        "saliency |∂z/∂x|, every conv layer's maps after activation and after pooling, the "
        "fully-connected layers, the ten probabilities. For a vote, each member's vote; --split lists "
        "the test digits its members disagree on.",
    )
    p.add_argument("run", nargs="?", metavar="RUN", help="a finished run's id, or a vote's")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--digit", type=int, metavar="N", help="test digit N (0–9999)")
    what.add_argument("--image", metavar="FILE", help="a PNG or JPEG of a hand-written digit")
    what.add_argument("--split", action="store_true", help="a vote: the test digits its members disagree on")
    p.add_argument("--json", action="store_true", help="the same numbers as one JSON object")
    p.add_argument("--helper", action="store_true", help=argparse.SUPPRESS)  # the lab's: JSON lines in and out
    common(p, data=True)
    p.set_defaults(func=cmd_inspect)


def cmd_inspect(args) -> int:
    from convlab.store import Store

    store = Store(args.store)
    if args.helper:
        from convlab.inspect.session import serve

        return serve(store, args.data_dir)
    if args.run is None:
        raise UserError("inspect: name a run (`convlab runs` lists them)")
    if args.split:
        return print_split(store, args)
    if args.digit is None and args.image is None:
        raise UserError("inspect: give --digit N (a test digit), --image FILE or, for a vote, --split")
    from convlab.inspect.session import Inspector

    inspector = Inspector(store, args.data_dir)
    if args.image is not None:
        result = inspector.image(args.run, args.image)
    else:
        result = inspector.digit(args.run, args.digit)
    if args.json:
        print(json.dumps(result))
        return 0
    from rich.console import Console

    from convlab.term.inspect import print_inspection

    console = Console(highlight=False, soft_wrap=True)
    print_inspection(result, console, pictures=console.is_terminal and console.color_system is not None)
    return 0


def print_split(store, args) -> int:
    from convlab.data.mnist import load_mnist
    from convlab.runs.ensemble import split

    digits = split(store, store.run(args.run), load_mnist(args.data_dir).test.labels)
    if args.json:
        print(json.dumps(digits))
        return 0
    out = sys.stdout
    print(f"{len(digits)} test digits on which the members of vote {args.run} disagree", file=out)
    if digits:
        runs = list(digits[0]["votes"])
        print("  digit  label  vote  " + "  ".join(f"run {r}" for r in runs), file=out)
        for d in digits:
            cells = "  ".join(str(d["votes"][r]).rjust(len(f"run {r}")) for r in runs)
            print(f"  {d['index']:>5}  {d['label']:>5}  {d['vote']:>4}  {cells}", file=out)
    return 0
