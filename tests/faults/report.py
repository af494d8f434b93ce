"""The closing table of the fault suite: per fault, jobs, rows, lost, duplicated and recovery time."""

from __future__ import annotations

from dataclasses import dataclass

from tests.faults.support import Audit


@dataclass(frozen=True)
class FaultRow:
    fault: str
    jobs: int
    rows: int
    lost: int
    duplicated: int
    recovery_s: float | None
    note: str = ""


class FaultReport:
    """The rows of the closing table, written to a Markdown file when the session ends."""

    def __init__(self) -> None:
        self.rows: list[FaultRow] = []

    def add(self, fault: str, audits: list[Audit], recovery_s: float | None, note: str = "") -> None:
        self.rows.append(FaultRow(fault, len(audits), sum(a.rows for a in audits), sum(a.lost for a in audits),
                                  sum(a.duplicated for a in audits), recovery_s, note))

    def complete(self) -> bool:
        """Every numbered scenario (1 to 11) has a row."""
        return {r.fault.split(".", 1)[0] for r in self.rows} >= {str(n) for n in range(1, 12)}

    def markdown(self) -> str:
        lines = ["| fault | jobs | rows | lost | duplicated | recovery (s) | notes |",
                 "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
        for r in sorted(self.rows, key=lambda row: int(row.fault.split(".", 1)[0])):
            recovery = "–" if r.recovery_s is None else f"{r.recovery_s:.1f}"
            lines.append(f"| {r.fault} | {r.jobs} | {r.rows} | {r.lost} | {r.duplicated} | {recovery} | {r.note} |")
        return "\n".join(lines) + "\n"
