"""`Client`: submit batches, wait for jobs, download results, over the predq HTTP API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from predq_client.bodies import Body, body_of
from predq_client.errors import UnexpectedAnswerError, WaitTimeoutError
from predq_client.resources import Job
from predq_client.transport import (
    DEFAULT_RETRY_SECONDS,
    Request,
    RetryPolicy,
    Transport,
    json_of,
    retry_after_seconds,
)
from predq_client.writers import atomic_path, columns_for, open_writer, output_format

UploadCallback = Callable[[int, int | None], None]
"""Called as an upload goes: (bytes sent so far, total bytes or None when unknown)."""

ProgressCallback = Callable[[Job], None]
"""Called with the job resource after every poll."""

RESULTS_PAGE_ROWS = 20_000
"""Rows per results page: a broken download resumes from the start of the page it was reading."""

LONG_POLL_MAX_SECONDS = 30.0
"""The longest `?wait=` the service honours."""

PROGRESS_POLL_SECONDS = 2.0
"""How often `wait` reports progress when given a callback (unless the service asks for longer)."""


class Client:
    """The predq API at `url`; `api_key` is sent as a bearer token when given.

    Every call retries 429 and 503 answers after their `Retry-After`, and moments when the service
    cannot be reached, for up to `retry_seconds`; past that it raises (see `predq_client.errors`).
    """

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 60.0,
                 retry_seconds: float = DEFAULT_RETRY_SECONDS, transport: httpx.BaseTransport | None = None,
                 retry: RetryPolicy | None = None) -> None:
        from predq_client import __version__

        self.url = url.rstrip("/")
        self._timeout = timeout
        self._retry = retry or RetryPolicy(deadline_seconds=retry_seconds)
        self._http = Transport(self.url, api_key, timeout=timeout, retry=self._retry, transport=transport,
                               user_agent=f"predq-client/{__version__}")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ submitting
    def submit(self, data: Any, *, model: str | None = None, version: str | int | None = None,
               method: str | None = None, format: str | None = None, metadata: dict[str, Any] | None = None,
               passthrough: list[str] | None = None, callback_url: str | None = None,
               idempotency_key: str | None = None, idempotent: bool = True, dry_run: bool = False,
               on_upload: UploadCallback | None = None) -> Job:
        """Upload a batch and return the accepted job (status `queued`).

        `data` is a file path (format from its extension), bytes or an iterator of bytes (name the
        `format`: csv, ndjson, parquet or json), a pyarrow or pandas table (sent as Parquet), or rows
        (lists or dicts, sent as NDJSON). The body streams; an Idempotency-Key (made here unless given)
        makes a retried upload answer with the same job instead of a second one. With `dry_run`, the
        service only validates and the answer is `{"valid": true, "rows": N}` in `Job.raw`.
        `idempotent=False` sends no key (the service then skips hashing the body, as a benchmark may
        want), and the upload is retried only when it never reached the service.
        """
        body = body_of(data, format)
        params = _without_none({"model": model, "version": None if version is None else str(version),
                                "method": method, "callback_url": callback_url,
                                "metadata": None if metadata is None else json.dumps(metadata),
                                "passthrough": ",".join(passthrough) if passthrough else None,
                                "dry_run": "true" if dry_run else None})
        headers = {"Content-Type": body.content_type}
        keyed = idempotent and not dry_run  # a dry run makes no job, so there is nothing for a key to guard
        if keyed:
            headers["Idempotency-Key"] = idempotency_key or uuid.uuid4().hex
        if body.length is not None:
            headers["Content-Length"] = str(body.length)
        answer = self._http.send(Request("POST", "/jobs", params=params, content=_counting(body, on_upload),
                                         headers=headers, replayable=keyed or dry_run))
        doc = json_of(answer)
        return Job.from_json(doc) if "job_id" in doc else _dry_run_job(doc)

    def submit_uri(self, input_uri: str, *, format: str | None = None, output_uri: str | None = None,
                   model: str | None = None, version: str | int | None = None, method: str | None = None,
                   metadata: dict[str, Any] | None = None, passthrough: list[str] | None = None,
                   idempotency_key: str | None = None) -> Job:
        """Submit a job by reference: the service reads `input_uri` (and writes Parquet to `output_uri`)."""
        doc = _without_none({"input": _without_none({"uri": input_uri, "format": format}),
                             "output": {"uri": output_uri} if output_uri else None, "model": model,
                             "version": None if version is None else str(version), "method": method,
                             "metadata": metadata, "passthrough": passthrough})
        raw = json.dumps(doc).encode()
        answer = self._http.send(Request("POST", "/jobs", content=lambda: raw, headers={
            "Content-Type": "application/json", "Idempotency-Key": idempotency_key or uuid.uuid4().hex}))
        return Job.from_json(json_of(answer))

    # ------------------------------------------------------------------ jobs
    def job(self, job_id: str) -> Job:
        """The job's resource as it stands."""
        return Job.from_json(self._http.document(Request("GET", job_path(job_id))))

    def wait(self, job_id: str, *, timeout: float | None = None, on_progress: ProgressCallback | None = None,
             poll_seconds: float | None = None) -> Job:
        """Long-poll until the job is terminal; its final resource. WaitTimeoutError after `timeout` seconds.

        Each poll is held by the service (`?wait=`) for `poll_seconds` (30 s, or 2 s with `on_progress`),
        or for the job's `Retry-After` when that is longer: it answers at once when the job ends.
        """
        deadline = None if timeout is None else self._retry.clock() + timeout
        default_hold = poll_seconds if poll_seconds is not None else (PROGRESS_POLL_SECONDS if on_progress else
                                                                      LONG_POLL_MAX_SECONDS)
        hold = default_hold
        while True:
            left = None if deadline is None else max(0.0, deadline - self._retry.clock())
            seconds = min(hold, LONG_POLL_MAX_SECONDS, left if left is not None else LONG_POLL_MAX_SECONDS)
            answer = self._http.send(Request("GET", job_path(job_id), params={"wait": f"{seconds:g}"},
                                             timeout=seconds + self._timeout))
            job = Job.from_json(json_of(answer))
            if on_progress is not None:
                on_progress(job)
            if job.terminal:
                return job
            if left is not None and left <= 0:
                raise WaitTimeoutError(f"job {job_id} is still {job.status} after {timeout:g}s")
            asked = retry_after_seconds(answer, 1) if "Retry-After" in answer.headers else 0.0
            hold = max(default_hold, asked)  # never sooner than the service asks; held, not slept

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job; its resource. ConflictError when it had already ended."""
        return Job.from_json(self._http.document(Request("DELETE", job_path(job_id), replayable=False)))

    def jobs(self, status: str | None = None, limit: int | None = None) -> Iterator[Job]:
        """The caller's jobs, newest first, across pages; at most `limit` of them."""
        path: str | None = "/jobs"
        params: dict[str, Any] | None = _without_none({"status": status, "limit": min(limit, 500) if limit else None})
        count = 0
        while path is not None:
            page = self._http.document(Request("GET", path, params=params))
            for doc in listed(page, "jobs"):
                if limit is not None and count >= limit:
                    return
                count += 1
                yield Job.from_json(doc)
            path, params = page.get("next"), None  # `next` carries every parameter

    def models(self) -> list[dict[str, Any]]:
        """Every model the service serves (its latest version each), as `GET /models` lists them."""
        models: list[dict[str, Any]] = listed(self._http.document(Request("GET", "/models")), "models")
        return models

    def model(self, name: str) -> dict[str, Any]:
        """One model's latest entry plus `versions`; NotFoundError when the service has no such model."""
        entry: dict[str, Any] = self._http.document(Request("GET", f"/models/{quote(name, safe='')}"))
        return entry

    # ------------------------------------------------------------------ results
    def results(self, job_id: str, *, start: int = 0, page_rows: int = RESULTS_PAGE_ROWS) -> Iterator[Any]:
        """Every result of a succeeded job from row `start`, in order; a page cut short is fetched again."""
        for page in self._pages(job_id, start, page_rows):
            yield from page["results"]

    def write_results(self, job_id: str, path: str | Path, *, format: str | None = None,
                      on_rows: Callable[[int, int], None] | None = None,
                      page_rows: int = RESULTS_PAGE_ROWS) -> int:
        """Write every result to `path` (csv, ndjson or parquet; from its extension unless `format` says).

        The file appears under its name only when complete: it is written beside it under a
        temporary name and renamed at the end. `on_rows(rows written, rows in all)` reports progress.
        Returns the rows written.
        """
        final = Path(path)
        fmt = output_format(final, format)
        job = self.job(job_id)
        written = 0
        with atomic_path(final) as temporary:
            writer = None
            try:
                for page in self._pages(job_id, 0, page_rows):
                    values = page["results"]
                    if writer is None and values:
                        writer = open_writer(temporary, fmt, columns_for(job.method, page.get("classes"), values[0]))
                    if writer is not None:
                        writer.write(values)
                    written += len(values)
                    if on_rows is not None:
                        on_rows(written, int(page.get("total", job.rows)))
            finally:
                if writer is not None:
                    writer.close()
        return written

    def _pages(self, job_id: str, start: int, page_rows: int) -> Iterator[dict[str, Any]]:
        """Result pages by offset: each is one request, retried whole, so a broken download resumes there."""
        offset = start
        while True:
            page: dict[str, Any] = self._http.document(Request(
                "GET", job_path(job_id, "/results"), params={"offset": offset, "limit": page_rows}))
            listed(page, "results")  # a page without its rows is not a results page
            yield page
            offset += len(page["results"])
            if page.get("next") is None or not page["results"]:
                return


def listed(doc: Any, key: str) -> list[Any]:
    """`doc[key]`, a list, as the contract promises; UnexpectedAnswerError otherwise."""
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, list):
        raise UnexpectedAnswerError(f"the service's answer has no {key!r} list: {str(doc)[:200]}")
    return value


def job_path(job_id: str, tail: str = "") -> str:
    """The job's path; the id is quoted, so no id can reach another route."""
    return f"/jobs/{quote(job_id, safe='')}{tail}"


def _counting(body: Body, on_upload: UploadCallback | None) -> Callable[[], Iterator[bytes]]:
    """The body's chunks, reporting the bytes sent of each attempt to `on_upload`."""
    def chunks() -> Iterator[bytes]:
        sent = 0
        for piece in body.chunks():
            sent += len(piece)
            yield piece
            if on_upload is not None:
                on_upload(sent, body.length)
    return chunks


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _dry_run_job(doc: dict[str, Any]) -> Job:
    from predq_client.resources import Progress

    rows = int(doc.get("rows", 0))
    return Job(job_id="", status="valid" if doc.get("valid") else "invalid", rows=rows, method="",
               progress=Progress(rows_total=rows), raw=doc)


