"""Two pollers on one stream: a change is forgotten only once both have consumed it."""

from shared.local.stream_poller import SharedTrim


def test_the_stream_is_trimmed_to_the_slower_pollers_position():
    trimmed = []
    trim = SharedTrim(["indexer", "events"], lambda shard, sequence: trimmed.append((shard, sequence)))
    indexer, events = trim.consumed("indexer"), trim.consumed("events")

    indexer("shard-1", "300")
    assert trimmed == []  # the events poller has consumed nothing yet
    events("shard-1", "200")
    indexer("shard-1", "500")
    events("shard-1", "900")

    assert trimmed == [("shard-1", "200"), ("shard-1", "200"), ("shard-1", "500")]
