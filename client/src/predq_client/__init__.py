"""predq_client: the Python client of the predq batch scoring service.

    from predq_client import Client
    with Client("http://localhost:8000") as predq:
        job = predq.wait(predq.submit("rows.csv", model="iris").job_id)
        predq.write_results(job.job_id, "predictions.parquet")
"""

from predq_client.client import Client
from predq_client.errors import (
    BodyError,
    ConflictError,
    FieldError,
    JobEndedError,
    NotFoundError,
    PredqError,
    Problem,
    ProblemError,
    RateLimitedError,
    RefusedError,
    ServerError,
    UnavailableError,
    UnreachableError,
    WaitTimeoutError,
)
from predq_client.resources import TERMINAL, Job, Progress
from predq_client.signatures import verify_signature
from predq_client.transport import RetryPolicy

__version__ = "0.1.0"

__all__ = ["TERMINAL", "BodyError", "Client", "ConflictError", "FieldError", "Job", "JobEndedError",
           "NotFoundError", "PredqError", "Problem", "ProblemError", "Progress", "RateLimitedError",
           "RefusedError", "RetryPolicy", "ServerError", "UnavailableError", "UnreachableError",
           "WaitTimeoutError", "__version__", "verify_signature"]
