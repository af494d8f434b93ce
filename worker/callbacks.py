"""Delivering a finished job to its callback_url, with retries and backoff."""

from __future__ import annotations

import logging
import time

import orjson

from shared import callbacks
from shared.resource import full_job_resource, rfc3339
from shared.services import Services

log = logging.getLogger(__name__)


def deliver(svc: Services, job_id: str, attempt: int) -> str:
    """POST the job to its callback_url once; schedule the next attempt when it is not taken."""
    job = svc.store.find(job_id)
    if job is None or job.callback_url is None:
        return "gone"
    try:  # resolved and checked once; the POST goes to the very address checked (no second DNS answer)
        to = callbacks.destination(job.callback_url, svc.settings.private_callback_hosts())
    except callbacks.CallbackRefusedError as refused:  # never asked again: the URL points where it points
        log.warning("callback of job %s not sent: %s", job_id, refused)
        svc.store.record_callback(job_id, {"url": job.callback_url, "attempt": attempt, "status_code": None,
                                           "at": rfc3339(time.time())})
        return "refused"
    body = orjson.dumps(full_job_resource(svc.store, job, svc.settings.inline_results_max),
                        option=orjson.OPT_SERIALIZE_NUMPY)
    status = callbacks.post(to, body, _signing_secret(svc, job.owner))
    svc.store.record_callback(job_id, {"url": job.callback_url, "attempt": attempt,
                                       "status_code": status or None, "at": rfc3339(time.time())})
    if 200 <= status < 300:
        return "delivered"
    if attempt >= callbacks.MAX_ATTEMPTS or svc.queue is None:
        log.warning("callback of job %s to %s given up after %d attempts", job_id, job.callback_url, attempt)
        return "given up"
    svc.queue.callback(job_id, attempt + 1, callbacks.backoff_seconds(attempt))
    return "retrying"


def _signing_secret(svc: Services, owner: str) -> str:
    """CALLBACK_SECRET itself when no API keys are configured (one tenant, as the contract says); with keys, each
    key's own secret derived from it, so that one key's receiver cannot forge another key's callbacks."""
    if not svc.api_keys:
        return svc.settings.callback_secret
    return callbacks.key_secret(svc.settings.callback_secret, owner)
