import pytest

from lmscape.config import load_settings
from lmscape.errors import ConfigError


def test_defaults_live_under_home(lmscape_home):
    settings = load_settings()
    assert settings.home == lmscape_home
    assert settings.db_url == f"sqlite:///{lmscape_home / 'lmscape.db'}"
    assert settings.hardware_usd_per_hour == 0.10
    assert settings.cpu_tdp_watts > 0


def test_bad_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("LMSCAPE_GRID_GCO2_PER_KWH", "lots")
    with pytest.raises(ConfigError, match="LMSCAPE_GRID_GCO2_PER_KWH"):
        load_settings()


def test_negative_price_is_rejected(monkeypatch):
    monkeypatch.setenv("LMSCAPE_HARDWARE_USD_PER_HOUR", "-1")
    with pytest.raises(ConfigError, match="hardware_usd_per_hour"):
        load_settings()
