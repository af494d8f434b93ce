"""The README's fenced examples: which run, and what their `# =>` lines say they print."""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
RUN = ("bash", "python")
"""Fences whose blocks the README test runs."""

SHOWN_ONLY = ("sh", "text", "json", "")
"""Fences shown, not run: `sh` for commands that build or start things, the rest are not commands."""

EXPECT = "# => "
SERVE_ADDRESS = "localhost:8000"
"""Where the examples reach `make serve`; the test points it at its own stack."""


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int
    """1-based line of the opening fence, for messages."""

    @property
    def expected(self) -> list[str]:
        return [line.strip()[len(EXPECT):] for line in self.code.splitlines() if line.strip().startswith(EXPECT)]


def blocks(markdown: str) -> list[Block]:
    return [Block(m.group(1), m.group(2), markdown.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(markdown)]


def pattern(expected: str) -> re.Pattern[str]:
    """`…` matches anything on one line; a run of spaces any run of whitespace; the rest is literal."""
    parts = [r"\s+".join(re.escape(word) for word in piece.split(" ") if word) for piece in expected.split("…")]
    return re.compile(".*?".join(parts))


def unmatched(expected: list[str], output: str) -> list[str]:
    """The expected lines that the output does not show, in order (the server's JSON ends without a newline,
    so one command's answer may run into the next one's: a match may start anywhere after the last)."""
    position, missing = 0, []
    for want in expected:
        found = pattern(want).search(output, position)
        if found is None:
            missing.append(want)
        else:
            position = found.end()
    return missing
