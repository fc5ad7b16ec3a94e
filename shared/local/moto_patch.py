"""Keeps the embedded DynamoDB (moto) fast and small when it lives long, as the local stack does.

Written against moto 5.2.5. Drop each part once moto fixes it upstream:

- `transact_write_items` deep-copies every table it touches (stream shard included) to roll back on
  failure, so each transaction costs time and memory in proportion to the whole table. Here only the
  items the transaction names are copied, and a failed transaction restores exactly those (and any
  partition moto created while looking them up) and drops the stream records it added. moto derives
  index (GSI/LSI) results from the items on every query, so restoring the items restores them too.
- A stream shard keeps every record forever. Here it keeps its records in a `StreamRecords` list that
  `trim_stream` can shorten once a consumer has them; sequence numbers and iterators stay as they were.
- A query starts from `Table.all_items()`, every item of the table sorted by key, and then filters
  and sorts again. Here, within a query, `all_items()` gives a table query only its partition, and an
  index query every item unsorted (it sorts its matches by the full index and table key anyway).
- An index query then compares, sorts, copies and projects every match of its partition with moto's
  typed values, whatever its Limit: as an index partition grows (every record of a kanban), each list
  costs more. The queries this API makes (a string partition key, no sort-key condition, filter or
  projection) are answered by `_index_page` instead, from a `_SortedIndex` per index that every item
  write keeps in order: a page costs a binary search and the page itself. Any other query goes to
  moto as before.
- moto's BaseModel keeps every instance ever made, for its /moto-api data view: every item version,
  stream record and shard iterator would live as long as the server. Here those three are made
  untracked.
- The streams backend keeps every shard iterator it ever handed out (a poller makes two per poll). Here
  it keeps the most recent `KEPT_SHARD_ITERATORS`.

`apply()` refuses (raises `MotoInternalsChanged`) if the moto internals it relies on are missing, and
warns if moto is not the version it was written against.
"""

import bisect
import copy
import importlib.metadata
import inspect
import threading
import types
import warnings
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from types import NoneType
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.core.common_models import BaseModel
from moto.dynamodb.comparisons import OpDefault
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, StreamRecord, StreamShard, Table
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

WRITTEN_FOR_MOTO = "5.2.5"
# Made once per write or poll, and never needed by the /moto-api data view of a local stack.
UNTRACKED_MODELS = (Item, StreamRecord, ShardIterator)
KEPT_SHARD_ITERATORS = 1000
_applied = False
_apply_lock = threading.Lock()
# Set while Table.query runs: the partition key it reads, or _INDEX_QUERY.
_query_scope: ContextVar[DynamoType | object | None] = ContextVar("query_scope", default=None)
_INDEX_QUERY = object()


class MotoInternalsChanged(RuntimeError):
    """moto no longer has what the patch replaces: check whether it is still needed, and update it."""


class StreamRecords:
    """A stream shard's records that can drop a prefix, indexed as if nothing had been dropped.

    moto numbers a record `len(records) + starting sequence` and reads `records[start:end]` by position,
    so length and slices count every record ever added; slices start at the oldest record kept. The lock
    lets a consumer in another thread trim while the server appends.
    """

    def __init__(self, records: Iterable[Any] = ()):
        self._kept = list(records)
        self._dropped = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return self._dropped + len(self._kept)

    def __getitem__(self, positions: slice) -> list[Any]:
        with self._lock:
            start = max((positions.start or 0) - self._dropped, 0)
            stop = None if positions.stop is None else max(positions.stop - self._dropped, 0)
            return self._kept[start:stop]

    def __iter__(self):  # moto hands the records to Lambda event source mappings as an iterable
        return iter(self[:])

    def append(self, record: Any) -> None:
        with self._lock:
            self._kept.append(record)

    def drop_before(self, position: int) -> None:
        """Forget the records before this position (counted from the first record ever added)."""
        with self._lock:
            count = min(max(position - self._dropped, 0), len(self._kept))
            del self._kept[:count]
            self._dropped += count

    def truncate(self, length: int) -> None:
        """Forget the records from this position on (the ones a failed transaction added)."""
        with self._lock:
            del self._kept[max(length - self._dropped, 0):]


class _BoundedIterators(dict):
    """The streams backend's shard iterators, the oldest forgotten beyond KEPT_SHARD_ITERATORS."""

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        while len(self) > KEPT_SHARD_ITERATORS:
            del self[next(iter(self))]


class _TransactionSnapshot:
    """The items a transaction names, copied before it runs, and the length of each table's stream."""

    def __init__(self, backend: DynamoDBBackend, transact_items: list[dict[str, Any]]):
        self._items: list[tuple[Table, DynamoType, DynamoType | None, bool, Item | None]] = []
        self._stream_lengths: dict[int, tuple[StreamShard, int]] = {}
        for operation in transact_items:
            for kind, request in operation.items():
                table = backend.tables.get(request.get("TableName"))
                key = request.get("Item" if kind == "Put" else "Key")
                if table is not None and isinstance(key, dict) and all(a in key for a in table.table_key_attrs):
                    self._take(table, key)
                # else moto rejects the operation without writing anything

    def _take(self, table: Table, key: dict[str, Any]) -> None:
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        partition = table.items.get(hash_key)  # .get, unlike [], does not create the partition
        item = partition.get(range_key) if range_key is not None and partition is not None else partition
        self._items.append((table, hash_key, range_key, partition is not None, copy.deepcopy(item)))
        if table.stream_shard is not None:
            self._stream_lengths.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))

    def restore(self) -> None:
        for table, hash_key, range_key, partition_existed, item in reversed(self._items):
            if not partition_existed:
                table.items.pop(hash_key, None)
            elif table.range_key_attr is None:
                table.items[hash_key] = item
            elif item is None:
                table.items[hash_key].pop(range_key, None)
            else:
                table.items[hash_key][range_key] = item
            _item_changed(table, hash_key, range_key)
        for shard, length in self._stream_lengths.values():
            if isinstance(shard.items, StreamRecords):
                shard.items.truncate(length)
            else:
                del shard.items[length:]


def _query_candidates(table: Table) -> list[Item]:
    """What Table.query needs from all_items(): the items that can match, in any order."""
    scope = _query_scope.get()
    if scope is _INDEX_QUERY:
        partitions = table.items.values() if table.range_key_attr else [table.items]
        return [item for partition in partitions for item in partition.values()]
    partition = table.items.get(scope)
    if partition is None:
        return []
    return list(partition.values()) if table.range_key_attr else [partition]


def _plain(value: DynamoType | None) -> Any:
    if value is None:
        return None
    return value.value if value.type == "S" else value.cast_value


class _SortedIndex:
    """One index of one table: for each (string) partition key value, its items' keys in index order
    (index sort key, then table key), as plain values. Item writes refresh it (see `_item_changed`)."""

    def __init__(self, table: Table, hash_attribute: str, range_attribute: str):
        self._table, self._hash, self._range = table, hash_attribute, range_attribute
        self.partitions: dict[str, list[tuple[tuple[Any, ...], DynamoType, DynamoType | None]]] = {}
        self._entries: dict[tuple[Any, Any], tuple[str, tuple[Any, ...], DynamoType, DynamoType | None]] = {}
        for partition in table.items.values():
            for item in partition.values() if table.range_key_attr else [partition]:
                self._add(item)

    def _add(self, item: Item) -> None:
        found, position = item.attrs.get(self._hash), item.attrs.get(self._range)
        if found is None or found.type != "S" or position is None:
            return
        table_key = (_plain(item.hash_key), _plain(item.range_key))
        entry = ((_plain(position), *table_key), item.hash_key, item.range_key)
        bisect.insort(self.partitions.setdefault(found.value, []), entry, key=lambda e: e[0])
        self._entries[table_key] = (found.value, *entry)

    def refresh(self, hash_key: DynamoType, range_key: DynamoType | None) -> None:
        """The item under this table key changed, appeared or went: move, add or drop its entry."""
        old = self._entries.pop((_plain(hash_key), _plain(range_key)), None)
        if old is not None:
            value, sort_key = old[0], old[1]
            entries = self.partitions[value]
            del entries[bisect.bisect_left(entries, sort_key, key=lambda e: e[0])]
        partition = self._table.items.get(hash_key)  # .get, unlike [], does not create the partition
        item = partition.get(range_key) if partition is not None and self._table.range_key_attr else partition
        if item is not None:
            self._add(item)

    def page(self, value: str, after: tuple[Any, ...] | None, forward: bool) -> Iterator[Item]:
        """The partition's items in index order (or reversed), from just after `after`."""
        entries = self.partitions.get(value, [])
        if forward:
            start = 0 if after is None else bisect.bisect_right(entries, after, key=lambda e: e[0])
            positions: Iterable[int] = range(start, len(entries))
        else:
            end = len(entries) if after is None else bisect.bisect_left(entries, after, key=lambda e: e[0])
            positions = range(end - 1, -1, -1)
        for position in positions:
            _, hash_key, range_key = entries[position]
            partition = self._table.items[hash_key]
            yield partition[range_key] if self._table.range_key_attr else partition


def _sorted_index(table: Table, index_name: str, hash_attribute: str, range_attribute: str) -> _SortedIndex:
    indexes = table.__dict__.setdefault("_sorted_indexes", {})
    if index_name not in indexes:
        indexes[index_name] = _SortedIndex(table, hash_attribute, range_attribute)
    return indexes[index_name]


def _item_changed(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
    for index in table.__dict__.get("_sorted_indexes", {}).values():
        index.refresh(hash_key, range_key)


def _index_page(table: Table, arguments: dict[str, Any]) -> tuple[list[Item], int, dict[str, Any] | None] | None:
    """What Table.query answers for an index query of a plain shape, or None for any other query."""
    index_name = arguments.get("index_name")
    hash_conditions = arguments.get("hash_key_conditions") or []
    plain_shape = (
        index_name and not arguments.get("range_comparison") and not arguments.get("range_key_conditions")
        and isinstance(arguments.get("filter_expression"), NoneType | OpDefault) and not arguments.get("filter_kwargs")
        and not arguments.get("projection_expressions") and not arguments.get("consistent_read")
        and len(hash_conditions) == 1 and hash_conditions[0][1].type == "S" and table.range_key_attr
    )
    if not plain_shape:
        return None
    index = table.get_index(index_name)
    keys = {key["KeyType"]: key["AttributeName"] for key in index.schema}
    if len(index.schema) != 2 or set(keys) != {"HASH", "RANGE"} or hash_conditions[0][0] != keys["HASH"]:
        return None
    hash_attribute, range_attribute = keys["HASH"], keys["RANGE"]
    start = arguments.get("exclusive_start_key")
    after = tuple(_plain(DynamoType(start[name])) if name in start else None
                  for name in (range_attribute, table.hash_key_attr, table.range_key_attr)) if start else None
    limit = arguments.get("limit")
    matches = _sorted_index(table, index_name, hash_attribute, range_attribute).page(
        hash_conditions[0][1].value, after, arguments.get("scan_index_forward", True) is not False)
    page: list[Item] = []
    size = 0
    for item in matches:
        if len(page) == limit or size + item.size() > RESULT_SIZE_LIMIT:
            last = table._get_last_evaluated_key(page[-1], index_name)
            return [index.project(i) for i in copy.deepcopy(page)], len(page), last
        page.append(item)
        size += item.size()
    return [index.project(i) for i in copy.deepcopy(page)], len(page), None


def _new_untracked(cls: type, *args: Any, **kwargs: Any) -> Any:
    """BaseModel.__new__ without adding the instance to cls.instances_tracked."""
    return object.__new__(cls)


def _deepcopy_sharing_tables(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """moto's deepcopy, except that a Table is returned as is (its snapshot is _TransactionSnapshot)."""
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def check_internals() -> None:
    """Raise MotoInternalsChanged if what apply() replaces is not there as it was in moto 5.2.5."""
    version = importlib.metadata.version("moto")
    if version != WRITTEN_FOR_MOTO:
        warnings.warn(f"shared.local.moto_patch was written for moto {WRITTEN_FOR_MOTO}, found {version}: "
                      "check that moto still needs it and that it still fits", stacklevel=3)
    transaction_source = inspect.getsource(DynamoDBBackend.transact_write_items)
    stream_add_source = inspect.getsource(StreamShard.add)
    expected = {
        "DynamoDBBackend.transact_write_items deep-copies whole tables": "copy.deepcopy(" in transaction_source
        and "original_table_state" in transaction_source,
        "moto.dynamodb.models imports the copy module": dynamodb_models.copy is copy,
        "StreamShard numbers records by len(self.items)": "len(self.items)" in stream_add_source,
        "StreamShard reads records by position": "self.items[start:end]" in inspect.getsource(StreamShard.get),
        "Table keeps items in a dict of partitions": "self.items = defaultdict(dict)" in inspect.getsource(
            Table.__init__),
        "Table.query filters all_items() and sorts its matches": inspect.getsource(Table.query).count(
            "self.all_items()") == 2 and "self.sorted_items(" in inspect.getsource(Table.query),
        "BaseModel.__new__ only tracks the instance": "instances_tracked.append(instance)" in inspect.getsource(
            BaseModel.__new__) and all(model.__new__ is BaseModel.__new__ for model in UNTRACKED_MODELS),
        "DynamoDBStreamsBackend keeps shard_iterators": "self.shard_iterators" in inspect.getsource(
            DynamoDBStreamsBackend.__init__),
        "Table.query takes the arguments _index_page answers from": {
            "range_comparison", "range_key_conditions", "filter_expression", "projection_expressions",
            "consistent_read", "hash_key_conditions", "index_name", "scan_index_forward", "exclusive_start_key",
            "limit"} <= set(inspect.signature(Table.query).parameters)
        and hasattr(Table, "_get_last_evaluated_key"),
    }
    missing = [what for what, holds in expected.items() if not holds]
    if missing:
        raise MotoInternalsChanged(f"moto {version} changed what shared.local.moto_patch relies on: "
                                   + "; ".join(missing))


def apply() -> None:
    """Patch moto in this process (idempotent); every table and streams backend made afterwards is patched."""
    global _applied
    with _apply_lock:
        if _applied:
            return
        check_internals()
        original_transact = DynamoDBBackend.transact_write_items
        original_shard_init = StreamShard.__init__
        original_streams_init = DynamoDBStreamsBackend.__init__
        original_query = Table.query
        original_all_items = Table.all_items
        original_put_item = Table.put_item
        original_delete_item = Table.delete_item
        original_update_item = DynamoDBBackend.update_item

        def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
            snapshot = _TransactionSnapshot(self, transact_items)
            try:
                original_transact(self, transact_items)
            except BaseException:
                snapshot.restore()
                raise

        query_signature = inspect.signature(original_query)

        def query(*args: Any, **kwargs: Any) -> Any:
            arguments = query_signature.bind(*args, **kwargs).arguments
            answered = _index_page(arguments["self"], arguments)
            if answered is not None:
                return answered
            token = _query_scope.set(_INDEX_QUERY if arguments.get("index_name") else arguments["hash_key"])
            try:
                return original_query(*args, **kwargs)
            finally:
                _query_scope.reset(token)

        def all_items(self: Table) -> list[Item]:
            return original_all_items(self) if _query_scope.get() is None else _query_candidates(self)

        def put_item(self: Table, *args: Any, **kwargs: Any) -> Item:
            item = original_put_item(self, *args, **kwargs)
            _item_changed(self, item.hash_key, item.range_key)
            return item

        def delete_item(self: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
            try:
                return original_delete_item(self, hash_key, range_key)
            finally:
                _item_changed(self, hash_key, range_key)

        update_signature = inspect.signature(original_update_item)

        def update_item(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Item:
            arguments = update_signature.bind(self, *args, **kwargs).arguments
            try:
                return original_update_item(self, *args, **kwargs)
            finally:  # moto changes an existing item in place, possibly before it fails
                table, key = self.tables.get(arguments["table_name"]), arguments["key"]
                if table is not None and all(name in key for name in table.table_key_attrs):
                    _item_changed(table, *self.get_keys_value(table, key))

        def shard_init(self: StreamShard, *args: Any, **kwargs: Any) -> None:
            original_shard_init(self, *args, **kwargs)
            self.items = StreamRecords(self.items)

        def streams_init(self: DynamoDBStreamsBackend, *args: Any, **kwargs: Any) -> None:
            original_streams_init(self, *args, **kwargs)
            self.shard_iterators = _BoundedIterators(self.shard_iterators)

        dynamodb_models.copy = types.SimpleNamespace(**{**vars(copy), "deepcopy": _deepcopy_sharing_tables})
        DynamoDBBackend.transact_write_items = transact_write_items
        StreamShard.__init__ = shard_init
        DynamoDBStreamsBackend.__init__ = streams_init
        Table.query = query
        Table.all_items = all_items
        Table.put_item = put_item
        Table.delete_item = delete_item
        DynamoDBBackend.update_item = update_item
        for model in UNTRACKED_MODELS:
            model.__new__ = staticmethod(_new_untracked)
        _applied = True


def trim_stream(stream_arn: str, shard_id: str, through_sequence_number: str) -> None:
    """Drop the shard's records up to and including this sequence number (a consumer has them).

    Does nothing on a shard the patch did not make (a table created before `apply()`).
    """
    _, _, _, region, account, resource = stream_arn.split(":", 5)
    table = dynamodb_backends[account][region].get_table(resource.split("/")[1])
    shard = table.stream_shard
    if shard is None or shard.id != shard_id:
        raise ValueError(f"{stream_arn} has no shard {shard_id}")
    if isinstance(shard.items, StreamRecords):
        shard.items.drop_before(int(through_sequence_number) - shard.starting_sequence_number + 1)
