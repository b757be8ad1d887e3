"""Opt-out speed patch for moto 5.2.5's DynamoDB base-table Query (issue 6: the 5x end-to-end bench).

The problem: ``Table.query`` (moto/dynamodb/models/table.py) starts every base-table Query with
``self.all_items()``, which SORTS THE WHOLE TABLE (every comparison builds ``Decimal`` objects), keeps the queried
partition, sorts it again, then walks every item of the partition computing ``Item.size()`` and the key comparison.
A Query's cost grows with the table, not with its result: ~87% of moto's time in the 5x bench run.

The patch leaves moto's ``Table.query`` in charge and only SHRINKS ITS CANDIDATE LIST. For a base-table Query
(no ``IndexName``, no legacy ``QueryFilter``/``KeyConditions`` extras, ``Limit`` absent or >= 1) a wrapper around
``Table.query`` computes, before calling the original, the candidates moto's loop can be influenced by, and puts
them in a thread-local hint; the patched ``Table.all_items`` hands exactly that list to the original code (once; any
other caller gets moto's own ``all_items``). Moto's own sort, pagination, Limit, size limit, ScannedCount,
LastEvaluatedKey, deepcopy, FilterExpression and projection then run unchanged.

Why the shrunk list gives identical results (checked against moto 5.2.5's source; ``install`` refuses other
versions). Let L be the queried partition in moto's iteration order (sorted by range key, reversed when
``ScanIndexForward`` is false) and M the items whose key passes the range comparison moto applies (the same
``get_comparison_func(op)(value.cast_value, *operands)`` on the same attribute value moto picks):

* The partition is found by dict lookup ``table.items[hash_key]``: DynamoType's ``__hash__``/``__eq__`` are
  (type, cast value), exactly moto's filter ``item.hash_key == hash_key`` over all items (one partition per key).
* Order: range keys in a partition are distinct (dict keys), so sorting by ``range_key.cast_value`` is the order
  moto's sorts (``DynamoType.__lt__`` compares ``cast_value``) produce; moto re-sorts the hint (stable, no-op).
* Items of L before the first item of M: at that point moto has no results, so neither the ``Limit`` check
  (``len(results) == limit``, limit >= 1) nor the 1 MB size check (items are capped at 405,000 bytes by moto's
  ``LimitedSizeDict``) can fire, and they are never appended; the ExclusiveStartKey skip is monotone along L
  (``_item_comes_before_dct`` compares with the same order), so removing items does not change which others are
  skipped. They are dropped.
* From the first to the last item of M (inclusive, non-matching items between kept): kept as they are.
* After the last item of M: results no longer change; the first following item can trip the Limit check (moto
  then returns a LastEvaluatedKey even though nothing more matches), so it is kept; any later item can only trip
  the size check, which needs ``size(M) + size(item) > 1,000,000``: when ``size(M) + 405,000`` could exceed it,
  the whole tail is kept.
* No item of M: nothing is appended and no check can fire; the hint is empty.

Other effect: the partition is copied with ``list(partition.values())`` (one C call under the GIL), so a
base-table Query no longer iterates the live table dicts that a concurrent BatchWriteItem may grow; moto's
``RuntimeError: dictionary changed size during iteration`` cannot come from that iteration any more.

What is still slow (py-spy on the 5x bench run with this patch): moto's generic response serializer (~40% of
moto's GIL time, item by item for every Query result), ``Item.project`` (~20%) and the ``deepcopy`` of results
(~12%). They scale with the result, not the table, and are left to moto.

Switch: environment ``MDP_MOTO_SPEEDUPS=0`` makes ``install()`` a no-op (moto runs unpatched). ``set_enabled`` flips
the patch at run time (the equivalence test runs every query both ways). Proof:
``tests/bench/test_moto_speedups.py`` (hypothesis: random tables, key conditions, Limit, direction, pagination,
projections, filters, big items; patched == unpatched page by page).
"""

import inspect
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MOTO_VERSION = "5.2.5"
"""The moto version whose ``Table.query``/``all_items`` this patch was checked against."""

ENV_SWITCH = "MDP_MOTO_SPEEDUPS"
"""Set to ``0`` to leave moto unpatched."""

MAX_ITEM_BYTES = 405_000
"""moto's item size cap (``LimitedSizeDict`` in moto/dynamodb/models/dynamo_type.py)."""

_lock = threading.Lock()
_hint = threading.local()
_state: dict[str, Any] = {"installed": False, "enabled": True, "hinted": 0, "fallback": 0}


def env_enabled() -> bool:
    """False when ``MDP_MOTO_SPEEDUPS`` is ``0``/``false``/``no``/``off``."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def set_enabled(on: bool) -> None:
    """Turn the installed patch on or off at run time (off: every call goes straight to moto's code)."""
    _state["enabled"] = bool(on)


@contextmanager
def disabled() -> Iterator[None]:
    """Run a block with the patch off (restores the previous setting)."""
    before = _state["enabled"]
    _state["enabled"] = False
    try:
        yield
    finally:
        _state["enabled"] = before


def stats() -> dict[str, int]:
    """How many base-table Queries used the hint, and how many went to moto's code unchanged."""
    return {"hinted": int(_state["hinted"]), "fallback": int(_state["fallback"])}


def installed() -> bool:
    """Whether ``install()`` patched moto in this process."""
    return bool(_state["installed"])


def _candidates(table: Any, a: dict[str, Any]) -> list[Any] | None:
    """The shrunk candidate list for one ``Table.query`` call, or None to leave moto's code untouched."""
    from moto.dynamodb.comparisons import get_comparison_func
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT

    if a.get("index_name") or a.get("filter_kwargs"):
        return None  # index queries and legacy QueryFilter/KeyConditions extras: moto's code unchanged
    hash_key = a.get("hash_key")
    limit = a.get("limit")
    if hash_key is None or (limit is not None and (not isinstance(limit, int) or limit < 1)):
        return None
    range_key_conditions = a.get("range_key_conditions") or []
    compare_attr = range_key_conditions[-1][0] if range_key_conditions else None
    range_comparison = a.get("range_comparison")
    if not table.range_key_attr:
        if range_comparison:
            return None
        single = table.items.get(hash_key)
        return [] if single is None else [single]
    if compare_attr is not None and compare_attr != table.range_key_attr:
        return None
    part = table.items.get(hash_key)
    if part is None:
        return []
    items = list(part.values())  # one C-level copy: no iteration over a dict another thread may grow
    keyed = sorted(((it.range_key.cast_value, it) for it in items), key=lambda kv: kv[0])
    ordered = [it for _k, it in keyed]
    if a.get("scan_index_forward") is False:
        ordered.reverse()
    if range_comparison:
        func = get_comparison_func(range_comparison)
        if func is None:
            return None
        operands = [o.cast_value for o in a.get("range_objs") or []]
        matched = []
        for i, it in enumerate(ordered):
            # the value moto's loop compares: the condition's attribute if the item has it, else the range key
            value = it.attrs.get(compare_attr) if compare_attr else None
            if value is None:
                value = it.range_key
            if func(value.cast_value, *operands):
                matched.append(i)
    else:
        matched = list(range(len(ordered)))
    if not matched:
        return []
    first, last = matched[0], matched[-1]
    size_m = 0
    whole_tail = False
    for i in matched:
        size_m += ordered[i].size()
        if size_m + MAX_ITEM_BYTES > RESULT_SIZE_LIMIT:
            whole_tail = True
            break
    kept = ordered[first:] if whole_tail else ordered[first : last + 2]
    if a.get("scan_index_forward") is False:
        kept.reverse()  # back to ascending: moto sorts and reverses it itself
    return kept


def install() -> bool:
    """Patch moto's ``Table.query``/``Table.all_items`` once per process (idempotent).

    Returns True when the patch is active; False when ``MDP_MOTO_SPEEDUPS=0`` or moto is not version 5.2.5
    (then moto is left alone: the equivalence argument was made against that version's source).
    """
    if not env_enabled():
        return False
    import moto
    from moto.dynamodb.models.table import Table

    if getattr(moto, "__version__", "") != MOTO_VERSION:
        return False
    with _lock:
        if _state["installed"]:
            return True
        orig_query = Table.query
        orig_all_items = Table.all_items
        sig = inspect.signature(orig_query)

        def query(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not _state["enabled"]:
                return orig_query(self, *args, **kwargs)
            try:
                bound = sig.bind(self, *args, **kwargs)
            except TypeError:
                return orig_query(self, *args, **kwargs)  # let moto raise its own error
            cand = _candidates(self, dict(bound.arguments))
            if cand is None:
                _state["fallback"] += 1
                return orig_query(self, *args, **kwargs)
            _state["hinted"] += 1
            _hint.value = (self, cand)
            try:
                return orig_query(self, *args, **kwargs)
            finally:
                _hint.value = None

        def all_items(self: Any) -> Any:
            h = getattr(_hint, "value", None)
            if h is not None and h[0] is self:
                _hint.value = None
                return list(h[1])
            return orig_all_items(self)

        query.__doc__ = f"moto's Table.query with a shrunk candidate list ({__name__})."
        all_items.__doc__ = (
            f"moto's Table.all_items, or the candidate hint of the running query ({__name__})."
        )
        Table.query = query  # type: ignore[method-assign]
        Table.all_items = all_items  # type: ignore[method-assign]
        _state["installed"] = True
    return True
