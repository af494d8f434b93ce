"""Reading a model's file: only from inside MODEL_DIR, and only once, so the bytes hashed are the bytes loaded.

A descriptor is a file anyone with write access to one version folder controls; it must not be able to point a
worker at /etc/... or at a pickle elsewhere on the host. So its `file` is a bare name in its own version folder, the
path is resolved (every symlink followed) and must stay inside MODEL_DIR, and what was actually opened is checked
again (a symlink swapped in after the check is caught). The bytes are read into memory once: they are hashed and
then loaded from memory, leaving no window in which the file on disk could change between the two.

Refusals raise ModelLoadError with a message that names the model but no path (it reaches clients in a job's
problem); the path and the reason go to this process's log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

from shared.errors import ModelLoadError

log = logging.getLogger(__name__)

_PROC_FD = Path("/proc/self/fd")
"""Linux names the file behind an open descriptor here: the path of what was opened, not of what was asked."""


def is_bare_name(file: str) -> bool:
    """True for a plain file name: no folder part (either slash), not absolute, not `.` or `..`."""
    return (bool(file) and file not in (".", "..") and PurePosixPath(file).name == file
            and PureWindowsPath(file).name == file)


def read_verified(model_dir: Path, folder: Path, file: str, sha256: str, label: str) -> bytes:
    """The bytes of `file` in the version folder `folder`, refused unless inside `model_dir` with SHA-256 `sha256`.

    `label` names the model (e.g. "iris v2") in every message."""
    if not is_bare_name(file):
        log.warning("model %s refused: its descriptor names the file %r, not a bare name in %s", label, file, folder)
        raise ModelLoadError(f"the descriptor of model {label} names a file outside its version folder")
    data = _read_inside(model_dir, folder / file, label)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        log.warning("model %s refused: %s has SHA-256 %s, its descriptor says %s", label, folder / file, actual,
                    sha256)
        raise ModelLoadError(f"the file of model {label} has SHA-256 {actual}, not {sha256} as registered")
    return data


def _read_inside(model_dir: Path, path: Path, label: str) -> bytes:
    try:
        root = model_dir.resolve(strict=True)
        real = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        log.warning("model %s refused: %s cannot be resolved (%s)", label, path, exc)
        raise ModelLoadError(f"the file of model {label} is missing") from None
    if not real.is_relative_to(root):
        log.warning("model %s refused: %s leads to %s, outside MODEL_DIR %s", label, path, real, root)
        raise ModelLoadError(f"the file of model {label} leads outside MODEL_DIR")
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:  # ELOOP: the last part became a symlink after resolve()
        log.warning("model %s refused: %s cannot be opened (%s)", label, real, exc)
        raise ModelLoadError(f"the file of model {label} cannot be opened") from None
    with os.fdopen(fd, "rb") as f:
        opened = _opened_path(fd)
        if opened is not None and not opened.is_relative_to(root):  # a folder on the way swapped for a symlink
            log.warning("model %s refused: opening %s reached %s, outside MODEL_DIR %s", label, real, opened, root)
            raise ModelLoadError(f"the file of model {label} leads outside MODEL_DIR")
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            log.warning("model %s refused: %s is not a regular file", label, real)
            raise ModelLoadError(f"the file of model {label} is not a regular file")
        return f.read()


def _opened_path(fd: int) -> Path | None:
    """The path of the file open as `fd` (None where the system does not say)."""
    try:
        return Path(os.readlink(_PROC_FD / str(fd)))
    except OSError:
        return None
