"""Idempotency keys: one job per (owner, key), a 409 for another request, and nothing kept for refusals."""

from __future__ import annotations

import pytest
import redis

from shared.errors import BadRequestError, ConflictError
from shared.idempotency import MAX_KEY_LENGTH, IdempotencyStore, fingerprint


@pytest.fixture
def idem(redis_client: redis.Redis) -> IdempotencyStore:
    return IdempotencyStore(redis_client, 600)


def test_the_first_claim_reserves_the_key(idem: IdempotencyStore) -> None:
    assert idem.claim("alice", "k", "print", "job-1") is None


def test_a_repeat_with_the_same_fingerprint_gives_the_first_job(idem: IdempotencyStore) -> None:
    idem.claim("alice", "k", "print", "job-1")
    assert idem.claim("alice", "k", "print", "job-2") == "job-1"


def test_a_repeat_with_another_fingerprint_is_a_conflict(idem: IdempotencyStore) -> None:
    idem.claim("alice", "k", "print", "job-1")
    with pytest.raises(ConflictError):
        idem.claim("alice", "k", "other", "job-2")
    assert idem.claim("alice", "k", "print", "job-3") == "job-1"


def test_keys_belong_to_their_owner(idem: IdempotencyStore) -> None:
    idem.claim("alice", "k", "print", "job-1")
    assert idem.claim("bob", "k", "print", "job-2") is None


def test_a_released_key_can_be_claimed_again(idem: IdempotencyStore) -> None:
    idem.claim("alice", "k", "print", "job-1")
    idem.release("alice", "k")
    assert idem.claim("alice", "k", "other", "job-2") is None


def test_a_claimed_key_expires(idem: IdempotencyStore, redis_client: redis.Redis) -> None:
    idem.claim("alice", "k", "print", "job-1")
    keys = redis_client.keys("*")
    assert len(keys) == 1
    assert 0 < redis_client.ttl(keys[0]) <= 600
    assert b"k" not in keys[0].split(b":")[-1]


@pytest.mark.parametrize("key", ["", "x" * (MAX_KEY_LENGTH + 1), "tab\there", "new\nline"])
def test_a_malformed_key_is_a_400(idem: IdempotencyStore, redis_client: redis.Redis, key: str) -> None:
    with pytest.raises(BadRequestError):
        idem.claim("alice", key, "print", "job-1")
    assert redis_client.keys("*") == []


def test_the_longest_key_is_accepted(idem: IdempotencyStore) -> None:
    assert idem.claim("alice", "x" * MAX_KEY_LENGTH, "print", "job-1") is None


def test_fingerprints_tell_parts_apart() -> None:
    assert fingerprint([b"a", b"b"]) == fingerprint([b"a", b"b"])
    assert fingerprint([b"ab", b""]) != fingerprint([b"a", b"b"])
    assert fingerprint([b"a", b"b"]) != fingerprint([b"b", b"a"])
