"""Which URIs a caller may name: schemes, STORAGE_ROOTS, STORAGE_ALLOWED_PREFIXES (for all, or per key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import UnprocessableError
from shared.logs import key_id
from shared.storage.locations import StoragePolicy, StorageSettings

OWNER = "a1b2c3d4e5f6a7b8c9d0"
OTHER = "ffffffffffff00000000"


def _policy(root: Path, allowed: str) -> StoragePolicy:
    return StoragePolicy(StorageSettings.parse(str(root), allowed))


def test_a_file_uri_under_a_root_and_an_allowed_prefix_is_located(tmp_path: Path) -> None:
    location = _policy(tmp_path, f"file://{tmp_path}/in/").locate(f"file://{tmp_path}/in/x.csv", OWNER, "input")
    assert location.path == str(tmp_path / "in" / "x.csv")


@pytest.mark.parametrize("uri", ["file:///etc/passwd", "file://host/x.csv", "http://example.com/x.csv",
                                 "s3:///no-bucket", "file://{root}/in/../../etc/passwd", "s3://b/in?versionId=1"])
def test_uris_that_leave_the_allowed_places_are_refused(tmp_path: Path, uri: str) -> None:
    policy = _policy(tmp_path, f"file://{tmp_path}/in/,s3://b/in/")
    with pytest.raises(UnprocessableError):
        policy.locate(uri.format(root=tmp_path), OWNER, "input")


def test_a_prefix_is_a_folder_not_a_string_start(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "s3://bucket/team")
    assert policy.locate("s3://bucket/team/x.parquet", OWNER, "input").path == "bucket/team/x.parquet"
    with pytest.raises(UnprocessableError, match="STORAGE_ALLOWED_PREFIXES"):
        policy.locate("s3://bucket/team-b/x.parquet", OWNER, "input")


def test_a_prefix_given_to_one_key_is_closed_to_the_others(tmp_path: Path) -> None:
    policy = _policy(tmp_path, f"{key_id(OWNER)}=s3://bucket/mine/")
    assert policy.locate("s3://bucket/mine/x.csv", OWNER, "input").uri == "s3://bucket/mine/x.csv"
    with pytest.raises(UnprocessableError, match="STORAGE_ALLOWED_PREFIXES"):
        policy.locate("s3://bucket/mine/x.csv", OTHER, "input")


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    policy = _policy(root, f"file://{root}/")
    with pytest.raises(UnprocessableError, match="STORAGE_ROOTS"):
        policy.locate(f"file://{root}/link/x.csv", OWNER, "input")


def test_without_roots_file_uris_are_off(tmp_path: Path) -> None:
    policy = StoragePolicy(StorageSettings.parse("", f"file://{tmp_path}/"))
    with pytest.raises(UnprocessableError, match="STORAGE_ROOTS is empty"):
        policy.locate(f"file://{tmp_path}/x.csv", OWNER, "input")
