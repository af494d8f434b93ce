"""Running the `predq` command as a user would: piped, or in a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PREDQ = str(Path(sys.executable).parent / "predq")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
HANG_GUARD_SECONDS = 120.0
"""Only a guard against a hung command; no test depends on how fast anything runs."""


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


def predq_env(url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREDQ_")}
    return {**env, "PREDQ_URL": url, "COLUMNS": "120", **(extra or {})}


def run_piped(args: list[str], url: str, cwd: Path | None = None, stdin: bytes = b"",
              extra_env: Mapping[str, str] | None = None) -> Ran:
    done = subprocess.run([PREDQ, *args], input=stdin, capture_output=True, env=predq_env(url, extra_env), cwd=cwd,
                          timeout=HANG_GUARD_SECONDS, check=False)
    return Ran(done.returncode, done.stdout.decode(), done.stderr.decode())


class Terminal:
    """`predq` on a pseudo-terminal (stdin, stdout and stderr): what it writes, with its escape codes."""

    def __init__(self, args: list[str], url: str, cwd: Path | None = None) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([PREDQ, *args], stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                                     env=predq_env(url, {"TERM": "xterm-256color"}))
        os.close(slave)
        self.raw = b""

    @property
    def text(self) -> str:
        """What the terminal shows, escape codes removed."""
        return ANSI.sub("", self.raw.decode(errors="replace"))

    def read_until(self, needle: str) -> None:
        while needle not in self.text:
            if not self._read_some():
                raise AssertionError(f"the command ended without printing {needle!r}:\n{self.text}")

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process

    def finish(self) -> int:
        while self._read_some():
            pass
        code = self.proc.wait(HANG_GUARD_SECONDS)
        os.close(self.master)
        return code

    def _read_some(self) -> bool:
        ready, _, _ = select.select([self.master], [], [], HANG_GUARD_SECONDS)
        if not ready:
            raise AssertionError(f"no output for {HANG_GUARD_SECONDS:.0f}s:\n{self.text}")
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the command closed the terminal
            return False
        self.raw += data
        return bool(data)
