"""A thread-safety fix for moto 5.2.5's DynamoDB behind ``ThreadedMotoServer`` (the local stack's moto).

``ThreadedMotoServer`` (werkzeug) serves every request in a thread of its own, and moto's in-memory backends take
no lock. A table keeps its items in ``Table.items``, a ``defaultdict(dict)`` from partition key (``DynamoType``) to
``{range key: Item}`` (moto/dynamodb/models/table.py). The first write to a partition key creates that inner dict in
``defaultdict.__missing__`` (``put_item`` reaches it through ``get_item``'s ``self.items[hash_key][range_key]``), and
that is not atomic: ``DynamoType.__hash__``/``__eq__`` are Python code, so the interpreter may switch threads between
"the key is missing" and the insertion. When two requests write the same NEW partition key at once, each thread
inserts a dict of its own and the later insertion replaces the earlier dict, with every item already put into it:
moto answered 200 (and no ``UnprocessedItems``) for puts it then no longer has. On DynamoDB a put missing from
``UnprocessedItems`` was done ("If any requested operations fail because the table's provisioned throughput is
exceeded or an internal processing failure occurs, the failed operations are returned in the UnprocessedItems response
parameter", https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html), which is what
DataProcessor relies on; the loss is moto's race, not the pipeline's.

Seen in ``tests/faults/test_hot_symbol.py`` on a loaded machine: the first second of the hot symbol's stream went to
moto as two concurrent BatchWriteItem calls (the fault proxy's partition bucket admitted 25 + 15 items), the new
partition ``HOTSYM`` was created by both, and the 15 ticks of the second call (ticks 25..39 of the stream) were gone
although DataProcessor had been told they were written. Reproduction and regression test:
``tests/handlers_moto/test_moto_threadsafe.py``.

The fix: every table's ``items`` is a ``_Partitions`` (a ``defaultdict`` subclass) whose ``__missing__`` creates the
partition under a lock and returns the one another thread created first, if any. Lookups of existing partitions and
the item writes themselves (``dict.__setitem__`` on the partition) are unchanged. Not switchable: it changes no answer
of moto, it only stops it dropping writes.
"""

import threading
from collections import defaultdict
from typing import Any

MOTO_VERSION = "5.2.5"
"""The moto version whose ``Table.__init__``/``Table.items`` this fix was checked against. Deliberately its own
constant, not ``moto_speedups.MOTO_VERSION``: each patch is read against moto's source on its own, so a moto upgrade
must re-check each one (and may re-check one and not the other)."""

_lock = threading.Lock()
"""Serialises partition creation (and ``install``)."""
_state = {"installed": False}
_MISSING = object()


class _Partitions(defaultdict):  # type: ignore[type-arg]
    """``Table.items`` whose missing partitions are created once, whatever the threads (module docstring)."""

    def __missing__(self, key: Any) -> Any:
        """The partition of ``key``: created under the lock, or the one another thread created meanwhile."""
        with _lock:
            found = dict.get(self, key, _MISSING)
            if found is not _MISSING:
                return found
            partition: dict[Any, Any] = {}
            dict.__setitem__(self, key, partition)
            return partition


def installed() -> bool:
    """Whether ``install()`` patched moto in this process."""
    return bool(_state["installed"])


def install() -> bool:
    """Make every moto DynamoDB table created from now on in this process use ``_Partitions`` (idempotent).

    Returns True when the fix is active; False when moto is not version 5.2.5 (moto is then left alone: the race and
    the fix were checked against that version's source; ``tests/handlers_moto/test_moto_threadsafe.py`` fails, so an upgrade
    cannot go unnoticed).
    """
    import moto
    from moto.dynamodb.models.table import Table

    if getattr(moto, "__version__", "") != MOTO_VERSION:
        return False
    with _lock:
        if _state["installed"]:
            return True
        orig_init = Table.__init__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
            orig_init(self, *args, **kwargs)
            self.items = _Partitions(dict, self.items)

        __init__.__doc__ = f"moto's Table.__init__, then items made a _Partitions ({__name__})."
        Table.__init__ = __init__  # type: ignore[method-assign]
        _state["installed"] = True
    return True
