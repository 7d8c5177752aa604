from __future__ import annotations

import re
from pathlib import Path

import pytest

from segmint.errors import ConfigError
from segmint.settings import DEFAULT_SECRET_KEY, Settings

DOCS = Path(__file__).parents[2] / "docs" / "settings.md"


def test_every_setting_is_documented_and_described():
    documented = set(re.findall(r"`SEGMINT_([A-Z_]+)`", DOCS.read_text()))
    fields = {name.upper() for name in Settings.model_fields}
    assert documented == fields
    assert all(f.description for f in Settings.model_fields.values())


def test_defaults_live_in_the_data_directory(tmp_path):
    s = Settings(data_dir=tmp_path, _env_file=None)
    assert s.sales_store_path == tmp_path / "sales.duckdb"
    assert s.metadata_database_url == f"sqlite:///{tmp_path / 'segmint.sqlite'}"


def test_environment_variables_are_read(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMINT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SEGMINT_PORT", "9001")
    s = Settings(_env_file=None)
    assert (s.data_dir, s.port) == (tmp_path, 9001)


@pytest.mark.parametrize("secret", [DEFAULT_SECRET_KEY, "short"])
def test_production_refuses_a_default_or_weak_secret(secret):
    with pytest.raises(ConfigError, match="SEGMINT_SECRET_KEY"):
        Settings(environment="production", secret_key=secret, _env_file=None)


def test_production_accepts_a_real_secret():
    s = Settings(environment="production", secret_key="x" * 40, _env_file=None)
    assert s.environment == "production"
