"""What each atomic store transition answers: typed outcomes, decided by the Lua scripts in `shared.scripts`."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from shared.job import JobStatus


class ChunkStart(enum.Enum):
    """START_CHUNK's verdict on a delivery of one chunk."""

    RUN = "run"
    """Score it now (the job is running from here on)."""
    POISON = "poison"
    """Started more than MAX_CHUNK_ATTEMPTS times, each attempt died: the job must fail."""
    DONE = "done"
    """Another delivery of this chunk recorded it already."""
    ENDED = "ended"
    """The job is terminal (cancelled, failed): nothing more runs for it."""
    GONE = "gone"
    """The job's record no longer exists."""


class ChunkFinish(enum.Enum):
    """FINISH_CHUNK's answer for one chunk's result."""

    FINISHED = "finished"
    """Recorded, and it was the job's last chunk: the job succeeded."""
    COMPLETE = "complete"
    """Recorded, and it was the last chunk of a job that writes to storage: the job succeeds once its manifest
    is written (Lifecycle.seal)."""
    RECORDED = "recorded"
    HELD = "held"
    """Recorded for a job whose body is still being read: its rows count once the job is accepted."""
    DUPLICATE = "duplicate"
    """Another delivery recorded this chunk first; this result is dropped."""
    ENDED = "ended"
    """The job became terminal meanwhile; this result is dropped."""
    GONE = "gone"
    FAILED = "failed"
    """Not the script's answer: the rows could not be scored, and the job failed (see Lifecycle.run_chunk)."""

    @property
    def counted(self) -> bool:
        """Whether this call's rows now count in the job (and in the metrics)."""
        return self in (ChunkFinish.FINISHED, ChunkFinish.COMPLETE, ChunkFinish.RECORDED)


class EndVerdict(enum.Enum):
    ENDED = "ended"
    """This call moved the job to its terminal status."""
    ALREADY = "already"
    """The job was terminal before the call."""
    GONE = "gone"
    HIDDEN = "hidden"
    """A job still being accepted ended (a chunk failed): what follows its end waits for its acceptance."""


@dataclass(frozen=True)
class Ending:
    """END_JOB's answer: what happened, and the job's status after the call (None when it is gone)."""

    verdict: EndVerdict
    status: JobStatus | None

    @property
    def by_this_call(self) -> bool:
        return self.verdict is EndVerdict.ENDED
