"""The recent human messages the ``react`` rule may name (``engine.react``), ids only.

The last ``MAX_RECENT`` human message ids in her channel with their authors and seconds, when
the conversation burst began (the first human message after ``BURST_GAP_S`` without one), and
her last reaction. Nothing of the content; opted-out members' messages are never noted and
are forgotten when they opt out (``engine.state.forget_member``).
"""

from __future__ import annotations

from typing import Protocol

import msgspec

__all__ = [
    "BURST_GAP_S",
    "MAX_RECENT",
    "RECENT_S",
    "Recent",
    "candidate",
    "forget_author",
    "note_message",
    "note_reacted",
]

#: Human message ids kept for the react rule.
MAX_RECENT = 8
#: A message older than this is not reacted to (the chat has moved on).
RECENT_S = 300.0
#: A pause this long between human messages ends a conversation burst.
BURST_GAP_S = 600.0


class Recent(msgspec.Struct, array_like=True, gc=False):
    """A recent human message in her channel: its id, its author's id, its second."""

    message_id: int
    author_id: int
    at: int


class GuildState(Protocol):
    """What of ``engine.state.GuildState`` these functions read and write (that module
    imports this one)."""

    recent: list[Recent]
    last_human_at: float
    burst_since: float
    reacted_at: float


def note_message(state: GuildState, now: float, message_id: int, author_id: int) -> None:
    """A human's message ``message_id`` by ``author_id`` in her channel, at ``now``: a message
    she may react to. Call it before ``observe_message`` counts the message (the burst is told
    by the gap since the previous human message). Only for humans who are not opted out:
    never her own message or a bot's. A ``message_id`` of 0 (unknown) is not kept."""
    if now - state.last_human_at >= BURST_GAP_S:
        state.burst_since = now
    if message_id <= 0:
        return
    recent = state.recent
    recent.append(Recent(message_id, author_id, int(now)))
    if len(recent) > MAX_RECENT:
        del recent[0]


def forget_author(state: GuildState, user_id: int) -> None:
    """``user_id`` opted out or left: none of their messages is a react target any more."""
    if any(r.author_id == user_id for r in state.recent):
        state.recent = [r for r in state.recent if r.author_id != user_id]


def note_reacted(state: GuildState, now: float) -> None:
    """She reacted at ``now``: no other reaction in this burst."""
    if now > state.reacted_at:
        state.reacted_at = now


def candidate(state: GuildState, now: float) -> Recent | None:
    """The newest human message of the last ``RECENT_S`` she may react to, or None."""
    recent = state.recent
    if not recent:
        return None
    newest = recent[-1]
    if newest.at < now - RECENT_S or newest.at > now + 60.0:
        return None
    return newest
