"""`payfacile serve`: Uvicorn over HTTP, and HTTPS when asked, with N worker processes.

The access log never shows an emailed token or a control character (`platform.logs`). The
app comes from a factory the caller names (`payfacile.app.create_app`): each worker
process builds its own. The factory must be a module-level function (workers are spawned).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import socket
import ssl
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import uvicorn
from quart import Quart

from payfacile.platform.config import Settings
from payfacile.platform.devcert import ensure_dev_certificate
from payfacile.platform.logs import redact_access_log

AppFactory = Callable[[Settings], Quart]
SNI_EXTENSION = "tls.sni"  # where a part puts its `SniSelector` in `app.extensions`
WORKERS_NEED_REDIS = (
    "payfacile: --workers above 1 needs PAYFACILE_REDIS_URL. Without Redis each worker"
    " process keeps its own rate limits (10 sign-in guesses would become 10 per process),"
    " its own cache and its own scheduler. Serve with one worker, or set PAYFACILE_REDIS_URL."
)


@dataclass(frozen=True)
class Listen:
    host: str
    port: int
    https_port: int | None = None
    workers: int = 1
    access_log: bool = True


class SniSelector(Protocol):
    """Chooses the certificate of each TLS handshake by its SNI name (a part provides it)."""

    def serving_https(self) -> None:
        """Called before the servers start: this process will terminate TLS."""

    def sni_callback(
        self, connection: ssl.SSLObject, server_name: str | None, default: ssl.SSLContext
    ) -> None:
        """`ssl.SSLContext.sni_callback`: sets `connection.context`, or leaves the default."""


class _Server(uvicorn.Server):
    """Uvicorn's server without its own signal handling: `_serve_all` stops every server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def tls_files(settings: Settings) -> tuple[Path, Path]:
    if settings.tls_default_cert and settings.tls_default_key:
        return Path(settings.tls_default_cert), Path(settings.tls_default_key)
    if settings.production:
        raise SystemExit(
            "HTTPS in production needs PAYFACILE_TLS_DEFAULT_CERT and PAYFACILE_TLS_DEFAULT_KEY;"
            " a self-signed certificate is refused."
        )
    return ensure_dev_certificate(settings.data_dir / "tls", settings.platform_domain)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings, listen: Listen, factory: AppFactory) -> None:
    if listen.workers > 1 and not settings.redis_url:
        raise SystemExit(WORKERS_NEED_REDIS)
    sockets = [_bind(listen.host, listen.port)]
    if listen.https_port is not None:
        tls_files(settings)  # fail early, and make the dev certificate once, not per worker
        sockets.append(_bind(listen.host, listen.https_port))
    if listen.workers <= 1:
        _run_worker(settings, listen, sockets, factory)
        return
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_run_worker, args=(settings, listen, sockets, factory), daemon=False)
        for _ in range(listen.workers)
    ]
    for worker in workers:
        worker.start()

    def stop(signum: int, _frame: object) -> None:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for worker in workers:
        worker.join()


def _run_worker(
    settings: Settings, listen: Listen, sockets: list[socket.socket], factory: AppFactory
) -> None:
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(_serve_all(factory(settings), settings, listen, sockets))


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (it comes with `uvicorn[standard]`), as
    Uvicorn's own `--loop auto` chooses; else asyncio's. Serving called `asyncio.run` and so
    ran on asyncio's loop, written in Python, while the bench's ceilings ran on uvloop's,
    libuv's in C. TLS handshakes and `sni_callback` work the same on it."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows, PyPy
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _config(app: Quart, listen: Listen, **tls: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        # Only the plain-HTTP server runs the app's lifespan, which opens the pools once.
        lifespan="off" if tls else "on",
        access_log=listen.access_log,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
        **tls,  # type: ignore[arg-type]  # ssl_certfile / ssl_keyfile
    )


async def _serve_all(
    app: Quart, settings: Settings, listen: Listen, sockets: list[socket.socket]
) -> None:
    servers = [(_Server(_config(app, listen)), sockets[0])]
    if len(sockets) > 1:
        cert, key = tls_files(settings)
        config = _config(app, listen, ssl_certfile=str(cert), ssl_keyfile=str(key))
        config.load()
        selector: SniSelector | None = app.extensions.get(SNI_EXTENSION)
        if selector is not None and config.ssl is not None:
            selector.serving_https()  # before the lifespan starts, which loads them
            config.ssl.sni_callback = selector.sni_callback
        servers.append((_Server(config), sockets[1]))
    redact_access_log(app)  # after the configs above set Uvicorn's logging up
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _stop, [server for server, _ in servers])
    first = asyncio.create_task(servers[0][0].serve(sockets=[servers[0][1]]))
    while not servers[0][0].started and not first.done():  # noqa: ASYNC110 - uvicorn has only a flag
        await asyncio.sleep(0.05)
    others = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers[1:]]
    await asyncio.wait([first, *others], return_when=asyncio.FIRST_COMPLETED)
    _stop([server for server, _ in servers])
    await asyncio.gather(first, *others)


def _stop(servers: list[_Server]) -> None:
    for server in servers:
        server.should_exit = True
