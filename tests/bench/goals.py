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
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    missed = [r.name for r in rows if r.met is False]
    if missed:
        lines.append(f"goals not met: {', '.join(missed)}")
    elif any(r.met is not None for r in rows):
        lines.append("every goal met")
    else:
        lines.append("no goals in this table")
    return "\n".join(lines)


def report(rows: list[GoalRow]) -> int:
    """Print the table; the exit status of a bench: 1 if a goal is not met, else 0."""
    print(table(rows), flush=True)
    return 1 if any(r.met is False for r in rows) else 0
