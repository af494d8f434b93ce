"""The Redis job store: job records, input chunks, results and listings."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, cast

import numpy as np
import orjson
import pyarrow as pa
import redis
from redis.client import Pipeline

from shared import scripts
from shared.codecs import array_table, decode_table, encode_table
from shared.errors import JobNotFoundError, UnavailableError
from shared.job import Job, JobStatus
from shared.keys import key
from shared.outputs import result_table
from shared.transitions import ChunkFinish, ChunkStart, Ending, EndVerdict

JOB_ID = re.compile(r"[0-9a-f]{32}")
"""128 random bits in hex; anything else names no job."""

ACTIVE = key("active")
"""Jobs not yet terminal, scored by creation time: the backpressure count."""


def new_job_id() -> str:
    return secrets.token_hex(16)


def job_key(job_id: str) -> str:
    return key("job", job_id)


def input_key(job_id: str, index: int) -> str:
    return key("job", job_id, "in", index)


def result_key(job_id: str, index: int) -> str:
    return key("job", job_id, "out", index)


def done_key(job_id: str) -> str:
    return key("job", job_id, "done")


def plan_key(job_id: str) -> str:
    """Hash: chunk index -> where a job by reference finds that chunk's rows in storage."""
    return key("job", job_id, "plan")


def owner_key(owner: str) -> str:
    return key("owner", owner, "jobs")


Rows: TypeAlias = "np.ndarray | pa.Table | pa.RecordBatch"
"""A validated block of rows: a float64 array (all-number models), or typed columns."""


def _nothing(_chunks: int) -> None:
    pass


class ChunkWriter:
    """Cuts a stream of row blocks into chunks of exactly `chunk_rows` rows and stores each at once."""

    def __init__(self, store: JobStore, job_id: str, chunk_rows: int, names: list[str] | None = None,
                 before_store: Callable[[int], None] = _nothing, after_store: Callable[[int], None] = _nothing,
                 ) -> None:
        self.store = store
        self.job_id = job_id
        self.chunk_rows = chunk_rows
        self.names = names
        """The columns of float64 array blocks (the all-number fast path)."""
        self.before_store = before_store
        """Told the number of chunks stored once the next write lands, before it is made."""
        self.after_store = after_store
        """Told the number of chunks stored, once they are."""
        self.rows = 0
        self.chunks = 0
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def add(self, X: Rows) -> None:
        self._pending.append(as_table(X, self.names))
        self._pending_rows += len(X)
        self.rows += len(X)
        if self._pending_rows >= self.chunk_rows:
            self._flush(final=False)

    def finish(self) -> None:
        self._flush(final=True)

    def abort(self) -> None:
        """Delete every chunk stored so far: a refused batch leaves nothing behind."""
        self.store.drop_inputs(self.job_id, self.chunks)

    def _flush(self, final: bool) -> None:
        if not self._pending_rows:
            return
        rows = pa.concat_tables(self._pending) if len(self._pending) > 1 else self._pending[0]
        whole = len(rows) if final else len(rows) - len(rows) % self.chunk_rows
        chunks = [rows.slice(i, self.chunk_rows) for i in range(0, whole, self.chunk_rows)]
        first = self.chunks
        self.chunks += len(chunks)  # counted first, so abort() also drops a write that failed halfway
        self.before_store(self.chunks)
        self.store.put_inputs(self.job_id, first, chunks)
        self.after_store(self.chunks)
        rest = rows.slice(whole)
        self._pending = [rest] if len(rest) else []
        self._pending_rows = len(rest)


def as_table(X: Rows, names: list[str] | None) -> pa.Table:
    """A block of rows as a table (an array's columns named `names`)."""
    if isinstance(X, np.ndarray):
        return array_table(X, names)
    return X if isinstance(X, pa.Table) else pa.Table.from_batches([X])


class PartReader(Protocol):
    def read(self, job: Job, index: int) -> pa.Table | None: ...


class _NoParts:
    def read(self, job: Job, index: int) -> pa.Table | None:
        raise UnavailableError(f"job {job.job_id} wrote its results to storage, which this process cannot read")


@dataclass(frozen=True)
class Page:
    jobs: list[Job]
    cursor: str | None


MAX_SCANNED_PER_PAGE = 1_000
"""GET /jobs reads at most this many of a key's jobs (beyond the page itself) per request: with ?status= a
status few jobs have would otherwise read every job the key has. The page then ends early, maybe empty,
with a `next` link that goes on from where the scan stopped."""


class JobStore:
    """Every read and write of job state; the only module that knows the job keys' layout."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, parts: PartReader | None = None) -> None:
        self.redis = client
        self.ttl = ttl_seconds
        self.parts = parts or _NoParts()
        """Reads the results that jobs by reference write to storage."""
        self._create = client.register_script(scripts.CREATE_JOB)
        self._start = client.register_script(scripts.START_CHUNK)
        self._finish = client.register_script(scripts.FINISH_CHUNK)
        self._end = client.register_script(scripts.END_JOB)

    # ---------------------------------------------------------------- creating
    def create(self, job: Job, X: Rows, max_active: int) -> None:
        """Store the input chunks, then the record; refuse (503) past `max_active` live jobs."""
        self.check_capacity(max_active)
        writer = ChunkWriter(self, job.job_id, job.chunk_rows)
        writer.add(X)
        writer.finish()
        self.create_record(job, max_active)

    def put_inputs(self, job_id: str, first_index: int, chunks: list[pa.Table]) -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            for offset, chunk in enumerate(chunks):
                pipe.set(input_key(job_id, first_index + offset), encode_table(chunk), ex=self.ttl)
            pipe.execute()

    def put_plan(self, job_id: str, segments: list[dict[str, Any]]) -> None:
        """Where each chunk of a job by reference lies in storage: the job's only per-chunk data in Redis."""
        with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(segments), 1000):
                part = segments[start : start + 1000]
                pipe.hset(plan_key(job_id), mapping={start + i: orjson.dumps(s) for i, s in enumerate(part)})
            pipe.expire(plan_key(job_id), self.ttl)
            pipe.execute()

    def plan_segment(self, job_id: str, index: int) -> dict[str, Any] | None:
        raw = cast(bytes | None, self.redis.hget(plan_key(job_id), str(index)))
        return None if raw is None else cast(dict[str, Any], orjson.loads(raw))

    def drop_plan(self, job_id: str) -> None:
        self.redis.delete(plan_key(job_id))

    def drop_inputs(self, job_id: str, chunks: int) -> None:
        if chunks:
            self.redis.delete(*(input_key(job_id, i) for i in range(chunks)))

    def create_record(self, job: Job, max_active: int, also: Callable[[Pipeline], None] | None = None) -> None:
        """Write the record of a job whose chunks are stored; refuse (503, dropping them) when full.

        `also` adds commands to the same transaction: what must happen if and only if the record is written
        (a bulk job's place in the fair scheduler), so that no process dying in between strands the job."""
        fields = [item for pair in job.to_hash().items() for item in pair]
        keys = [job_key(job.job_id), *self.listing_keys(job.owner)]
        args = [job.job_id, int(time.time() * 1e6), self.ttl, max_active, *fields]
        if also is None:
            created = self._create(keys=keys, args=args)
        else:
            with self.redis.pipeline(transaction=True) as pipe:
                self._create(keys=keys, args=args, client=pipe)
                also(pipe)
                created = pipe.execute()[0]
        if not created:
            self.drop_inputs(job.job_id, job.chunks_total)
            raise self.queue_full(max_active)

    def check_capacity(self, max_active: int) -> None:
        if self.redis.zcard(ACTIVE) >= max_active:
            raise self.queue_full(max_active)

    @staticmethod
    def queue_full(max_active: int) -> UnavailableError:
        return UnavailableError(f"the queue holds {max_active} unfinished jobs (MAX_QUEUED_JOBS); retry later",
                                retry_after=5)

    # ---------------------------------------------------------------- reading
    def find(self, job_id: str) -> Job | None:
        """The job, unless there is none or it is not accepted yet (its body is still being read)."""
        fields = cast(dict[bytes, bytes], self.redis.hgetall(job_key(job_id)))
        return Job.from_hash(fields) if fields and b"hidden" not in fields else None

    def record(self, job_id: str) -> Job:
        """The job as workers see it: accepted, or still hidden while its body is read."""
        fields = cast(dict[bytes, bytes], self.redis.hgetall(job_key(job_id)))
        if not fields:
            raise JobNotFoundError(f"no job {job_id}")
        return Job.from_hash(fields)

    def listing_keys(self, owner: str) -> list[str]:
        """What a job's acceptance writes besides its record: the owner's listing, the active set, the order."""
        return [owner_key(owner), ACTIVE, key("order")]

    def active_job_ids(self, start: int = 0, count: int | None = None) -> list[str]:
        """Jobs not yet terminal, oldest first: all of them, or `count` from rank `start`."""
        stop = -1 if count is None else start + count - 1
        return [m.decode() for m in cast(list[bytes], self.redis.zrange(ACTIVE, start, stop))]

    def forget_active(self, job_id: str) -> None:
        self.redis.zrem(ACTIVE, job_id)

    def input_exists(self, job_id: str, index: int) -> bool:
        return bool(self.redis.exists(input_key(job_id, index)))

    def get(self, job_id: str, owner: str | None = None) -> Job:
        """The job, or JobNotFoundError (also when it belongs to another owner)."""
        if not JOB_ID.fullmatch(job_id):
            raise JobNotFoundError(f"no job {job_id[:64]!r}")
        job = self.find(job_id)
        if job is None:
            raise JobNotFoundError(f"no job {job_id}")
        if owner is not None and job.owner != owner:
            raise JobNotFoundError(f"no job {job_id}")
        return job

    def wait(self, job_id: str, owner: str | None, seconds: float) -> Job:
        """The job once terminal, or as it stands after `seconds`."""
        deadline = time.monotonic() + seconds
        pause = 0.002
        job = self.get(job_id, owner)
        status = job.status
        while not status.terminal and time.monotonic() < deadline:
            time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
            pause = min(pause * 1.3, 0.02)
            raw = cast(bytes | None, self.redis.hget(job_key(job_id), "status"))  # one field per poll, not all
            if raw is None:
                raise JobNotFoundError(f"no job {job_id}")
            status = JobStatus(raw.decode())
        return job if status is job.status else self.get(job_id, owner)

    def done_chunks(self, job_id: str) -> set[int]:
        return {int(i) for i in self.redis.smembers(done_key(job_id))}

    def read_input(self, job_id: str, index: int) -> pa.Table | None:
        data = cast(bytes | None, self.redis.get(input_key(job_id, index)))
        return None if data is None else decode_table(data)

    def read_results(self, job: Job, start: int, stop: int) -> Iterator[pa.Table]:
        """Result rows [start, stop) of a job, one table per chunk they span."""
        if stop <= start:
            return
        for index in range(job.chunk_of(start), job.chunk_of(stop - 1) + 1):
            first = job.chunk_bounds(index)[0]
            skip = max(start - first, 0)
            yield self.read_chunk_result(job, index).slice(skip, stop - first - skip)

    def read_chunk_result(self, job: Job, index: int) -> pa.Table:
        found = self.find_chunk_result(job, index)
        if found is None:
            raise UnavailableError(f"the results of job {job.job_id} are no longer in Redis")
        return found

    def find_chunk_result(self, job: Job, index: int) -> pa.Table | None:
        if job.output is not None:
            return self.parts.read(job, index)
        data = cast(bytes | None, self.redis.get(result_key(job.job_id, index)))
        return None if data is None else decode_table(data)

    def chunk_is_done(self, job_id: str, index: int) -> bool:
        return bool(self.redis.sismember(done_key(job_id), str(index)))

    def list_jobs(self, owner: str, status: JobStatus | None, limit: int, cursor: float | None) -> Page:
        """The owner's jobs, newest first, after `cursor` (an order score)."""
        found: list[Job] = []
        listing = owner_key(owner)
        top: float | str = f"({cursor!r}" if cursor is not None else "+inf"
        scanned, last = 0, 0.0
        while len(found) <= limit:
            if scanned >= MAX_SCANNED_PER_PAGE:  # a rare status: end the page here, the next link goes on
                return Page(found, repr(last))
            batch = cast(list[tuple[bytes, float]],
                         self.redis.zrevrangebyscore(listing, top, "-inf", start=0, num=200, withscores=True))
            if not batch:
                break
            scanned += len(batch)
            found.extend(self._jobs_in(listing, batch, status, limit + 1 - len(found)))
            last = batch[-1][1]
            top = f"({last!r}"
        jobs = found[:limit]
        more = len(found) > limit
        return Page(jobs, self._order_of(listing, jobs[-1].job_id) if more and jobs else None)

    def _jobs_in(self, listing: str, batch: list[tuple[bytes, float]], status: JobStatus | None,
                 want: int) -> list[Job]:
        with self.redis.pipeline(transaction=False) as pipe:
            for member, _ in batch:
                pipe.hgetall(job_key(member.decode()))
            records = cast(list[dict[bytes, bytes]], pipe.execute())
        jobs, gone = [], []
        for (member, _), fields in zip(batch, records, strict=True):
            if not fields:
                gone.append(member)
                continue
            job = Job.from_hash(fields)
            if status is None or job.status is status:
                jobs.append(job)
        if gone:
            self.redis.zrem(listing, *gone)
        return jobs[:want]

    def _order_of(self, listing: str, job_id: str) -> str | None:
        score = self.redis.zscore(listing, job_id)
        return None if score is None else repr(score)

    def active_count(self) -> int:
        return int(self.redis.zcard(ACTIVE))

    # ---------------------------------------------------------------- chunk transitions
    def start_chunk(self, job_id: str, index: int, max_attempts: int, now: float | None = None) -> ChunkStart:
        """Whether chunk `index` should be scored now, counting the attempt; POISON past `max_attempts`.
        The start that moves the job to running stamps `now` (default: the time of the call) as its started_at."""
        stamp = repr(time.time() if now is None else now)
        answer = self._start(keys=[job_key(job_id), done_key(job_id)], args=[index, stamp, max_attempts])
        return ChunkStart(_text(answer))

    def finish_chunk(self, job: Job, index: int, result: pa.Table | np.ndarray) -> ChunkFinish:
        """Record a chunk's result once; FINISHED when it was the job's last chunk."""
        if isinstance(result, np.ndarray):
            result = result_table(job.method, result, job.classes)
        keys = [job_key(job.job_id), done_key(job.job_id), result_key(job.job_id, index),
                input_key(job.job_id, index), ACTIVE]
        kept = memoryview(b"") if job.output is not None else encode_table(result)  # written to storage already
        args: list[str | bytes | memoryview | int] = [index, len(result), kept, repr(time.time()), self.ttl, job.job_id]
        answer = self._finish(keys=keys, args=args)
        return ChunkFinish(_text(answer))

    def end_job(self, job_id: str, status: JobStatus, error: dict[str, object] | None = None,
                now: float | None = None) -> Ending:
        """Move a live job to a terminal `status` (once, whoever else tries), stamped `now` (default: the call's
        time)."""
        stamp = repr(time.time() if now is None else now)
        args: list[str | bytes] = [status.value, stamp, orjson.dumps(error) if error else "", job_id]
        verdict, *after = (_text(part) for part in self._end(keys=[job_key(job_id), ACTIVE], args=args))
        return Ending(EndVerdict(verdict), JobStatus(after[0]) if after else None)

    def record_callback(self, job_id: str, attempt: dict[str, object]) -> None:
        """Append one delivery attempt to the job's `callbacks` (one deliverer per job at a time)."""
        raw = cast(bytes | None, self.redis.hget(job_key(job_id), "callbacks"))
        attempts = orjson.loads(raw) if raw else []
        attempts.append(attempt)
        self.redis.hset(job_key(job_id), "callbacks", orjson.dumps(attempts))

    def cancel(self, job: Job) -> Ending:
        """Cancel a live job and drop its data."""
        ending = self.end_job(job.job_id, JobStatus.CANCELLED)
        if ending.by_this_call:
            self._drop_data(job)
        return ending

    def discard(self, job: Job) -> None:
        """Remove every trace of a job whose submission was refused after it was stored.

        Only deletions, each on its own (a full Redis refuses a whole MULTI, deletions included): the
        record first, so a worker holding one of its chunks finds the job gone."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(job_key(job.job_id), done_key(job.job_id))
            pipe.zrem(owner_key(job.owner), job.job_id)
            pipe.zrem(ACTIVE, job.job_id)
            pipe.execute()
        self._drop_data(job)

    def _drop_data(self, job: Job) -> None:
        chunks = range(job.chunks_total)
        self.redis.delete(*(input_key(job.job_id, i) for i in chunks), *(result_key(job.job_id, i) for i in chunks),
                          plan_key(job.job_id))


def _text(answer: Any) -> str:
    """A Lua script's string answer, which redis-py hands back as bytes."""
    return answer.decode() if isinstance(answer, bytes) else str(answer)
