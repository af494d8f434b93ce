"""GET /jobs?status= reads a bounded number of jobs per request, whatever the key holds; the `next` link
goes on from where the scan stopped, so no job is skipped or shown twice."""

from __future__ import annotations

import pytest
import redis

from shared import store as store_module
from shared.job import JobStatus
from shared.store import JobStore
from tests.unit.helpers import created

SCAN_CAP = 200
"""The cap, lowered for the test (one Redis batch), so a few hundred jobs show the bound."""


class CountingRedis:
    """The store's Redis, counting the job records it reads (HGETALL), pipelined or not."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.records_read = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.client, name)

    def pipeline(self, *args: object, **kwargs: object) -> object:
        pipe = self.client.pipeline(*args, **kwargs)  # type: ignore[arg-type]
        counter = self

        class Counted:
            def __enter__(self) -> Counted:
                pipe.__enter__()
                return self

            def __exit__(self, *exc: object) -> None:
                pipe.__exit__(*exc)  # type: ignore[arg-type]

            def hgetall(self, name: str) -> object:
                counter.records_read += 1
                return pipe.hgetall(name)

            def __getattr__(self, name: str) -> object:
                return getattr(pipe, name)

        return Counted()


def test_a_status_few_jobs_have_is_listed_in_pages_that_each_read_a_bounded_number_of_jobs(
        any_store: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MAX_SCANNED_PER_PAGE", SCAN_CAP)
    rare = created(any_store, rows=1)
    any_store.cancel(rare)
    queued = [created(any_store, rows=1).job_id for _ in range(3 * SCAN_CAP)]
    counting = CountingRedis(any_store.redis)
    any_store.redis = counting  # type: ignore[assignment]
    seen, cursor, pages = [], None, 0
    while True:
        counting.records_read = 0
        page = any_store.list_jobs("alice", JobStatus.CANCELLED, 50, cursor)
        assert counting.records_read <= SCAN_CAP + 200  # the cap plus at most one batch past it
        pages += 1
        seen.extend(j.job_id for j in page.jobs)
        if page.cursor is None:
            break
        cursor = float(page.cursor)
    assert seen == [rare.job_id]
    assert pages >= len(queued) // SCAN_CAP  # the scan went on across pages, empty ones first
