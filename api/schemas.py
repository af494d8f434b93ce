"""The shapes the API reads and answers, declared once as JSON Schema (OpenAPI 3.0 dialect).

The OpenAPI document serves them as its components; the tests validate real answers against them,
so a field the code adds or drops without a word here fails a test.
"""

from __future__ import annotations

from typing import Any

from shared.errors import MAX_LISTED_ERRORS
from shared.job import JobStatus
from shared.parsing.submission import MAX_METADATA_BYTES
from shared.registry import METHODS
from shared.schema import TYPES

STRING: dict[str, Any] = {"type": "string"}
NULLABLE_STRING: dict[str, Any] = {"type": "string", "nullable": True}
TIMESTAMP: dict[str, Any] = {"type": "string", "format": "date-time", "nullable": True,
                             "description": "RFC 3339 in UTC with milliseconds and Z"}
ANY_VALUE: dict[str, Any] = {"description": "a label, a number, or a list of numbers (predict_proba); with "
                                            "passthrough an object: the pass-through columns, then the outputs"}
CELL: dict[str, Any] = {"nullable": True, "description": "a number, an integer, a boolean or a string, as the "
                                                         "column's type in the model's schema says"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """An object schema; every property is required unless `required` says otherwise."""
    return {"type": "object", "required": list(properties) if required is None else required,
            "properties": properties, **extra}


FIELD_ERROR = obj({"row": {"type": "integer", "minimum": 0, "description": "the row, counting from 0"},
                   "column": {"type": "string", "description": "the feature's name"},
                   "message": STRING}, required=["message"])
PROBLEM = obj({"type": STRING, "title": STRING, "status": {"type": "integer"}, "detail": STRING,
               "errors": {"type": "array", "maxItems": MAX_LISTED_ERRORS, "items": ref("FieldError")}},
              required=["type", "title", "status", "detail"], additionalProperties=True,
              description="RFC 9457 problem details")
ROW = {"oneOf": [{"type": "array", "items": CELL}, {"type": "object", "additionalProperties": CELL}],
       "description": "values in the model's column order, or an object keyed by column name"}
BATCH_PARAMETERS: dict[str, Any] = {
    "model": {"type": "string", "description": "a name from GET /models; absent: the default model"},
    "version": {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[0-9]+$"}],
                "description": "absent: the latest"},
    "method": {"type": "string", "enum": list(METHODS), "default": "predict"},
    "metadata": {"type": "object", "description": f"echoed on the job; at most {MAX_METADATA_BYTES} bytes "
                                                  "of compact JSON"},
    "callback_url": {"type": "string", "format": "uri",
                     "description": "POSTed the job when it ends; its host must be in CALLBACK_ALLOWED_HOSTS"},
    "passthrough": {"type": "array", "items": STRING,
                    "description": "object rows: columns that are not model columns, returned beside each result"},
    "extra_columns": {"type": "string", "enum": ["error", "ignore"], "default": "error",
                      "description": "ignore: columns the model does not use are let through unused"},
}
BATCH = obj({"instances": {"type": "array", "minItems": 1, "items": ROW}, **BATCH_PARAMETERS},
            required=["instances"])
STORED_INPUT = obj({
    "uri": {"type": "string", "description": "file:// (under STORAGE_ROOTS) or s3://; one file or a folder of "
                                             "files of one format; under STORAGE_ALLOWED_PREFIXES"},
    "format": {"type": "string", "enum": ["parquet", "csv", "ndjson"],
               "description": "absent: told from the file names"},
}, required=["uri"])
STORED_OUTPUT = obj({"uri": {"type": "string", "description": "a folder: part-<n>.parquet per chunk, then "
                                                              "the manifest _predq.json"}}, required=["uri"])
REFERENCE_BATCH = obj({"input": ref("StoredInput"), "output": ref("StoredOutput"), **BATCH_PARAMETERS},
                      required=["input"], description="a job by reference: rows read by the workers from storage")
MODEL_REF = obj({"name": STRING, "version": STRING, "sha256": STRING})
PROGRESS = obj({"rows_done": {"type": "integer"}, "rows_total": {"type": "integer"},
                "chunks_done": {"type": "integer"}, "chunks_total": {"type": "integer"},
                "rows_per_second": {"type": "number", "nullable": True},
                "eta_seconds": {"type": "number", "nullable": True}})
CALLBACK_ATTEMPT = obj({"url": STRING, "attempt": {"type": "integer", "minimum": 1},
                        "status_code": {"type": "integer", "nullable": True}, "at": TIMESTAMP})
JOB = obj({
    "job_id": STRING,
    "status": {"type": "string", "enum": [s.value for s in JobStatus]},
    "model": ref("ModelRef"),
    "method": {"type": "string", "enum": list(METHODS)},
    "rows": {"type": "integer", "minimum": 1},
    "chunk_rows": {"type": "integer", "minimum": 1,
                   "description": "rows per chunk: sized from the model's measured cost (TARGET_CHUNK_SECONDS)"},
    "progress": ref("Progress"),
    "created_at": TIMESTAMP, "started_at": TIMESTAMP, "finished_at": TIMESTAMP,
    "error": {"type": "object", "nullable": True, "additionalProperties": True,
              "description": "failed jobs: a problem object (see Problem) naming the rows it could not score"},
    "metadata": {"type": "object"},
    "links": obj({"self": STRING, "results": STRING}),
    "classes": {"type": "array", "items": {}, "description": "predict_proba only: the order of each row's list"},
    "callbacks": {"type": "array", "items": ref("CallbackAttempt"), "description": "jobs with a callback_url"},
    "passthrough": {"type": "array", "items": STRING, "description": "jobs with pass-through columns"},
    "input": obj({"uri": STRING, "format": STRING}, description="jobs by reference"),
    "output": obj({"uri": STRING, "files": {"type": "array", "items": STRING,
                                            "description": "once succeeded: the parts, then _predq.json"}},
                  description="jobs by reference with an output"),
    "results": {"type": "array", "items": ANY_VALUE, "description": "succeeded jobs of at most "
                                                                    "INLINE_RESULTS_MAX rows"},
}, required=["job_id", "status", "model", "method", "rows", "chunk_rows", "progress", "created_at", "started_at",
             "finished_at", "error", "metadata", "links"], additionalProperties=False)
JOB_LIST = obj({"jobs": {"type": "array", "items": ref("Job")}, "next": NULLABLE_STRING})
RESULTS_PAGE = obj({"results": {"type": "array", "items": ANY_VALUE}, "offset": {"type": "integer"},
                    "limit": {"type": "integer"}, "total": {"type": "integer"}, "next": NULLABLE_STRING,
                    "classes": {"type": "array", "items": {}}},
                   required=["results", "offset", "limit", "total", "next"])
MODEL = obj({"name": STRING, "version": STRING, "sha256": STRING,
             "task": {"type": "string", "enum": ["classification", "regression"]},
             "features": {"type": "array", "items": STRING},
             "classes": {"type": "array", "items": {}, "nullable": True},
             "methods": {"type": "array", "items": {"type": "string", "enum": list(METHODS)}},
             "handles_missing": {"type": "boolean"}, "default": {"type": "boolean"},
             "schema": {"type": "array", "items": ref("Column"),
                        "description": "one entry per input column, in the model's order"}})
COLUMN = obj({"name": STRING, "type": {"type": "string", "enum": list(TYPES)}, "nullable": {"type": "boolean"}})
MODEL_DETAIL = {"allOf": [ref("Model"), obj({"versions": {"type": "array", "items": ref("Model")}})]}
MODEL_LIST = obj({"models": {"type": "array", "items": ref("Model")}})
PREDICTION = obj({"results": {"type": "array", "items": ANY_VALUE}, "model": ref("ModelRef"),
                  "classes": {"type": "array", "items": {}}}, required=["results", "model"])
DRY_RUN = obj({"valid": {"type": "boolean", "enum": [True]}, "rows": {"type": "integer", "minimum": 1}})
CHECKS = obj({"redis": {"type": "string", "enum": ["ok", "down"]}, "workers": {"type": "integer", "minimum": 0}})
READY = obj({"status": {"type": "string", "enum": ["ready"]}, "checks": ref("Checks")})
HEALTH = obj({"status": {"type": "string", "enum": ["ok"]}})

SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": PROBLEM, "FieldError": FIELD_ERROR, "Batch": BATCH, "ReferenceBatch": REFERENCE_BATCH,
    "StoredInput": STORED_INPUT, "StoredOutput": STORED_OUTPUT, "ModelRef": MODEL_REF, "Progress": PROGRESS,
    "CallbackAttempt": CALLBACK_ATTEMPT, "Job": JOB, "JobList": JOB_LIST, "ResultsPage": RESULTS_PAGE,
    "Model": MODEL, "ModelDetail": MODEL_DETAIL, "ModelList": MODEL_LIST, "Prediction": PREDICTION,
    "DryRun": DRY_RUN, "Checks": CHECKS, "Ready": READY, "Health": HEALTH, "Column": COLUMN,
}
"""Every component schema, by the name `ref` points at."""
