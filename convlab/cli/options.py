"""Options several commands share."""

from __future__ import annotations

import argparse

from convlab.config.paths import DATA_VAR, STORE_VAR


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
        "--format", metavar="FORMAT", help="csv, json, md, html or tensorboard (a folder; default: from -o's suffix)"
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        default=default,
        help=f"the file to write ('-' for stdout; default: {default or 'stdout'})",
    )
