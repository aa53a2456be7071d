"""She answers one person at most once per cooldown: nobody can make her spam.

Pure: time is passed in. Memory is bounded: at most ``max_users`` entries per instance, the
oldest dropped first (an entry older than the cooldown is worthless anyway).
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["ReplyCooldown"]


class ReplyCooldown:
    """Per-user reply cooldown.

    Args:
        cooldown_s: seconds between two answers to the same user (0 disables the cooldown).
        max_users: the most users remembered at once.
    """

    __slots__ = ("_last", "cooldown_s", "max_users")

    def __init__(self, cooldown_s: float, *, max_users: int = 4096) -> None:
        if not cooldown_s >= 0:
            raise ValueError(f"cooldown_s must be >= 0, got {cooldown_s!r}")
        if max_users < 1:
            raise ValueError(f"max_users must be >= 1, got {max_users!r}")
        self.cooldown_s = float(cooldown_s)
        self.max_users = max_users
        # user -> when she last answered them; oldest first.
        self._last: OrderedDict[int, float] = OrderedDict()

    def ready(self, user_id: int, now: float) -> bool:
        """Whether she may answer ``user_id`` at ``now`` (does not count as an answer)."""
        last = self._last.get(user_id)
        return last is None or now - last >= self.cooldown_s or now < last

    def try_acquire(self, user_id: int, now: float) -> bool:
        """If she may answer ``user_id`` at ``now``, record the answer and return True;
        else return False and change nothing. A clock that went backwards counts as ready
        (better one extra answer than a user muted until the clock catches up)."""
        if not self.ready(user_id, now):
            return False
        last = self._last
        last[user_id] = now
        last.move_to_end(user_id)
        # Expired entries at the front go first; past the cap the oldest goes anyway.
        while last:
            uid, at = next(iter(last.items()))
            if len(last) > self.max_users or (now - at >= self.cooldown_s and uid != user_id):
                del last[uid]
            else:
                break
        return True

    def release(self, user_id: int, at: float) -> None:
        """Forget the answer recorded for ``user_id`` at ``at`` (it was never sent)."""
        if self._last.get(user_id) == at:
            del self._last[user_id]

    def __len__(self) -> int:
        return len(self._last)
