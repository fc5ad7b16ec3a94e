"""Goals the test suite asserts exactly, reported as rows of the bench's table after running those tests
(pytest in a subprocess; a goal is met when its tests pass):

- DynamoDB round trips: every operation of tests/integration/test_round_trips.py makes exactly the
  calls it asserts, the fewest the data model allows;
- exact lookups read a page plus a small constant, whatever the number of matches (the same module's
  last test; the figures are its constants);
- search freshness when deployed: the stream's event source mappings of the indexer and of the events
  function invoke with no batching window and batches of 100 (tests/infrastructure, on the synthesized
  template).

    python -m tests.bench.asserted
"""

import ast
import subprocess
import sys
import time
from pathlib import Path

from tests.bench import goals
from tests.bench.goals import GoalRow

REPO = Path(__file__).resolve().parents[2]
ROUND_TRIPS = "tests/integration/test_round_trips.py"
STREAM_MAPPINGS = (
    "tests/infrastructure/test_search_indexing.py::test_stream_event_source_gives_up_on_bad_records_safely",
    "tests/infrastructure/test_change_events.py::test_the_stream_reaches_the_events_function_as_it_reaches_the_indexer",
)


def run_pytest(*arguments: str) -> tuple[bool, str]:
    """Run pytest on the arguments; whether it exited 0, and its summary line."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments], cwd=REPO,
                          capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    summary = lines[-1].strip("= ") if lines else f"pytest exited {done.returncode}"
    print(f"  pytest {' '.join(arguments)}: {summary} ({time.perf_counter() - started:.0f} s)", flush=True)
    if done.returncode != 0:
        print(done.stdout[-5000:], done.stderr[-2000:], sep="\n", flush=True)
    return done.returncode == 0, summary


def counted_operations(path: Path) -> int:
    """How many operations the module asserts exact DynamoDB calls for: its assertions comparing with a
    Counter of calls (`route(...)` or `Counter(...)`)."""
    def is_counter(node: ast.expr) -> bool:
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("route", "Counter")

    return sum(1 for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare)
               and any(is_counter(side) for side in [node.test.left, *node.test.comparators]))


def round_trips() -> list[GoalRow]:
    """The round-trip counts (every test of the module but the lookup's), then the exact lookup's reads."""
    from tests.integration import test_round_trips as module

    print(f"== asserted: DynamoDB calls per operation ({ROUND_TRIPS})", flush=True)
    lookup = f"{ROUND_TRIPS}::{module.test_an_exact_lookup_reads_a_page_whatever_the_number_of_matches.__name__}"
    counts_ok, counts_summary = run_pytest(ROUND_TRIPS, "--deselect", lookup)
    lookup_ok, lookup_summary = run_pytest(lookup)
    operations = counted_operations(REPO / ROUND_TRIPS)
    return [
        GoalRow("DynamoDB round trips per operation",
                f"exact counts asserted for {operations} operations: {'passed' if counts_ok else 'FAILED'}",
                "the fewest the data model allows", counts_ok, f"{ROUND_TRIPS}: {counts_summary}"),
        GoalRow("exact lookup: items read (admin and member)",
                f"{module.ITEMS_READ} for {module.MATCHES} matches at a page of {module.PAGE}"
                if lookup_ok else "test FAILED", "a page plus a small constant", lookup_ok,
                f"asserted by {ROUND_TRIPS} ({lookup_summary}); besides the caller's {module.CALLER_ITEMS} items"),
    ]


def stream_mappings() -> list[GoalRow]:
    """The deployed stack's event source mappings, as the infrastructure tests assert them."""
    print("== asserted: the stream's event source mappings (synthesized template)", flush=True)
    passed, summary = run_pytest(*STREAM_MAPPINGS)
    files = sorted({target.split("::")[0].rsplit("/", 1)[1] for target in STREAM_MAPPINGS})
    return [GoalRow("search freshness: stream batching (deployed)",
                    f"indexer and events mappings: {'as asserted' if passed else 'assertions FAILED'}",
                    "window 0 s, batch size 100", passed,
                    f"asserted by tests/infrastructure/{{{', '.join(files)}}} ({summary})")]


def measure() -> list[GoalRow]:
    return round_trips() + stream_mappings()


def main() -> None:
    sys.exit(goals.report(measure()))


if __name__ == "__main__":
    main()
