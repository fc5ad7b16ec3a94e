"""Finding and repairing drift between the table and the search index, one bounded page at a time.

Per account, three phases: the changes the engine refused (noted by the indexer), the table's records
against the index (missing or stale documents), and the index's documents against the table
(documents of records the table no longer holds). Each page yields where to resume after it, so a
run with a time budget (the scheduled verifier) stops anywhere and the next run goes on from there.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.models.domain import Record
from shared.repository import accounts
from shared.repository import index_verification as repository
from shared.search.ports import VerifiableIndex

PAGE_SIZE = 100
# The scheduled verifier's metric: documents found missing, stale or orphaned (and repaired) per run.
DRIFT_METRIC = "IndexDrift"
PHASES = ("refused", "table", "index")


@dataclass
class Drift:
    missing: list[str] = field(default_factory=list)
    """Records of the table that have no document."""
    stale: list[str] = field(default_factory=list)
    """Records whose document holds an older version."""
    orphaned: list[str] = field(default_factory=list)
    """Documents of records the table does not hold."""
    refused: list[str] = field(default_factory=list)
    """Records whose document the engine refuses (noted by the indexer, or refused again here)."""

    @property
    def differences(self) -> int:
        return len(self.missing) + len(self.stale) + len(self.orphaned)

    def extend(self, other: "Drift") -> None:
        for name, ids in asdict(other).items():
            getattr(self, name).extend(ids)


@dataclass(frozen=True)
class Position:
    """Where to resume an account's check: a phase and how far into it (None: its beginning)."""

    account_id: str
    phase: str = PHASES[0]
    after: Any = None


def _reindex(index: VerifiableIndex, account_id: str, record_ids: Sequence[str]) -> list[Record]:
    """Write the current records (removing documents of those gone); returns those the engine refused."""
    current = repository.indexable_records(account_id, record_ids)
    present = {record.record_id for record, _ in current}
    index.delete_account_records(account_id, [r for r in record_ids if r not in present])
    refused = set(index.upsert(current)) if current else set()
    return [record for record, _ in current if record.record_id in refused]


def _refused_page(index: VerifiableIndex, account_id: str, repair: bool, after: Any) -> tuple[Drift, Any]:
    record_ids, after = repository.refused_page(account_id, after, PAGE_SIZE)
    refused = record_ids
    if repair and record_ids:
        refused = [record.record_id for record in _reindex(index, account_id, record_ids)]
        repository.clear_refused(account_id, [r for r in record_ids if r not in refused])
    return Drift(refused=refused), after


def _table_page(index: VerifiableIndex, account_id: str, repair: bool, after: Any) -> tuple[Drift, Any]:
    versions, after = repository.record_versions(account_id, after, PAGE_SIZE)
    indexed = index.indexed_versions(account_id, list(versions)) if versions else {}
    drift = Drift(missing=[r for r in versions if r not in indexed],
                  stale=[r for r, version in versions.items() if r in indexed and indexed[r] < version])
    if repair and (refused := _reindex(index, account_id, drift.missing + drift.stale)):
        repository.note_refused(refused)
        drift.refused = [record.record_id for record in refused]
    return drift, after


def _index_page(index: VerifiableIndex, account_id: str, repair: bool, after: Any) -> tuple[Drift, Any]:
    page = after or 1
    documents = index.account_documents(account_id, page, PAGE_SIZE)
    existing = repository.existing_record_ids(account_id, [r for r, _ in documents]) if documents else set()
    drift = Drift(orphaned=[r for r, _ in documents if r not in existing])
    if repair and drift.orphaned:
        index.delete_account_records(account_id, drift.orphaned)
        return drift, page  # the documents after them moved up into this page
    return drift, page + 1 if len(documents) == PAGE_SIZE else None


_PAGES: dict[str, Callable[[VerifiableIndex, str, bool, Any], tuple[Drift, Any]]] = {
    "refused": _refused_page, "table": _table_page, "index": _index_page,
}


def check_account(index: VerifiableIndex, start: Position, repair: bool) -> Iterator[tuple[Drift, Position | None]]:
    """Page by page from `start`: the drift each page showed (repaired if `repair`) and where to
    resume after it (None once the account is done)."""
    phases = PHASES[PHASES.index(start.phase):]
    after = start.after
    for number, phase in enumerate(phases):
        while True:
            drift, after = _PAGES[phase](index, start.account_id, repair, after)
            if after is not None:
                yield drift, Position(start.account_id, phase, after)
                continue
            last = number == len(phases) - 1
            yield drift, None if last else Position(start.account_id, phases[number + 1])
            break


def verify(index: VerifiableIndex, account_id: str | None, repair: bool) -> dict[str, Any]:
    """`crm-admin verify-index`: every account's differences (or one account's), repaired if asked."""
    report = []
    for account in [account_id] if account_id else accounts.list_account_ids():
        found = Drift()
        for drift, _ in check_account(index, Position(account), repair):
            found.extend(drift)
        report.append({"accountId": account, "missingFromIndex": found.missing, "staleInIndex": found.stale,
                       "notInTable": found.orphaned, "refusedByIndex": list(dict.fromkeys(found.refused))})
    return {"repaired": repair, "accounts": report}


@dataclass(frozen=True)
class SweepResult:
    differences: int
    """Missing, stale and orphaned documents found (and repaired)."""
    refused: int
    finished: bool
    """False when the time ran out; the next sweep resumes where this one stopped."""


def repair_all(index: VerifiableIndex, has_time: Callable[[], bool] = lambda: True) -> SweepResult:
    """Check and repair every account, resuming where the previous sweep stopped, until done or until
    `has_time()` says no (then the resume point is saved for the next sweep)."""
    saved = repository.verifier_cursor()
    resume = Position(**saved) if saved else None
    account_ids = accounts.list_account_ids()
    if resume is not None and resume.account_id in account_ids:
        account_ids = account_ids[account_ids.index(resume.account_id):]
    differences = refused = 0
    for number, account_id in enumerate(account_ids):
        start = resume if resume is not None and resume.account_id == account_id else Position(account_id)
        for drift, position in check_account(index, start, repair=True):
            differences += drift.differences
            refused += len(drift.refused)
            following = position or (Position(account_ids[number + 1]) if number + 1 < len(account_ids) else None)
            if following is not None and not has_time():
                repository.save_verifier_cursor(asdict(following))
                return SweepResult(differences, refused, finished=False)
    repository.save_verifier_cursor(None)
    return SweepResult(differences, refused, finished=True)
