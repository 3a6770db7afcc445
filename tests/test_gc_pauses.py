"""Freezing start-up objects out of the garbage collector's way (bot/gc_pauses.py, used by all three servers)."""

from __future__ import annotations

import gc
import weakref

from bot.gc_pauses import freeze_long_lived, thaw


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def _tracked(obj: object) -> bool:
    """Whether the collector walks `obj` in its collections (frozen objects are not among them)."""
    return any(o is obj for o in gc.get_objects())


def test_freezing_exempts_what_is_alive_and_still_collects_what_comes_later():
    before = _Node()
    try:
        frozen = freeze_long_lived("test")
        assert frozen == gc.get_freeze_count() > 0
        assert not _tracked(before)
        later = weakref.ref(_Node())
        gc.collect()
        assert later() is None  # garbage made after the freeze is freed as usual
    finally:
        thaw()
    assert gc.get_freeze_count() == 0
    assert _tracked(before)
