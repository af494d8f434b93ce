"""Settings read once from the environment, with the defaults a single machine needs."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from shared.errors import SettingsError

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_CHUNK_ROWS = 10_000
"""Rows per chunk: one Celery task scores one chunk."""

DEFAULT_MAX_BODY_BYTES = 1 << 30
"""A request body larger than this is refused with 413."""


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")
"""LOG_FORMAT: one JSON object per line, or text for a terminal."""


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://localhost:6379/0"
    model_dir: str = str(REPO_ROOT / "models")
    default_model: str = "iris"
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    max_rows: int = 10_000_000
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    inline_results_max: int = 10_000
    sync_max_rows: int = 1_000
    result_ttl_seconds: int = 86_400
    max_queued_jobs: int = 10_000
    max_queued_jobs_per_key: int = 1_000
    max_rows_in_flight_per_key: int = 50_000_000
    rate_limit_per_key: int = 0
    max_held_requests_per_key: int = 8
    max_held_requests: int = 8
    max_uploads: int = 16
    max_json_body_bytes: int = 32 << 20
    body_read_timeout_seconds: int = 10
    body_min_bytes_per_second: int = 16_384
    api_keys: str = ""
    api_keys_file: str = ""
    callback_allowed_hosts: str = ""
    callback_secret: str = ""
    callback_private_hosts: str = ""
    log_level: str = "INFO"
    log_format: str = "json"
    chunk_soft_time_limit: int = 60
    chunk_time_limit: int = 90
    visibility_timeout: int = 3_600
    queue_name: str = "predq"
    worker_concurrency: int = 0
    worker_monitoring: int = 0
    max_chunk_attempts: int = 3
    small_job_rows: int = 10_000
    target_chunk_seconds: float = 0.1
    chunk_rows_min: int = 1_000
    chunk_rows_max: int = 200_000
    max_chunk_bytes: int = 16 << 20
    max_string_bytes: int = 1_024
    model_cache_size: int = 8
    storage_roots: str = ""
    storage_allowed_prefixes: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Build settings from `environ`; a malformed value raises naming its variable."""
        values: dict[str, object] = {}
        for field in fields(cls):
            name = field.name.upper()
            if name not in environ:
                continue
            raw = environ[name]
            values[field.name] = _cast(name, raw, field.type)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse values that cannot work, naming the variable."""
        positive = ("chunk_rows", "max_rows", "max_body_bytes", "sync_max_rows", "result_ttl_seconds",
                    "max_queued_jobs", "max_queued_jobs_per_key", "max_rows_in_flight_per_key",
                    "max_held_requests_per_key", "max_held_requests", "max_uploads", "max_json_body_bytes",
                    "body_read_timeout_seconds", "max_chunk_attempts", "small_job_rows", "chunk_soft_time_limit",
                    "chunk_rows_min", "chunk_rows_max", "max_chunk_bytes", "chunk_time_limit", "visibility_timeout",
                    "max_string_bytes", "model_cache_size")
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name.upper()} must be a positive integer, got {getattr(self, name)}")
        if self.callback_allowed_hosts.strip() and len(self.callback_secret) < 32:
            raise SettingsError("CALLBACK_SECRET must be at least 32 characters when CALLBACK_ALLOWED_HOSTS allows "
                                "callbacks (receivers check signatures with it); e.g. python -c 'import secrets; "
                                "print(secrets.token_hex(32))'")
        if self.body_min_bytes_per_second < 0:
            raise SettingsError("BODY_MIN_BYTES_PER_SECOND must be 0 (no floor) or more")
        if self.rate_limit_per_key < 0:
            raise SettingsError("RATE_LIMIT_PER_KEY must be 0 (no limit) or a number of requests per second")
        if self.worker_concurrency < 0:
            raise SettingsError("WORKER_CONCURRENCY must be 0 (one process per core) or more")
        if self.worker_monitoring not in (0, 1):
            raise SettingsError("WORKER_MONITORING must be 0 (off) or 1 (remote control and task events, for Flower)")
        if self.log_level.upper() not in LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}; got {self.log_level!r}")
        if self.log_format not in LOG_FORMATS:
            raise SettingsError(f"LOG_FORMAT must be json or text; got {self.log_format!r}")
        if self.inline_results_max < 0:
            raise SettingsError("INLINE_RESULTS_MAX must be 0 or more")
        if self.chunk_rows_min > self.chunk_rows_max:
            raise SettingsError("CHUNK_ROWS_MIN must not be above CHUNK_ROWS_MAX")
        if self.chunk_soft_time_limit >= self.chunk_time_limit:
            raise SettingsError("CHUNK_SOFT_TIME_LIMIT must be below CHUNK_TIME_LIMIT")
        if self.visibility_timeout < 4 * self.chunk_time_limit:
            raise SettingsError(
                f"VISIBILITY_TIMEOUT ({self.visibility_timeout}s) must be at least four times "
                f"CHUNK_TIME_LIMIT ({self.chunk_time_limit}s), or long chunks would be delivered twice")

    def api_key_set(self) -> frozenset[str]:
        """Every configured API key, from API_KEYS and the lines of API_KEYS_FILE."""
        keys = {k.strip() for k in self.api_keys.split(",")}
        if self.api_keys_file:
            keys |= {line.strip() for line in Path(self.api_keys_file).read_text().splitlines()}
        return frozenset(k for k in keys if k)

    def private_callback_hosts(self) -> frozenset[str]:
        """Callback hosts allowed to resolve to loopback, private or link-local addresses."""
        return frozenset(h.strip().lower() for h in self.callback_private_hosts.split(",") if h.strip())

    def callback_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.callback_allowed_hosts.split(",") if h.strip())


def _cast(name: str, raw: str, kind: object) -> object:
    if kind in (int, "int"):
        try:
            return int(raw.replace("_", ""))
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if kind in (float, "float"):
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {raw!r}") from None
        if not math.isfinite(value) or value < 0:
            raise SettingsError(f"{name} must be a finite number, 0 or more, got {raw!r}")
        return value
    return raw
