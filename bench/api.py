"""API load: the customer list and RFM insights under a fixed request rate, on loopback.

    python -m bench api --customers 100000 --lines 10000000 --seconds 60 [--warm]

Builds (once, under bench/data/) a sales store with --customers customers and --lines sales
lines written straight into DuckDB (this measures the API, not the importer), a metadata
database with an admin, a Pareto and an RFM type that have run; starts ``segmint serve`` on
127.0.0.1 with --workers processes (default 2, one per core), waits until it is idle (it builds
the insights line index at start), then drives it with locust (headless) at each scenario's
rate:

Requests arrive as a Poisson process at each scenario's rate (bench/locustfile.py says why;
``--burst`` sends the rate as one burst a second instead):

* customers: ``GET /api/v1/customers?limit=50&offset=…&sort=name`` at 50 requests/s;
* insights: ``GET /api/v1/segment-types/{rfm}/insights?territory=…&brand=…`` (two dimension
  filters, drawn from 10 x 12 combinations) at 10 requests/s.

Prints requests/s achieved and p50/p99 latency per scenario against the targets of issue 5
(customers p99 <= 100 ms at 50/s; insights p99 <= 500 ms at 10/s). ``--warm`` first requests
each insights filter combination once, so the scenario measures cached answers only.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

DATA = Path(__file__).parent / "data"
TARGETS = {"customers": (50, 100.0), "insights": (10, 500.0)}  # rate/s, p99 ms
AS_OF = date(2025, 12, 31)


def build_store(path: Path, customers: int, lines: int) -> None:
    import duckdb

    from segmint.store import SalesStore

    with SalesStore(path).connect() as con:
        pass  # creates the schema
    con = duckdb.connect(str(path))
    con.execute(
        f"""INSERT INTO customers (org, customer_id, name, branch, territory, sales_rep)
            SELECT 'bench', 'C' || i,
                   'Customer ' || lpad(CAST(hash(i, 1) % 1000000 AS VARCHAR), 6, '0'),
                   'B' || (hash(i, 7) % 6), 'T' || (hash(i, 9) % 10), 'R' || (hash(i, 8) % 40)
            FROM range({customers}) r(i)"""
    )
    con.execute(
        f"""INSERT INTO sales_lines (org, document_id, line_no, invoice_date, customer_id,
                                     net_amount, quantity, product_id, brand, branch, sales_rep,
                                     territory)
            SELECT 'bench', 'INV' || (i // 4), CAST(i % 4 + 1 AS INTEGER),
                   DATE '2024-01-01' + CAST(hash(i // 4, 1) % 730 AS INTEGER),
                   'C' || (hash(i // 4, 2) % {customers}),
                   CAST((hash(i, 3) % 200000) / 100.0 - 50 AS DECIMAL(18,2)),
                   CAST(hash(i, 4) % 20 + 1 AS DECIMAL(18,2)),
                   'P' || (hash(i, 5) % 5000), 'Brand' || (hash(i, 6) % 12),
                   'B' || (hash(i // 4, 7) % 6), 'R' || (hash(i // 4, 8) % 40),
                   'T' || (hash(i // 4, 9) % 10)
            FROM range({lines}) r(i)"""
    )
    con.close()


def prepare(customers: int, lines: int) -> tuple[Path, str, int]:
    """The data directory (store and metadata), an admin token and the RFM type's id."""
    from segmint.accounts import access
    from segmint.accounts import service as accounts
    from segmint.metadata.database import Database
    from segmint.metadata.migrate import upgrade
    from segmint.runs.service import start_run
    from segmint.runs.worker import Worker
    from segmint.segments import service as segments
    from segmint.store import SalesStore

    folder = DATA / f"api-{customers}-{lines}"
    store_path = folder / "sales.duckdb"
    if not store_path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        build_store(store_path.with_suffix(".partial"), customers, lines)
        store_path.with_suffix(".partial").rename(store_path)
        print(f"built the store in {time.perf_counter() - started:.1f} s")
    db = Database(f"sqlite:///{folder / 'segmint.sqlite'}")
    upgrade(db)
    with db.session() as session:
        system = accounts.system_actor(session=session, org="bench")
        admin = next(
            (u for u in accounts.list_users(session=session, actor=system) if u.role == "admin"),
            None,
        ) or accounts.create_user(
            session=session, actor=system, email="admin@bench.test", role="admin", password=None
        )
        organization = accounts.get_organization(session=session, slug="bench")
        actor = accounts.actor_for(admin, organization)
        _, token = access.create_token(session=session, actor=actor, name="bench")
        types = {t.name: t for t in segments.list_types(session=session, actor=actor)}
        for name, method in (("Sales", "pareto"), ("Behaviour", "rfm")):
            if name not in types:
                types[name] = segments.create_type(
                    session=session, actor=actor, name=name, method=method
                )
        pending = [t.id for t in types.values() if t.current_run_id is None]
        for type_id in pending:
            start_run(session=session, actor=actor, type_id=type_id, as_of=AS_OF)
        rfm_id = types["Behaviour"].id
    worker = Worker(db=db, store=SalesStore(store_path))
    for _ in pending:
        started = time.perf_counter()
        worker.run_once()
        print(f"ran a type in {time.perf_counter() - started:.1f} s")
    db.dispose()
    return folder, token, rfm_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(folder: Path, port: int, workers: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "SEGMINT_DATA_DIR": str(folder),
        "SEGMINT_PORT": str(port),
        "SEGMINT_WORKER_IN_PROCESS": "false",
        "SEGMINT_WEB_WORKERS": str(workers),
    }
    env.pop("SEGMINT_INSIGHTS_INDEX_MAX_LINES", None)  # the server's default, as deployed
    segmint = Path(sys.executable).with_name("segmint")
    server = subprocess.Popen(
        [str(segmint), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("the server did not start: " + server.stderr.read().decode()[-2000:])


def _process_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of a process and of each of its children (the server processes), from
    /proc."""
    found = {}
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            found[p] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return found


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children, from /proc."""
    return sum(_process_cpu(pid).values())


def settle(server: subprocess.Popen, limit: float = 180.0) -> float:
    """Wait until the server is idle (less than 5 % of a core over a second): what it starts
    in the background (the insights line index of every organization with an RFM type) is
    done before anything is measured. Returns the seconds waited."""
    started = time.monotonic()
    last = _cpu_seconds(server.pid)
    while time.monotonic() - started < limit:
        time.sleep(1.0)
        now = _cpu_seconds(server.pid)
        if now - last < 0.05:
            break
        last = now
    return time.monotonic() - started


def warm_insights(port: int, token: str, rfm_id: int) -> None:
    """Request every filter combination of the insights scenario once, one at a time: what the
    cache holds after users have looked at every territory x brand once. Prints what a cold
    combination costs on an idle server (the cache's miss)."""
    times = []
    for territory in range(10):
        for brand in range(12):
            url = (
                f"http://127.0.0.1:{port}/api/v1/segment-types/{rfm_id}/insights"
                f"?territory=T{territory}&brand=Brand{brand}"
            )
            started = time.perf_counter()
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
            urllib.request.urlopen(request, timeout=120).read()
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(
        f"warmed {len(times)} insights filter combinations: cold request p50 "
        f"{times[len(times) // 2]:.0f} ms, max {times[-1]:.0f} ms"
    )


def load(
    scenario: str, port: int, token: str, rfm_id: int, seconds: int, pages: int, burst: bool
) -> dict:
    rate, _ = TARGETS[scenario]
    prefix = DATA / f"locust-{scenario}"
    env = {
        **os.environ,
        "BENCH_TOKEN": token,
        "BENCH_SCENARIO": scenario,
        "BENCH_RFM_TYPE": str(rfm_id),
        "BENCH_PAGES": str(pages),
        "BENCH_BURST": "1" if burst else "0",
    }
    locust = shutil.which("locust", path=str(Path(sys.executable).parent)) or "locust"
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [
            locust,
            "-f",
            str(Path(__file__).with_name("locustfile.py")),
            "--headless",
            "--users",
            str(rate),
            "--spawn-rate",
            str(rate),
            "--run-time",
            f"{seconds}s",
            "--host",
            f"http://127.0.0.1:{port}",
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        env=env,
        check=False,
    )
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = used.ru_utime + used.ru_stime - children.ru_utime - children.ru_stime
    with open(f"{prefix}_stats.csv") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == scenario)
    return {
        "client_ms": client / max(int(row["Request Count"]), 1) * 1000,
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "rps": float(row["Requests/s"]),
        "p50": float(row["50%"]),
        "p99": float(row["99%"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench api")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--scenarios", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="server processes (SEGMINT_WEB_WORKERS; one per core of this 2-core machine)",
    )
    parser.add_argument(
        "--warm",
        action="store_true",
        help="before the insights scenario, request each of its filter combinations once "
        "(measures cached answers only; without it, about a quarter of the measured requests "
        "are first requests of a combination)",
    )
    parser.add_argument(
        "--burst",
        action="store_true",
        help="every user sends at the same instant each second (locust's constant_throughput "
        "with users started together): the rate as one burst a second, instead of Poisson "
        "arrivals",
    )
    args = parser.parse_args(argv)
    folder, token, rfm_id = prepare(args.customers, args.lines)
    port = free_port()
    server = serve(folder, port, args.workers)
    print(f"server up with {args.workers} worker(s); settled after {settle(server):.0f} s")
    results = {}
    try:
        for scenario in args.scenarios:
            if scenario == "insights" and args.warm:
                warm_insights(port, token, rfm_id)
            # A short warm-up (first connections, DuckDB's caches), then the measured run.
            load(scenario, port, token, rfm_id, 5, args.customers // 50, args.burst)
            before = _process_cpu(server.pid)
            results[scenario] = load(
                scenario, port, token, rfm_id, args.seconds, args.customers // 50, args.burst
            )
            after = _process_cpu(server.pid)
            used = sorted((after[p] - before.get(p, 0.0) for p in after), reverse=True)
            r = results[scenario]
            r["cpu_ms"] = sum(used) / max(r["requests"], 1) * 1000
            r["busiest"] = used[0] / max(sum(used), 1e-9) if used else 0.0
            r["cores"] = sum(used) / args.seconds
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"\nAPI load, {args.customers:,} customers, {args.lines:,} sales lines, "
        f"{args.seconds} s each, {args.workers} server process(es), "
        f"{'one burst a second' if args.burst else 'Poisson arrivals'}"
        f"{', insights cache warmed' if args.warm else ''}"
    )
    print(
        f"{'scenario':<10} {'target':>14} {'achieved/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'failed':>7}  met"
    )
    status = 0
    for scenario, r in results.items():
        rate, p99 = TARGETS[scenario]
        met = r["p99"] <= p99 and r["failures"] == 0 and r["rps"] >= rate * 0.9
        status |= 0 if met else 1
        print(
            f"{scenario:<10} {f'{rate}/s p99<={p99:.0f}':>14} {r['rps']:>11.1f} {r['p50']:>8.0f} "
            f"{r['p99']:>8.0f} {r['failures']:>7}  {'yes' if met else 'NO'} "
            f"(p99 {r['p99'] / p99:.2f}x the target)"
        )
    print(
        "\nCPU: the server's (every process) per request, cores it used, its busiest "
        "process's share; the load generator's (locust) per request"
    )
    for scenario, r in results.items():
        print(
            f"{scenario:<10} server {r['cpu_ms']:>5.1f} ms/request  {r['cores']:.2f} cores  "
            f"busiest process {r['busiest']:.0%}   locust {r['client_ms']:.1f} ms/request"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
