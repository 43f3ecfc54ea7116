"""Options several commands share, each declared once with one help text."""

from __future__ import annotations

import argparse

from convlab.config.paths import DATA_VAR, RAY_VAR, STORE_VAR


def common(parser: argparse.ArgumentParser, data: bool = False) -> None:
    parser.add_argument(
        "--store",
        metavar="PATH",
        help=f"the run store (default: ${STORE_VAR}, ./convlab.sqlite, or the one in your user data folder)",
    )
    if data:
        parser.add_argument(
            "--data-dir", metavar="DIR", help=f"the MNIST folder (default: ${DATA_VAR} or the package's)"
        )


def output(p: argparse.ArgumentParser, default: str | None = None) -> None:
    p.add_argument(
        "--format",
        metavar="FORMAT",
        help="csv, json, md, html, tensorboard or records (the last two write a folder; default: from -o's suffix)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        default=default,
        help=f"the file to write ('-' for stdout; default: {default or 'stdout'})",
    )


def training(p: argparse.ArgumentParser) -> None:
    """The options of every command that trains (run, sweep, reproduce), then
    --store and --data-dir; cli/training.py reads them."""
    p.add_argument("--epochs", type=int, metavar="N", help="epochs per run (default: the preset's)")
    p.add_argument(
        "--train-limit", type=int, metavar="N", help="train on the first N training images only (a quick look)"
    )
    p.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seed of the first run; the others count on from it (default: random; always stored)",
    )
    p.add_argument("--device", metavar="DEV", help="auto (default: cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--json", action="store_true", help="print the training's events as JSON, one per line (text goes to stderr)"
    )
    _workers(p)
    common(p, data=True)


def _workers(p: argparse.ArgumentParser) -> None:
    """How many runs train at once, with how many threads, and where (convlab/runs/scheduler.py)."""
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="runs trained at once, each in its own process (default: one per core on a CPU, 1 on a GPU)",
    )
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads per run (default: $OMP_NUM_THREADS or 1, "
        "which keeps its speed when other work shares the cores)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="train on a Ray cluster "
        f"(default: ${RAY_VAR}; no ADDRESS: a local cluster); needs `pip install 'nndl-convlab[ray]'`",
    )
    p.add_argument(
        "--ray-timeout",
        type=float,
        metavar="S",
        help="seconds to wait for the --ray ADDRESS to answer (default 5)",
    )
