"""Locust users for ``python -m bench api``: one scenario per run, chosen by BENCH_SCENARIO.

Each user sends one request per second on average, the gaps between the starts of its requests
drawn from an exponential distribution (:func:`poisson_pacing`), and starts at a random moment
of the first second; the benchmark
starts as many users as the target rate, so requests arrive as a Poisson process at that rate,
as independent clients' requests do. (``constant_throughput(1)``, used before, fired every
user's request in the same instant each second, since locust starts users in one batch: a burst
of 50 simultaneous requests once a second, not 50 requests per second; ``--burst`` keeps it.)

The users are locust's ``FastHttpUser`` (geventhttpclient): the load generator runs on the same
2 cores as the server, and every millisecond of CPU it spends per request is taken from the
server it measures (``python -m bench api`` prints locust's CPU per request).
"""

from __future__ import annotations

import os
import random
import time

import gevent
from locust import FastHttpUser, constant_throughput, task

TOKEN = os.environ["BENCH_TOKEN"]
SCENARIO = os.environ["BENCH_SCENARIO"]
RFM_TYPE = os.environ["BENCH_RFM_TYPE"]
PAGES = int(os.environ.get("BENCH_PAGES", "1000"))
TERRITORIES = [f"T{i}" for i in range(10)]
BRANDS = [f"Brand{i}" for i in range(12)]


BURST = os.environ.get("BENCH_BURST") == "1"


def poisson_pacing(rate: float):
    """Gaps between the *starts* of a user's requests drawn from an exponential distribution
    of mean ``1 / rate`` (the time a request took is subtracted from the wait, as
    ``constant_throughput`` does), so the offered rate does not drop as answers slow down."""

    def wait_time(user: FastHttpUser) -> float:
        now = time.perf_counter()
        took = now - getattr(user, "_resumed", now)
        wait = max(0.0, random.expovariate(rate) - took)
        user._resumed = now + wait  # type: ignore[attr-defined]
        return wait

    return wait_time


class ApiUser(FastHttpUser):
    wait_time = constant_throughput(1) if BURST else poisson_pacing(1)
    default_headers = {"Authorization": f"Bearer {TOKEN}"}  # noqa: RUF012 - locust's API

    def on_start(self) -> None:
        if not BURST:
            gevent.sleep(random.random())  # users start spread over a second, not all at once

    @task
    def request(self) -> None:
        if SCENARIO == "customers":
            offset = random.randrange(PAGES) * 50
            self.client.get(
                f"/api/v1/customers?limit=50&offset={offset}&sort=name", name="customers"
            )
        else:
            territory, brand = random.choice(TERRITORIES), random.choice(BRANDS)
            self.client.get(
                f"/api/v1/segment-types/{RFM_TYPE}/insights?territory={territory}&brand={brand}",
                name="insights",
            )
