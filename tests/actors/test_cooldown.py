"""The per-user reply cooldown: one answer per user per period, bounded memory."""

from __future__ import annotations

import pytest

from actors.cooldown import ReplyCooldown


def test_one_answer_per_user_per_period() -> None:
    """A second answer to the same user waits for the cooldown; others are not affected."""
    cd = ReplyCooldown(60.0)
    assert cd.try_acquire(1, 1000.0)
    assert not cd.try_acquire(1, 1059.9)
    assert cd.try_acquire(2, 1010.0)
    assert cd.ready(1, 1060.0)
    assert cd.try_acquire(1, 1060.0)


def test_release_gives_the_answer_back() -> None:
    """An answer that was never sent (pool rejected it) does not count."""
    cd = ReplyCooldown(60.0)
    assert cd.try_acquire(1, 1000.0)
    cd.release(1, 1000.0)
    assert cd.try_acquire(1, 1001.0)
    cd.release(1, 1000.0)  # not the recorded one: no effect
    assert not cd.try_acquire(1, 1002.0)


def test_clock_going_backwards_does_not_mute() -> None:
    """A clock that steps back counts as ready rather than muting the user."""
    cd = ReplyCooldown(60.0)
    assert cd.try_acquire(1, 1000.0)
    assert cd.try_acquire(1, 900.0)


def test_zero_cooldown_always_answers() -> None:
    """A cooldown of 0 disables it."""
    cd = ReplyCooldown(0.0)
    assert all(cd.try_acquire(1, 5.0) for _ in range(3))


def test_memory_is_bounded() -> None:
    """Past max_users the oldest entries go; expired ones go first."""
    cd = ReplyCooldown(60.0, max_users=3)
    for uid in range(10):
        assert cd.try_acquire(uid, 1000.0 + uid)
    assert len(cd) == 3
    assert cd.try_acquire(99, 5000.0)
    assert len(cd) == 1


@pytest.mark.parametrize(("cooldown", "users"), [(-1.0, 10), (float("nan"), 10), (1.0, 0)])
def test_bad_arguments(cooldown: float, users: int) -> None:
    """A negative or NaN cooldown, or room for no user, is refused."""
    with pytest.raises(ValueError):
        ReplyCooldown(cooldown, max_users=users)
