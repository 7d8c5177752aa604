"""The CLI as a process: what ``segmint --help`` loads, and ``segmint worker`` stopping on a
signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def test_help_does_not_load_the_metadata_database() -> None:
    """SQLAlchemy and Alembic add ~0.4 s; commands that do not need them must not pay that."""
    code = (
        "import sys, segmint.cli\n"
        "print(sorted(m for m in ('sqlalchemy', 'alembic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_worker_stops_cleanly_on_a_signal(data_dir: Path, signum: int) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "segmint.cli", "worker"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SEGMINT_DATA_DIR": str(data_dir)},
    )
    try:
        assert worker.stderr is not None
        for line in worker.stderr:  # wait until it is up (and has migrated the database)
            if "started" in line:
                break
        worker.send_signal(signum)
        _, rest = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, rest
    assert "stopped" in rest
    assert "Traceback" not in rest


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int, state: str = "0A") -> set[str]:
    """Inodes of the TCP sockets on local ``port`` in ``state`` (0A: listening, 01:
    established), from /proc/net/tcp and tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                found.add(fields[9])
    return found


def _sockets_of(pid: int | str) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


def _serving(server: subprocess.Popen, port: int) -> dict[str, set[str]]:
    """The server's child processes that listen on ``port``: pid -> their listening sockets."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    listening = _listening(port)
    found = {}
    for child in children:
        try:
            held = _sockets_of(child) & listening
        except OSError:  # ended meanwhile
            continue
        if held:
            found[child] = held
    return found


def _wait_serving(server: subprocess.Popen, port: int, count: int = 2) -> dict[str, set[str]]:
    """Wait until ``count`` processes listen (each starts listening once its app has started,
    which under load takes a while after the first answers)."""
    import time

    deadline = time.monotonic() + 60
    while len(found := _serving(server, port)) != count:
        assert time.monotonic() < deadline, f"{len(found)} processes listen, not {count}"
        assert server.poll() is None
        time.sleep(0.2)
    return found


def _wait_healthy(server: subprocess.Popen, port: int) -> None:
    import json
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                assert json.load(r)["status"] == "ok"
            return
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline, "the server did not start"
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.3)


def _serve(data_dir: Path, port: int, workers: int = 2) -> subprocess.Popen:
    command = ["serve", "--workers", str(workers), "--port", str(port)]
    return subprocess.Popen(
        [sys.executable, "-m", "segmint.cli", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SEGMINT_DATA_DIR": str(data_dir)},
    )


def test_serve_with_two_workers_spreads_connections_and_replaces_a_dead_process(
    data_dir: Path,
) -> None:
    """``segmint serve --workers 2``: the database is migrated once before the processes start;
    each process listens on a socket of its own (SO_REUSEPORT), so kept-open connections land
    on both; a process that dies is replaced; Ctrl-C stops them all."""
    import http.client
    import time

    port = _free_port()
    server = _serve(data_dir, port)
    connections: list[http.client.HTTPConnection] = []
    try:
        _wait_healthy(server, port)
        serving = _wait_serving(server, port)
        first, second = serving.values()
        assert len(first) == len(second) == 1 and first != second  # a socket each

        # 24 kept-open connections, as a client library or a proxy keeps them: both processes
        # hold some (all on one: 2 chances in 2^24 with the kernel's spreading).
        for _ in range(24):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/api/v1/me")
            response = connection.getresponse()
            response.read()
            assert response.status == 401
            connections.append(connection)
        established = _listening(port, "01")
        held = {pid: len(_sockets_of(pid) & established) for pid in serving}
        assert sum(held.values()) == 24 and min(held.values()) >= 1, held

        # A process killed (the OOM killer, a crash): another takes its place.
        for connection in connections:
            connection.close()
        victim = next(iter(serving))
        os.kill(int(victim), signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            now = _serving(server, port)
            if len(now) == 2 and victim not in now:
                break
            assert time.monotonic() < deadline, f"no new process after {victim} died: {now}"
            assert server.poll() is None
            time.sleep(0.3)
        _wait_healthy(server, port)

        server.send_signal(signal.SIGINT)
        _, rest = server.communicate(timeout=60)
    finally:
        for connection in connections:
            connection.close()
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stderr is not None and not server.stderr.closed:
            server.stderr.close()
    assert server.returncode == 0, rest
    assert f"server process {victim} ended" in rest
    assert "Traceback" not in rest
    assert (data_dir / "segmint.sqlite").exists()


def test_serve_with_workers_on_a_taken_port_says_so(data_dir: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = _serve(data_dir, port)
        _, err = server.communicate(timeout=120)
    assert server.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err


def test_server_processes_stop_when_the_supervisor_is_killed(data_dir: Path) -> None:
    """SIGKILL leaves the supervisor no time to stop its processes: they notice and stop."""
    import time

    port = _free_port()
    server = _serve(data_dir, port)
    try:
        _wait_healthy(server, port)
        serving = _wait_serving(server, port)
        server.kill()
        server.wait()
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() for pid in serving):
            assert time.monotonic() < deadline, "server processes outlived their supervisor"
            time.sleep(0.2)
        assert not _listening(port)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()
