"""Chunk size that fits the model: aim each chunk at TARGET_CHUNK_SECONDS of scoring.

A chunk that takes milliseconds pays the queue's round trip for little work; one that takes seconds holds a
worker away from small jobs and from other keys' turns. Workers record each model's measured seconds per row
(a moving average per model version); a submission sizes its chunks from it, bounded by CHUNK_ROWS_MIN,
CHUNK_ROWS_MAX and MAX_CHUNK_BYTES. A model never measured yet gets CHUNK_ROWS.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis

from shared.keys import key
from shared.settings import Settings

COSTS = key("costs")
"""Hash: model name@version -> seconds per row (a moving average of measured chunks)."""

SMOOTHING = 0.2
"""Weight of the newest chunk in the moving average."""

BYTES_PER_CELL = 8
"""A float64 cell; a string column may take more, which the byte bound then underestimates."""


def model_id(model: Mapping[str, str]) -> str:
    return f"{model['name']}@{model['version']}"


class ChunkSizer:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.redis = client
        self.settings = settings

    def observe(self, model: Mapping[str, str], seconds: float, rows: int) -> None:
        """Fold one scored chunk into the model's seconds per row."""
        if rows <= 0:
            return
        field = model_id(model)
        latest = seconds / rows
        known = self.redis.hget(COSTS, field)
        cost = latest if known is None else (1 - SMOOTHING) * float(known) + SMOOTHING * latest
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(COSTS, field, repr(cost))
            pipe.expire(COSTS, self.settings.result_ttl_seconds)
            pipe.execute()

    def rows_for(self, model: Mapping[str, str], columns: int) -> int:
        """Rows per chunk for a job of `model` with `columns` input columns."""
        settings = self.settings
        if settings.target_chunk_seconds <= 0:
            return settings.chunk_rows
        known = self.redis.hget(COSTS, model_id(model))
        if known is None or float(known) <= 0:
            return settings.chunk_rows
        wanted = int(settings.target_chunk_seconds / float(known))
        by_bytes = settings.max_chunk_bytes // (BYTES_PER_CELL * max(columns, 1))
        return max(settings.chunk_rows_min, min(wanted, settings.chunk_rows_max, by_bytes))


WHOLE_GROUP_CHUNKS = 16
"""A Parquet row group of up to this many MAX_CHUNK_BYTES is read as one chunk rather than split: every part of
a split group reads the whole group."""


def whole_group_rows(settings: Settings, columns: int) -> int:
    """The most rows of a Parquet row group that one chunk takes whole."""
    by_bytes = WHOLE_GROUP_CHUNKS * settings.max_chunk_bytes // (BYTES_PER_CELL * max(columns, 1))
    return max(by_bytes, settings.chunk_rows_max)
