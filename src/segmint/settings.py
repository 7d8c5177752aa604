"""The one settings model. Every field is read from ``SEGMINT_<NAME>`` and documented in
``docs/settings.md`` (a test keeps the two in step)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from segmint.errors import ConfigError

DEFAULT_SECRET_KEY = "dev-insecure-change-me"


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("segmint", appauthor=False))


class Settings(BaseSettings):
    """Segmint's configuration, from the environment (prefix ``SEGMINT_``) or a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="SEGMINT_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development",
        description="`development` allows the built-in secret key; `production` refuses it.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Directory for the sales store, the metadata database, demo files and "
        "import reject reports. Default: the platform's user data directory.",
    )
    metadata_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata database. Default: a SQLite file "
        "`segmint.sqlite` in the data directory. PostgreSQL in production.",
    )
    sales_store: Path | None = Field(
        default=None,
        description="Path of the DuckDB sales store. Default: `sales.duckdb` in the data "
        "directory.",
    )
    host: str = Field(default="127.0.0.1", description="Address the web app listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the web app listens on.")
    secret_key: str = Field(
        default=DEFAULT_SECRET_KEY,
        description="Key that signs session cookies (each webhook endpoint has its own "
        "secret). Must be set to a random value of at least 32 characters outside development.",
    )
    duckdb_memory_limit: str | None = Field(
        default=None,
        description="Memory DuckDB may use before it spills to disk (e.g. `4GB`). Default: "
        "DuckDB's own, 80 % of the machine's memory.",
    )
    duckdb_threads: int | None = Field(
        default=None,
        ge=1,
        description="Threads DuckDB may use. Default: one per core.",
    )
    web_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes that serve the web app and the API (one per core for a busy "
        "server). Each keeps its own caches and, with `worker_in_process`, its own run worker.",
    )
    insights_index_max_lines: int = Field(
        default=20_000_000,
        ge=0,
        description="Organizations with at most this many sales lines get an in-memory line "
        "index (about 34 bytes a line) that answers filtered RFM insights without scanning the "
        "store; 0 turns it off.",
    )
    worker_in_process: bool = Field(
        default=True,
        description="Whether the web app runs a worker thread that computes queued runs. Turn "
        "it off when `segmint worker` processes do that instead.",
    )
    run_lease_seconds: int = Field(
        default=60,
        ge=5,
        description="How long a worker holds a run without a heartbeat; a run whose worker "
        "stopped is marked failed once its lease has expired.",
    )
    runs_kept: int = Field(
        default=12,
        ge=1,
        description="Runs per segment type whose snapshot (every customer's automatic "
        "segment) is kept; older runs keep their summary and history but lose the snapshot.",
    )

    session_hours: float = Field(
        default=12,
        gt=0,
        description="A browser session ends this many hours after login, however active.",
    )
    session_idle_minutes: float = Field(
        default=120,
        gt=0,
        description="A browser session ends after this many minutes without a request.",
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed logins for one e-mail address within `login_window_minutes` "
        "after which that account's logins are refused until the window has passed (an "
        "address gets four times as many, across accounts).",
    )
    login_window_minutes: float = Field(
        default=15, gt=0, description="The window that `login_max_failures` counts in."
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest request body the API accepts (bytes); a larger one gets 413 "
        "before it is read.",
    )

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        weak = self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32
        if self.environment != "development" and weak:
            raise ConfigError(
                "SEGMINT_SECRET_KEY must be set to a random value of at least 32 characters "
                f"when SEGMINT_ENVIRONMENT={self.environment}"
            )
        return self

    @property
    def sales_store_path(self) -> Path:
        return self.sales_store or self.data_dir / "sales.duckdb"

    @property
    def metadata_database_url(self) -> str:
        return self.metadata_url or f"sqlite:///{self.data_dir / 'segmint.sqlite'}"

    @property
    def shared_cache_dir(self) -> Path:
        """Where the server processes of this machine share computed insights
        (``segmint serve --workers N``); emptied when the server starts."""
        return self.data_dir / "cache" / "insights"

    @property
    def rejects_dir(self) -> Path:
        return self.data_dir / "rejects"

    @property
    def demo_dir(self) -> Path:
        return self.data_dir / "demo"
