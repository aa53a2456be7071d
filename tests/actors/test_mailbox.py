"""The bounded mailbox: never blocks, never loses count."""

from __future__ import annotations

import anyio
import pytest
from anyio.lowlevel import checkpoint

from actors.events import (
    ActionFinished,
    MemberJoined,
    MessagesCoalesced,
    MessageSeen,
    MoodSet,
    PresenceChanged,
    Stop,
)
from actors.mailbox import Mailbox, MailboxClosed

T0 = 1_700_000_000.0


def human(at: float, author: int = 5) -> MessageSeen:
    return MessageSeen(guild_id=1, channel_id=2, author_id=author, at=at)


def counted_messages(items: list[object]) -> int:
    n = 0
    for e in items:
        if isinstance(e, MessageSeen) and not e.author_is_bot and not e.is_self:
            n += 1
        elif isinstance(e, MessagesCoalesced):
            n += e.count
    return n


def test_capacity_must_be_positive() -> None:
    """A mailbox with no room is a configuration error, named as such."""
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        Mailbox(1, capacity=0)


def test_overflowing_human_messages_are_coalesced_per_second_and_counted_exactly() -> None:
    """Past the bound, human messages merge into one count per second: none is lost."""
    mb = Mailbox(1, capacity=10)
    sent = 0
    for i in range(5000):
        mb.put_nowait(human(T0 + i * 0.01))  # 100 per second over 50 s
        sent += 1
    items = mb.drain()
    assert counted_messages(items) == sent
    coalesced = [e for e in items if isinstance(e, MessagesCoalesced)]
    assert all(int(c.first_at) == int(c.last_at) for c in coalesced)
    assert len(items) <= 10 + 51
    st = mb.statistics()
    assert st.coalesced == sent - 10
    assert st.overflowed == sent - 10
    assert st.delivered == sent
    assert st.depth == 0


def test_results_moods_and_control_are_never_dropped_when_full() -> None:
    """Mood changes, action results, stops and her own messages pass the bound."""
    mb = Mailbox(1, capacity=2)
    mb.put_nowait(human(T0))
    mb.put_nowait(human(T0))
    keep = [MoodSet(1, "shy", T0), ActionFinished(1, 7, "break_silence", "sent", T0), Stop(1),
            MessageSeen(1, 2, 99, T0, is_self=True)]
    for e in keep:
        mb.put_nowait(e)
    mb.put_nowait(PresenceChanged(1, 5, T0, activity="game"))
    mb.put_nowait(MemberJoined(1, 6, T0))
    mb.put_nowait(MessageSeen(1, 2, 8, T0, author_is_bot=True))
    items = mb.drain()
    for e in keep:
        assert e in items
    st = mb.statistics()
    assert st.dropped == 3
    assert st.high_water == 6


def test_closed_mailbox_refuses_loudly() -> None:
    """After close, delivering raises instead of vanishing."""
    mb = Mailbox(3)
    mb.put_nowait(human(T0))
    assert len(mb.close()) == 1
    with pytest.raises(MailboxClosed, match="guild 3"):
        mb.put_nowait(human(T0))


@pytest.mark.anyio
async def test_wait_wakes_on_delivery_and_returns_at_once_when_not_empty() -> None:
    """A waiting receiver wakes when an event arrives; drain takes the whole burst."""
    mb = Mailbox(1)
    got: list[object] = []

    async def receiver() -> None:
        await mb.wait()
        got.extend(mb.drain())

    async with anyio.create_task_group() as tg:
        tg.start_soon(receiver)
        await anyio.wait_all_tasks_blocked()
        assert got == []
        for i in range(3):
            mb.put_nowait(human(T0 + i))
    assert len(got) == 3
    mb.put_nowait(human(T0))
    with anyio.fail_after(1):
        await mb.wait()  # already non-empty: no wait
    await checkpoint()
    assert len(mb.drain()) == 1
