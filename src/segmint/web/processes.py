"""Several server processes on one port (``segmint serve --workers N``), each with a listening
socket of its own.

uvicorn's own ``--workers`` shares one listening socket between its processes: whichever
process wakes first accepts a connection, and a client that keeps its connections open (every
HTTP client library, a load balancer) stays with the process that accepted it. Under a steady
load one process ended up with three times the other's connections, ran at 94 % of a core while
the other idled, and its queue made the busy half of the requests wait (docs/performance.md).
Here every process binds the port itself with ``SO_REUSEPORT``, so the kernel spreads new
connections evenly across them by the hash of each connection's addresses.

The supervisor (this module, in the ``segmint serve`` process) starts the processes, starts a
new one when one that was serving dies (a crash, the OOM killer), and stops them all on SIGINT
or SIGTERM. A process that ends before it serves (the database cannot be reached, the settings
are wrong) stops the whole server with its error instead of being restarted in a loop.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import time
from multiprocessing.process import BaseProcess
from typing import Any

from segmint.errors import ConfigError

logger = logging.getLogger("segmint.web")

#: Time a process gets to finish its requests when the server stops.
STOP_SECONDS = 30.0


def supported() -> bool:
    """Whether this platform can give each process its own socket on one port (Linux, BSDs)."""
    return hasattr(socket, "SO_REUSEPORT")


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` that other processes may bind too. It does not
    listen yet: uvicorn starts listening once the app has started, so the kernel sends no
    connection to a process that is still starting (they would wait in its backlog)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _serve_one(host: str, port: int, options: dict[str, Any], started: Any) -> None:
    """One server process: its own socket, the app built from the environment; sets
    ``started`` (an Event) once it serves, and stops when the supervisor is gone (killed
    with SIGKILL, it could not stop its processes itself)."""
    import os
    import threading

    import uvicorn

    supervisor = os.getppid()
    sock = bind(host, port)
    config = uvicorn.Config(
        "segmint.web.app:app_from_environment", factory=True, host=host, port=port, **options
    )
    server = uvicorn.Server(config)

    def watch() -> None:
        while not server.should_exit:
            if server.started and not started.is_set():
                started.set()
            if os.getppid() != supervisor:
                logger.warning("the supervisor %s is gone; stopping", supervisor)
                server.should_exit = True
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()
    server.run(sockets=[sock])


class Supervisor:
    """Keeps ``count`` server processes running until it is told to stop."""

    def __init__(self, *, host: str, port: int, count: int, **options: Any) -> None:
        self.host, self.port, self.count, self.options = host, port, count, options
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[tuple[BaseProcess, Any]] = []
        self._stopping = False

    def _start(self) -> tuple[BaseProcess, Any]:
        started = self._context.Event()
        process = self._context.Process(
            target=_serve_one,
            args=(self.host, self.port, self.options, started),
            name="segmint-web",
            daemon=False,
        )
        process.start()
        return process, started

    def _stop(self, *_: Any) -> None:
        self._stopping = True

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM; the exit status (non-zero: a process failed to start)."""
        # Fail here, with the error, when the port is taken by a server that did not opt in.
        try:
            bind(self.host, self.port).close()
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGINT, signal.SIGTERM)}
        status = 0
        try:
            self._processes = [self._start() for _ in range(self.count)]
            while not self._stopping:
                time.sleep(0.2)
                for i, (process, started) in enumerate(self._processes):
                    if process.is_alive() or self._stopping:
                        continue
                    if not started.is_set():
                        logger.error(
                            "server process %s failed to start (exit code %s); stopping",
                            process.pid,
                            process.exitcode,
                        )
                        status = 1
                        self._stopping = True
                        break
                    logger.warning(
                        "server process %s ended (exit code %s); starting another",
                        process.pid,
                        process.exitcode,
                    )
                    self._processes[i] = self._start()
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return status

    def _shutdown(self) -> None:
        for process, _ in self._processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests it has
        deadline = time.monotonic() + STOP_SECONDS
        for process, _ in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


def serve(*, host: str, port: int, count: int, **options: Any) -> None:
    """Run ``count`` server processes on ``host:port`` until stopped; exit 1 when one of them
    could not start."""
    status = Supervisor(host=host, port=port, count=count, **options).run()
    if status:
        sys.exit(status)
