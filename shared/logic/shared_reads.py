"""Reads that the operations of one batch share: an account and its kanbans are read once per batch
instead of once per operation.

Record writes never change these items, and each write's own transaction still checks what it relies
on (the kanban exists and has the record's status and unique fields), so a shared read is as safe as
the read a single request makes just before its write. A failed operation forgets what was read, so the
operations after it read again. Outside `shared()` every call reads the table, except for the caller's
account, which confirming the caller has read at the start of the request (`confirmed()`).
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from shared.models.domain import Account, Kanban
from shared.repository import accounts, kanbans

T = TypeVar("T")

_reads: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("shared_reads", default=None)
# The caller's account as confirming the caller read it at the start of this request (shared.http).
_confirmed_account: ContextVar[Account | None] = ContextVar("confirmed_account", default=None)


@contextmanager
def confirmed(account: Account) -> Iterator[None]:
    """Within: account() answers the caller's account as confirming the caller just read it (strongly
    consistent, at the start of the request) instead of reading it again."""
    token = _confirmed_account.set(account)
    try:
        yield
    finally:
        _confirmed_account.reset(token)


@contextmanager
def shared() -> Iterator[None]:
    token = _reads.set({})
    try:
        yield
    finally:
        _reads.reset(token)


def forget() -> None:
    reads = _reads.get()
    if reads is not None:
        reads.clear()


def _read(key: tuple[Any, ...], read: Callable[[], T]) -> T:
    reads = _reads.get()
    if reads is None:
        return read()
    if key not in reads:
        reads[key] = read()
    return reads[key]


def account(account_id: str) -> Account:
    known = _confirmed_account.get()
    if known is not None and known.account_id == account_id:
        return known
    return _read(("account", account_id), lambda: accounts.get_account(account_id))


def kanban(account_id: str, kanban_id: str) -> Kanban | None:
    return _read(("kanban", account_id, kanban_id), lambda: kanbans.find_kanban(account_id, kanban_id))
