"""The rows of a snapshot batch as the stores bind them, shared by every backend: each row
checked (``contract.row_problem``, then the shard's lease), the refused ones noted with
their typed ``Refusal``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from runtime.store.contract import Refusal, check_wake, row_problem
from runtime.store.leases import HeldLeases, Standing

__all__ = ["Refused", "batch_rows"]


class Refused:
    """The rows of one batch a store refused: guild id -> reason in words and typed."""

    def __init__(self) -> None:
        self.words: dict[object, str] = {}
        self.kinds: dict[object, Refusal] = {}

    def __len__(self) -> int:
        return len(self.words)

    def add(self, guild_id: object, kind: Refusal, why: str) -> None:
        key = _key(guild_id)
        self.words[key] = why
        self.kinds[key] = kind


def batch_rows(items: Sequence[tuple[int, bytes]] | Sequence[tuple[int, bytes, float]],
               passivate: bool, now: float, held: HeldLeases | None, standing: Standing,
               refused: Refused) -> Iterator[tuple[int, bytes, float, float | None]]:
    """The rows to bind, ``(guild_id, data, now, wake_at)``, one at a time (a generator: a
    batch of 100,000 is never built as tuples up front); a row that cannot be written goes
    to ``refused`` instead."""
    for item in items:
        if passivate:
            g, d, w = item  # type: ignore[misc]
        else:
            (g, d), w = item, None  # type: ignore[misc]
        why = row_problem(g, d, w)
        if why is not None:
            refused.add(g, Refusal.BAD_ROW, why)
            continue
        if held is not None:
            problem = held.problem(g, standing)
            if problem is not None:
                refused.add(g, *problem)
                continue
        yield g, bytes(d), now, None if w is None else check_wake(w)


def _key(g: object) -> object:
    """``g`` as a key of the refused rows (its repr when it cannot be one)."""
    try:
        hash(g)
    except TypeError:
        return repr(g)
    return g
