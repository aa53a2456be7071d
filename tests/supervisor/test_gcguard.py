"""The GC guard: survivors of middle-generation passes are frozen; it undoes itself."""

from __future__ import annotations

import gc

from runtime.supervisor.gcguard import GCGuard


def test_guard_freezes_survivors_and_is_undone_by_its_last_holder() -> None:
    """While held, a middle-generation collection freezes what survived it (so full
    collections have little to walk); nested holders share it; the last release restores
    the thresholds and gives the frozen objects back."""
    before = gc.get_threshold()
    gc.collect()
    GCGuard.hold()
    held = 1
    try:
        GCGuard.hold()
        held = 2
        frozen = gc.get_freeze_count()
        keep = [[i] for i in range(1000)]  # tracked objects that survive
        gc.collect(1)
        assert gc.get_freeze_count() >= frozen + 1000
        assert gc.get_threshold()[1] == 3
        GCGuard.release()
        held = 1
        assert gc.get_threshold()[1] == 3  # still held once
    finally:
        for _ in range(held):
            GCGuard.release()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert len(keep) == 1000


class _Node:
    """A cycle's link, with a weak reference we can watch die."""

    def __init__(self) -> None:
        self.other: _Node | None = None


def test_garbage_frozen_by_the_guard_is_reclaimed_once_it_has_grown() -> None:
    """Cycles that survived a middle-generation pass (frozen) and were then dropped (a
    reconnect's Guild and Member objects) are collected by ``thaw_if_grown`` once the frozen
    objects grew past the threshold; below it nothing is done (no full pause for nothing)."""
    import weakref

    gc.collect()
    GCGuard.hold()
    try:
        nodes = []
        for _ in range(5000):
            a, b = _Node(), _Node()
            a.other, b.other = b, a
            nodes.append(a)
        watch = weakref.ref(nodes[0])
        gc.collect(1)  # they survive a middle pass: frozen
        frozen = gc.get_freeze_count()
        assert frozen >= 10_000
        del nodes, a, b
        gc.collect()  # a full pass cannot see frozen objects
        assert watch() is not None
        assert GCGuard.thaw_if_grown(growth=10 * frozen) == 0 and watch() is not None
        reclaimed = GCGuard.thaw_if_grown(growth=1000)
        assert reclaimed >= 10_000 and watch() is None
        assert GCGuard.thaw_if_grown(growth=1000) == 0  # the baseline moved: nothing grew
    finally:
        GCGuard.release()
    assert gc.get_freeze_count() == 0
