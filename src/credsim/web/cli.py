"""The ``credsim serve`` command, added to the main typer app by :func:`register`.

    credsim serve                              http://127.0.0.1:8765/
    credsim serve --port 9000 --data-dir runs/web --max-concurrent 2
    credsim serve --host 0.0.0.0               on every interface, with a warning

It binds to the loopback address unless ``--host`` names another one, which is then
served with a warning: anyone who can reach that address can start simulations. An IPv6
address is printed in brackets (``credsim serve --host ::1`` -> ``http://[::1]:8765/``) and
served at that URL. Ctrl-C (or SIGTERM) says that the server is stopping, stops the runs in
progress (recorded as stopped by the server) and exits within about two seconds.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_DATA_DIR = Path("runs") / "web"
DEFAULT_MAX_CONCURRENT = max(1, min(4, os.cpu_count() or 1))
BACKLOG = 2048
GRACEFUL_S = 1  # open connections (a page's keep-alive) are closed after this on Ctrl-C

err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port to listen on; 0: any free port.")] = DEFAULT_PORT,
    host: Annotated[
        Optional[str],
        typer.Option("--host", help=f"Address to listen on (default: {DEFAULT_HOST}). Any other than a loopback address lets other machines start runs."),
    ] = None,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Folder for the runs and comparisons.")] = DEFAULT_DATA_DIR,
    max_concurrent: Annotated[int, typer.Option("--max-concurrent", min=1, max=64, help="Simulations running at once; more wait in a queue.")] = DEFAULT_MAX_CONCURRENT,
    max_queued: Annotated[int, typer.Option("--max-queued", min=0, max=10_000, help="Runs waiting at most; more are refused until one finishes.")] = 20,
    keep_runs: Annotated[int, typer.Option("--keep-runs", min=1, max=100_000, help="Runs kept in --data-dir; the oldest finished runs are deleted when a new one starts.")] = 50,
    keep_gb: Annotated[float, typer.Option("--keep-gb", min=0.0, help="Gigabytes (GiB) of runs kept in --data-dir, likewise.")] = 2.0,
) -> None:
    """Start the local web app: pick a scenario, set its parameters, run it, read the report."""
    address = host if host is not None else DEFAULT_HOST
    loopback = is_loopback(address)
    if not loopback:
        err.print(f"[bold yellow]warning:[/] serving on {escape(address)}, not on the loopback address: anyone who can "
                  "reach it can start simulations on this machine. Use it only on a network you trust.",
                  highlight=False, soft_wrap=True)
    listener = _listen(address, port)  # before the imports below: a port in use is said at once
    try:  # here, not at the top: the other commands need no web server
        import uvicorn

        from credsim.web.app import LOOPBACK_HOSTS, create_app
    except ImportError as error:
        listener.close()
        _fail(f"the web app needs a package that is not installed ({error.name}): pip install starlette uvicorn")

    allowed_hosts = [*LOOPBACK_HOSTS, address.strip("[]").lower()] if loopback else ["*"]
    try:
        app = create_app(data_dir, max_concurrent, max_queued=max_queued, allowed_hosts=allowed_hosts,
                         keep_runs=keep_runs, keep_bytes=int(keep_gb * 1024**3))
    except OSError as error:
        listener.close()
        _fail(f"--data-dir {data_dir}: cannot use it: {error.strerror or error}")
    bound_port = listener.getsockname()[1]
    shown = f"[{address.strip('[]')}]" if ":" in address else address
    typer.echo(f"credsim web app: http://{shown}:{bound_port}/ (runs in {data_dir}, the newest {keep_runs:,} kept; "
               f"at most {max_concurrent} simulation{'s' if max_concurrent != 1 else ''} at once; Ctrl-C stops)")
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, lifespan="on",
                            timeout_keep_alive=5, timeout_graceful_shutdown=GRACEFUL_S, backlog=BACKLOG)

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            if not self.should_exit:
                typer.echo("credsim web app: stopping (runs in progress are stopped) ...", err=True)
            super().handle_exit(sig, frame)

    try:
        Server(config).run(sockets=[listener])
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C it caught again once it has shut down
        pass
    typer.echo("credsim web app: stopped.", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # The runs are stopped, their folders written and the sockets closed: skip the interpreter's
    # teardown of numba, pyarrow and plotly, which took 2 s more on a 2-core machine.
    os._exit(0)


def _listen(address: str, port: int) -> socket.socket:
    """A socket listening on ``address:port`` (uvicorn serves it), or exit with a message."""
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(address.strip("[]"), port, type=socket.SOCK_STREAM)[0]
        listener = socket.socket(family, kind, proto)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(sockaddr)
        listener.listen(BACKLOG)  # now: a client that connects before uvicorn is up waits in the backlog
    except OSError as error:
        _fail(f"cannot listen on {address}:{port}: {error.strerror or error}; choose another --port or --host")
    return listener


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to ``app`` (the ``credsim`` command line)."""
    app.command("serve")(serve)
