"""Writes that replace a record or kanban only at the versions the caller names (If-Match).

The version read is checked here, and the write that follows is conditioned on that same version in its
DynamoDB transaction (the repositories' `version = :v`), so the stored version must still be one the
caller named when the write happens: a change in between fails the write, it is never overwritten."""

from collections.abc import Iterator
from contextlib import contextmanager

from shared.errors import ConcurrentUpdate, PreconditionFailed
from shared.models.domain import VersionCondition


def check(expected: VersionCondition | None, item: str, version: int) -> None:
    """Refuse the write when the version read is not one the caller named."""
    if expected is not None and not expected.allows(version):
        raise PreconditionFailed(f"{item} is at version {version}, which If-Match does not name; nothing was written")


@contextmanager
def lost_race_fails(expected: VersionCondition | None, item: str) -> Iterator[None]:
    """A write that lost a race to another writer (ConcurrentUpdate): when the caller named versions, the
    one it matched is gone, so the precondition fails instead of the write being retried on the newer
    version. With If-Match: * or none at all, the lost race stays a ConcurrentUpdate."""
    try:
        yield
    except ConcurrentUpdate:
        if expected is None or expected.versions is None:
            raise
        raise PreconditionFailed(
            f"{item} was changed or deleted meanwhile and is no longer at a version If-Match names; nothing was written"
        ) from None
