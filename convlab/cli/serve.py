"""`convlab serve`: the lab in a browser tab, through textual-serve (pip
install 'nndl-convlab[serve]'). Each browser tab gets its own lab process on this
machine, reading the same store, so it shows what `convlab` shows."""

from __future__ import annotations

import os
import shlex
import sys

from convlab.cli.options import common
from convlab.errors import UserError
from convlab.extras import require


def add_serve(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="the lab in a browser tab (textual-serve)",
        description="Serve the lab over HTTP: open the printed address in a browser. Each tab "
        "runs its own lab on this machine with the same store. Ctrl-C stops the server.",
    )
    p.add_argument("--host", default="localhost", help="the address to listen on (default: localhost only)")
    p.add_argument("--port", type=int, default=8000, help="the port (default 8000)")
    p.add_argument("--public-url", metavar="URL", help="the address browsers use, when behind a proxy")
    common(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    require("textual_serve", "serve", "convlab serve")
    from textual_serve.server import Server

    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: not a port; choose one from 1 to 65535")
    if args.store:  # the labs the server starts read it from the environment
        from convlab.store import Store

        with Store(args.store) as store:  # a bad --store fails here, not in every tab
            os.environ["CONVLAB_STORE"] = str(store.path.resolve())
    command = f"{shlex.quote(sys.executable)} -m convlab"
    try:
        Server(command, host=args.host, port=args.port, title="convlab", public_url=args.public_url).serve()
    except OSError as exc:
        raise UserError(
            f"serve: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); choose another --port"
        ) from None
    return 0
