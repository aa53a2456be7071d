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
