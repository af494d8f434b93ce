"""verify_signature accepts what the service's callbacks sign, and nothing else."""

from __future__ import annotations

from predq_client import verify_signature

from shared.callbacks import signature

BODY = b'{"job_id": "9f1c", "status": "succeeded"}'


def test_the_services_signature_verifies() -> None:
    header = signature(BODY, "s3cret", 1_800_000_000)
    assert verify_signature(BODY, header, "s3cret", now=1_800_000_010)


def test_another_body_secret_or_a_stale_stamp_fails() -> None:
    header = signature(BODY, "s3cret", 1_800_000_000)
    assert not verify_signature(BODY + b" ", header, "s3cret", now=1_800_000_000)
    assert not verify_signature(BODY, header, "other", now=1_800_000_000)
    assert not verify_signature(BODY, header, "s3cret", now=1_800_000_000 + 301)
    assert verify_signature(BODY, header, "s3cret", tolerance_seconds=None, now=0)


def test_malformed_headers_fail() -> None:
    for header in ("", "t=abc,v1=00", "v1=00", "t=1800000000", "t=1,t=2,v1=00"):
        assert not verify_signature(BODY, header, "s3cret", now=1_800_000_000)
