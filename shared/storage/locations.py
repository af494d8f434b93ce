"""Where a by-reference job's data lives: a URI checked against the operator's settings, and its filesystem.

`file://` names paths under STORAGE_ROOTS; `s3://` names objects, with credentials from the service's
environment (the AWS SDK's usual chain), never from the request. Every URI must also sit under one of
STORAGE_ALLOWED_PREFIXES: the ones for everyone, and those given to the caller's key (`<key id>=<prefix>`,
the key id being the one the logs show).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pyarrow.fs as pafs

from shared.errors import UnprocessableError
from shared.logs import key_id

SCHEMES = ("file", "s3")


def storage_reason(exc: BaseException, hide: str = "") -> str:
    """What the storage said, in one short line: its first line, `hide` (a host path) replaced by <uri>."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return (reason.replace(hide, "<uri>") if hide else reason)[:200]


@dataclass(frozen=True)
class Location:
    """A checked URI and where to reach it: `path` is what `fs` takes (a local path, or bucket/key)."""

    uri: str
    fs: pafs.FileSystem
    path: str


@dataclass(frozen=True)
class StorageSettings:
    roots: tuple[str, ...] = ()
    allowed_prefixes: tuple[str, ...] = ()
    s3_endpoint_url: str = ""
    s3_region: str = ""

    @classmethod
    def parse(cls, roots: str, allowed: str, s3_endpoint_url: str = "", s3_region: str = "") -> StorageSettings:
        return cls(_items(roots), _items(allowed), s3_endpoint_url, s3_region)

    def prefixes_for(self, owner: str) -> list[str]:
        """The URI prefixes open to `owner`: those for everyone, and those named for its key id."""
        mine = key_id(owner)
        found = []
        for item in self.allowed_prefixes:
            name, sep, prefix = item.partition("=")
            if not sep:
                found.append(item)
            elif name.strip() == mine:
                found.append(prefix.strip())
        return found


def _items(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


class StoragePolicy:
    """Checks URIs from requests and opens the filesystems they name."""

    def __init__(self, settings: StorageSettings) -> None:
        self.settings = settings
        self._s3: pafs.FileSystem | None = None

    def locate(self, uri: object, owner: str, what: str) -> Location:
        """The location `uri` names, if the caller may use it; else a 422 naming the setting that refuses it."""
        if not isinstance(uri, str) or not uri:
            raise UnprocessableError(f"{what}.uri is a URI such as s3://bucket/data.parquet or file:///data/x.csv")
        parts = urlsplit(uri)
        if parts.scheme not in SCHEMES:
            schemes = ", ".join(s + "://" for s in SCHEMES)
            raise UnprocessableError(f"{what}.uri {uri!r}: the scheme is one of {schemes}")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise UnprocessableError(f"{what}.uri {uri!r} carries a query, fragment or credentials; storage "
                                     "credentials come from the service's environment")
        segments = unquote(parts.path).split("/")
        if ".." in segments or "." in segments:
            raise UnprocessableError(f"{what}.uri {uri!r} has '.' or '..' segments")
        if parts.scheme == "file":
            return self._local(uri, parts.netloc, unquote(parts.path), owner, what)
        return self._object(uri, parts.netloc, unquote(parts.path), owner, what)

    def filesystem(self, uri: str) -> pafs.FileSystem:
        """The filesystem of a URI checked when its job was accepted."""
        return pafs.LocalFileSystem() if uri.startswith("file:") else self._s3_filesystem()

    def _local(self, uri: str, host: str, path: str, owner: str, what: str) -> Location:
        if host not in ("", "localhost"):
            raise UnprocessableError(f"{what}.uri {uri!r}: a file:// URI names a local path (file:///...)")
        roots = [Path(r).resolve() for r in self.settings.roots]
        if not roots:
            raise UnprocessableError(f"{what}.uri {uri!r}: file:// URIs are off here (STORAGE_ROOTS is empty)")
        real = Path(os.path.realpath(path))  # symlinks resolved: a link may not lead outside the roots
        if not any(real == root or root in real.parents for root in roots):
            raise UnprocessableError(f"{what}.uri {uri!r} is not under STORAGE_ROOTS")
        self._check_prefix("file://" + path, uri, owner, what)
        trailing = "/" if path.endswith("/") else ""
        return Location(uri, pafs.LocalFileSystem(), str(real) + trailing)

    def _object(self, uri: str, bucket: str, key: str, owner: str, what: str) -> Location:
        if not bucket:
            raise UnprocessableError(f"{what}.uri {uri!r} names no bucket")
        self._check_prefix(uri, uri, owner, what)
        return Location(uri, self._s3_filesystem(), bucket + key)

    def _check_prefix(self, normal: str, uri: str, owner: str, what: str) -> None:
        for prefix in self.settings.prefixes_for(owner):
            if normal == prefix or normal.startswith(prefix if prefix.endswith("/") else prefix + "/"):
                return
        raise UnprocessableError(f"{what}.uri {uri!r} is not under STORAGE_ALLOWED_PREFIXES (for this API key)")

    def _s3_filesystem(self) -> pafs.FileSystem:
        if self._s3 is None:
            options: dict[str, str] = {"region": self.settings.s3_region or os.environ.get("AWS_REGION")
                                       or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"}
            endpoint = self.settings.s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL", "")
            if endpoint:
                parts = urlsplit(endpoint)
                options.update(endpoint_override=parts.netloc or parts.path, scheme=parts.scheme or "https")
            self._s3 = pafs.S3FileSystem(**options)
        return self._s3
