"""The rows of `make bench`'s one table: each goal with the figure measured for it in the same run."""

from dataclasses import dataclass


@dataclass(frozen=True)
class GoalRow:
    """One measured figure. `goal` is empty for a figure reported without a target (throughput); `met`
    is None then. `note` says what was compared, or why a goal is not met."""

    name: str
    measured: str
    goal: str = ""
    met: bool | None = None
    note: str = ""


def table(rows: list[GoalRow]) -> str:
    """The rows as one aligned text table, with a last line saying whether every goal was met."""
    header = ("measure", "figure", "goal", "", "note")
    cells = [header] + [(r.name, r.measured, r.goal, {True: "met", False: "NOT MET", None: ""}[r.met], r.note)
                        for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    missed = [r.name for r in rows if r.met is False]
    lines.append("every goal met" if not missed else f"goals not met: {', '.join(missed)}")
    return "\n".join(lines)
