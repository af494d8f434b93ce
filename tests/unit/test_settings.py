"""Settings from the environment: documented defaults, strict casts, refused combinations."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import Settings, SettingsError


def test_defaults_are_the_documented_ones() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.default_model == "iris"
    assert settings.max_rows == 10_000_000
    assert settings.max_body_bytes == 1 << 30
    assert settings.inline_results_max == 10_000
    assert settings.sync_max_rows == 1_000
    assert settings.result_ttl_seconds == 86_400
    assert settings.max_queued_jobs == 10_000
    assert settings.api_key_set() == frozenset()
    assert settings.callback_hosts() == frozenset()


def test_values_come_from_the_environment() -> None:
    settings = Settings.from_env({"REDIS_URL": "redis://r:1/2", "MODEL_DIR": "/m", "DEFAULT_MODEL": "diabetes",
                                  "CHUNK_ROWS": "500", "MAX_ROWS": "1_000", "INLINE_RESULTS_MAX": "0",
                                  "SYNC_MAX_ROWS": "7", "RESULT_TTL_SECONDS": "60", "MAX_QUEUED_JOBS": "3",
                                  "LOG_LEVEL": "debug"})
    assert (settings.redis_url, settings.model_dir, settings.default_model) == ("redis://r:1/2", "/m", "diabetes")
    assert (settings.chunk_rows, settings.max_rows, settings.inline_results_max) == (500, 1000, 0)
    assert (settings.sync_max_rows, settings.result_ttl_seconds, settings.max_queued_jobs) == (7, 60, 3)
    assert settings.log_level == "debug"


def test_variables_predq_does_not_know_are_ignored() -> None:
    assert Settings.from_env({"PATH": "/bin", "HOME": "/root"}) == Settings.from_env({})


@pytest.mark.parametrize("raw", ["ten", "1.5", "", "1e3", "0x10"])
def test_a_malformed_integer_names_its_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="CHUNK_ROWS"):
        Settings.from_env({"CHUNK_ROWS": raw})


@pytest.mark.parametrize("name", ["CHUNK_ROWS", "MAX_ROWS", "MAX_BODY_BYTES", "SYNC_MAX_ROWS", "RESULT_TTL_SECONDS",
                                  "MAX_QUEUED_JOBS"])
@pytest.mark.parametrize("raw", ["0", "-5"])
def test_a_limit_that_is_not_positive_is_refused(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: raw})


def test_inline_results_max_may_be_zero_but_not_negative() -> None:
    assert Settings.from_env({"INLINE_RESULTS_MAX": "0"}).inline_results_max == 0
    with pytest.raises(SettingsError, match="INLINE_RESULTS_MAX"):
        Settings.from_env({"INLINE_RESULTS_MAX": "-1"})


def test_time_limits_must_leave_room_for_each_other() -> None:
    with pytest.raises(SettingsError, match="CHUNK_SOFT_TIME_LIMIT"):
        Settings.from_env({"CHUNK_SOFT_TIME_LIMIT": "90", "CHUNK_TIME_LIMIT": "90"})
    with pytest.raises(SettingsError, match="VISIBILITY_TIMEOUT"):
        Settings.from_env({"VISIBILITY_TIMEOUT": "300", "CHUNK_TIME_LIMIT": "90"})
    assert Settings.from_env({"VISIBILITY_TIMEOUT": "360", "CHUNK_TIME_LIMIT": "90"}).visibility_timeout == 360


def test_api_keys_come_from_the_list_and_the_file(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("k3\n\n  k4  \n")
    settings = Settings.from_env({"API_KEYS": " k1, k2 ,,", "API_KEYS_FILE": str(keys_file)})
    assert settings.api_key_set() == frozenset({"k1", "k2", "k3", "k4"})


def test_callback_hosts_are_a_lowercase_set() -> None:
    settings = Settings.from_env({"CALLBACK_ALLOWED_HOSTS": "Hooks.Example.com, ,b.example",
                                  "CALLBACK_SECRET": "z" * 32})
    assert settings.callback_hosts() == frozenset({"hooks.example.com", "b.example"})
