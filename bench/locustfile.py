"""Locust users for ``python -m bench api``: one scenario per run, chosen by BENCH_SCENARIO.

Each user waits so that it sends one request per second (``constant_throughput(1)``); the
benchmark starts as many users as the target rate, so the offered load is fixed (an open-ish
model: a slow answer does not lower the rate the other users send at).

The users are locust's ``FastHttpUser`` (geventhttpclient): the load generator runs on the same
2 cores as the server, and every millisecond of CPU it spends per request is taken from the
server it measures (``python -m bench api`` prints locust's CPU per request).
"""

from __future__ import annotations

import os
import random

from locust import FastHttpUser, constant_throughput, task

TOKEN = os.environ["BENCH_TOKEN"]
SCENARIO = os.environ["BENCH_SCENARIO"]
RFM_TYPE = os.environ["BENCH_RFM_TYPE"]
PAGES = int(os.environ.get("BENCH_PAGES", "1000"))
TERRITORIES = [f"T{i}" for i in range(10)]
BRANDS = [f"Brand{i}" for i in range(12)]


class ApiUser(FastHttpUser):
    wait_time = constant_throughput(1)
    default_headers = {"Authorization": f"Bearer {TOKEN}"}  # noqa: RUF012 - locust's API

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
