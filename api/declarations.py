"""Each route's operation and query parameters: the views read their parameters through these objects and
carry the operations (`@documented`), and the OpenAPI document is rendered from them."""

from __future__ import annotations

from api.operations import (
    IDEMPOTENCY_KEY,
    JSON,
    LOCATION,
    RETRY_AFTER,
    Operation,
    Reply,
    batch_body,
    json_reply,
)
from api.params import Choice, Flag, Integer, Query, Seconds
from api.schemas import ref
from shared.errors import (
    BadRequestError,
    ConflictError,
    JobNotFoundError,
    ModelNotFoundError,
    NotFoundError,
    PayloadTooLargeError,
    UnavailableError,
    UnprocessableError,
    UnsupportedMediaTypeError,
)
from shared.job import JobStatus
from shared.registry import METHODS

MAX_WAIT_SECONDS = 30.0
FORMATS = {"json": "application/json", "csv": "text/csv", "ndjson": "application/x-ndjson",
           "parquet": "application/vnd.apache.parquet"}
"""Result formats, by their ?format name."""

# --------------------------------------------------------------------------- query parameters
DRY_RUN = Flag("dry_run", "validate the whole body against the model and answer {valid, rows}; enqueue nothing")
WAIT = Seconds("wait", "long poll: answer as soon as the job is terminal, or after this many seconds",
               most=MAX_WAIT_SECONDS)
STATUS = Choice("status", "only jobs with this status", choices=tuple(s.value for s in JobStatus))
LIST_LIMIT = Integer("limit", "jobs per page", default=50, low=1, high=500)
CURSOR = Query("cursor", "the cursor of a next link")
OFFSET = Integer("offset", "the first result row of the page (JSON)", default=0, low=0)
RESULTS_LIMIT = Integer("limit", "result rows per page (JSON)", default=1000, low=1, high=100_000)
FORMAT = Choice("format", "json (paged, the default), or every row streamed; wins over Accept",
                choices=tuple(FORMATS))
FOLLOW = Flag("follow", "with a streamed format: rows as their chunks are scored, until the job ends")
BATCH_QUERY = (
    Query("model", "CSV, NDJSON, Parquet: a model name from GET /models (absent: the default model)"),
    Query("version", "CSV, NDJSON, Parquet: a positive integer (absent: the latest)"),
    Choice("method", "CSV, NDJSON, Parquet: what to call on the model (default predict)", choices=METHODS),
    Query("metadata", "CSV, NDJSON, Parquet: a JSON object echoed on the job (at most 4 KiB)"),
    Query("callback_url", "CSV, NDJSON, Parquet: an http(s) URL POSTed the job when it ends (its host must be in "
                          "CALLBACK_ALLOWED_HOSTS)"),
    Query("passthrough", "CSV, NDJSON, Parquet: comma-separated columns that are not model columns, returned "
                         "beside each result"),
    Choice("extra_columns", "CSV, NDJSON, Parquet: ignore lets columns the model does not use through",
           choices=("error", "ignore")),
)
"""Parameters a batch body other than JSON takes in the query string (JSON carries them in the body)."""

_BODY_PROBLEMS = (BadRequestError, ModelNotFoundError, PayloadTooLargeError, UnsupportedMediaTypeError,
                  UnprocessableError, UnavailableError)

# --------------------------------------------------------------------------- /jobs
SUBMIT = Operation(
    "Submit a batch", tag="jobs", secured=True, body=batch_body(by_reference=True), query=(*BATCH_QUERY, DRY_RUN),
    headers=(IDEMPOTENCY_KEY,),
    replies={202: json_reply("accepted: the job as it stood when queued", "Job", (LOCATION, RETRY_AFTER)),
             200: Reply("a dry run's verdict, or the first job of a repeated Idempotency-Key",
                        {JSON: {"schema": {"oneOf": [ref("DryRun"), ref("Job")]}}})},
    problems=(*_BODY_PROBLEMS, ConflictError),
    description="The whole body is validated before anything is enqueued: a refused batch leaves nothing behind.")
LIST = Operation("The caller's jobs, newest first, without inline results", tag="jobs", secured=True,
                 query=(STATUS, LIST_LIMIT, CURSOR), replies={200: json_reply("a page of jobs", "JobList")},
                 problems=(BadRequestError, UnavailableError),
                 description="A page reads at most 1,000 of the caller's jobs besides the page itself: with "
                             "`status`, a page may hold fewer than `limit` jobs (even none) while `next` is not "
                             "null. Follow `next` until it is null.")
GET = Operation("A job's status, progress and (small) results", tag="jobs", secured=True, query=(WAIT,),
                replies={200: json_reply("the job; Retry-After while it is not terminal", "Job", (RETRY_AFTER,))},
                problems=(BadRequestError, JobNotFoundError, UnavailableError))
CANCEL = Operation("Cancel a queued or running job", tag="jobs", secured=True,
                   replies={200: json_reply("the cancelled job", "Job")},
                   problems=(JobNotFoundError, ConflictError, UnavailableError))
_STREAMED = {"type": "string", "description": "every row, streamed"}
RESULTS = Operation(
    "A succeeded job's results: paged JSON, or every row streamed as CSV, NDJSON or Parquet", tag="jobs",
    secured=True,
    query=(OFFSET, RESULTS_LIMIT, FORMAT, FOLLOW),
    replies={200: Reply("results", {media: ({"schema": ref("ResultsPage")} if name == "json" else
                                            {"schema": _STREAMED}) for name, media in FORMATS.items()})},
    problems=(BadRequestError, JobNotFoundError, ConflictError, UnavailableError))

# --------------------------------------------------------------------------- /models
MODELS = Operation("Every model at its latest version", tag="models", secured=True,
                   replies={200: json_reply("the models", "ModelList")})
MODEL = Operation("One model's latest entry, with every version", tag="models", secured=True,
                  replies={200: json_reply("the model", "ModelDetail")}, problems=(ModelNotFoundError,))
PREDICT = Operation("Score a small batch at once (up to SYNC_MAX_ROWS rows)", tag="models", secured=True,
                    body=batch_body(), query=BATCH_QUERY[1:], replies={200: json_reply("the results", "Prediction")},
                    problems=_BODY_PROBLEMS)

# --------------------------------------------------------------------------- operations
HEALTHZ = Operation("Liveness: the process runs", tag="operations", replies={200: json_reply("alive", "Health")})
READYZ = Operation("Readiness: Redis answers and at least one worker is alive", tag="operations",
                   replies={200: json_reply("ready", "Ready")}, problems=(UnavailableError,),
                   description="The 503 problem carries the same `checks` as the 200.")
METRICS = Operation("Prometheus metrics (text format)", tag="operations",
                    replies={200: Reply("the metrics", {"text/plain": {"schema": {"type": "string"}}})})
OPENAPI = Operation("This document", tag="operations",
                    replies={200: Reply("OpenAPI 3", {JSON: {"schema": {"type": "object"}}})})
PAGE = {200: Reply("an HTML page", {"text/html": {"schema": {"type": "string"}}})}
DOCS = Operation("Swagger UI for this document (served from this host, nothing from elsewhere)", tag="pages",
                 replies=PAGE)
ASSET = Operation("A static file of a page (script, style sheet, image)", tag="pages",
                  replies={200: Reply("the file", {"*/*": {"schema": {"type": "string", "format": "binary"}}})},
                  problems=(NotFoundError,))
JOBS_PAGE = Operation("The jobs page: your jobs, their progress, submit, cancel, download", tag="pages",
                      replies=PAGE)
