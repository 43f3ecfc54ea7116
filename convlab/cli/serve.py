"""`convlab serve`: the lab in a browser tab, through textual-serve (pip
install 'nndl-convlab[serve]'). Each browser tab gets its own lab process on this
machine, reading the same store, so it shows what `convlab` shows.

A tab can start training and write presets, so the server admits only the
holder of a random token printed at start-up (in the page's address, as
Jupyter does) and a websocket whose Origin is the page's own: a web page open
in the same browser knows neither."""

from __future__ import annotations

import ipaddress
import os
import secrets
import shlex
import socket
import sys
from urllib.parse import urlsplit

from convlab.cli.options import common
from convlab.errors import UserError
from convlab.extras import require


def add_serve(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="the lab in a browser tab (textual-serve)",
        description="Serve the lab over HTTP: open the printed address (it holds a random token) in a "
        "browser. Each tab runs its own lab on this machine with the same store. Ctrl-C stops the server.",
    )
    p.add_argument("--host", default="localhost", help="the address to listen on (default: localhost only)")
    p.add_argument("--port", type=int, default=8000, help="the port (default 8000)")
    p.add_argument("--public-url", metavar="URL", help="the address browsers use, when behind a proxy")
    common(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    require("textual_serve", "serve", "convlab serve")

    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: not a port; choose one from 1 to 65535")
    if args.public_url and urlsplit(args.public_url).scheme not in ("http", "https"):
        raise UserError(f"--public-url {args.public_url}: not an http(s) address; give one like https://lab.example")
    if args.store:  # the labs the server starts read it from the environment
        from convlab.store import Store

        with Store(args.store) as store:  # a bad --store fails here, not in every tab
            os.environ["CONVLAB_STORE"] = str(store.path.resolve())
    if not is_local(args.host):
        print(
            f"convlab serve: WARNING: --host {args.host} listens beyond this machine: anyone who can reach "
            f"port {args.port} and learns the address printed below (its token) can drive the lab and start "
            "training. Prefer the default (localhost) with an SSH tunnel.",
            file=sys.stderr,
            flush=True,
        )
    command = f"{shlex.quote(sys.executable)} -m convlab"
    server = guarded_server(command, args.host, args.port, args.public_url)
    try:
        server.serve()
    except OSError as exc:
        raise UserError(
            f"serve: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); choose another --port"
        ) from None
    return 0


def is_local(host: str) -> bool:
    """Whether `host` listens on this machine's loopback only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def guarded_server(command: str, host: str, port: int, public_url: str | None):
    """A textual-serve Server that admits only the token's holder, from the page's own origin."""
    from aiohttp import web
    from textual_serve.server import Server

    class GuardedServer(Server):
        def __init__(self):
            super().__init__(command, host=host, port=port, title="convlab", public_url=public_url)
            self.token = secrets.token_urlsafe(24)
            self.fixed_url = public_url.rstrip("/") if public_url else None

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            # the page's websocket carries the token in its path (textual.js appends ?width=…)
            app.router.add_get("/ws/{token}", self.handle_token_websocket)
            return app

        def base_url(self, request: web.Request) -> str:
            """Where the browser reached us: --public-url, else the address it asked for
            (never 0.0.0.0, which no remote browser can connect to)."""
            return self.fixed_url or f"{request.scheme}://{request.host}"

        async def handle_index(self, request: web.Request):
            self._admit(request, request.query.get("token", ""))
            self.public_url = self.base_url(request)
            response = await Server.handle_index(self, request)
            return _with_token_socket(response, self.token)

        async def handle_websocket(self, request: web.Request):
            raise web.HTTPForbidden(text="convlab serve: the websocket needs the token; open the printed address\n")

        async def handle_token_websocket(self, request: web.Request):
            self._admit(request, request.match_info["token"])
            return await Server.handle_websocket(self, request)

        def _admit(self, request: web.Request, token: str) -> None:
            if not secrets.compare_digest(token.encode(), self.token.encode()):
                raise web.HTTPForbidden(
                    text="convlab serve: a missing or wrong token; open the address convlab serve printed\n"
                )
            origin = request.headers.get("Origin")
            if origin is not None and origin.rstrip("/") not in self.origins(request):
                raise web.HTTPForbidden(text=f"convlab serve: Origin {origin} is not this lab's page\n")

        def origins(self, request: web.Request) -> set[str]:
            own = {f"{request.scheme}://{request.host}"}
            if self.fixed_url:
                parts = urlsplit(self.fixed_url)
                own.add(f"{parts.scheme}://{parts.netloc}")
            return own

        async def on_startup(self, app: web.Application) -> None:
            shown = host if host not in ("0.0.0.0", "::", "") else socket.gethostname()
            base = self.fixed_url or f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}"
            print(f"convlab serve: open {base}/?token={self.token}", flush=True)
            print("Ctrl-C stops the server.", flush=True)

    return GuardedServer()


def _with_token_socket(response, token: str):
    """The index page's websocket address with the token in its path."""
    body = response.text.replace('/ws"', f'/ws/{token}"')
    response.text = body
    return response
