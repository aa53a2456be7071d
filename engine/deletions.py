"""Deleted messages stop counting as conversation (issue 20).

A message a moderator deleted (a spam raid bulk-deleted, say) was never conversation: the
engine takes back what it counted for it, from the per-second bucket it sits in (and so from
``msgs_5m`` / ``msgs_1h`` while it is inside them) and from ``messages_since_appearance``.

Only what was counted is taken back. Counting a human message with its id remembers the id
in ``GuildState.counted``: the ids of the last ``MAX_COUNTED`` (1,024) human messages
counted one by one, oldest first; past 64, a Discord id made over an hour before goes (its
message left the windows), so a guild keeps about its last hour's ids. An id not there (a
bot's or her own message, a message outside her channel, one already taken back, one counted
in a coalesced run with no id, one that left, or one counted before a restore) changes
nothing: the set is not written to snapshots (the largest snapshot the bounds allow is about
1.4 KB under ENGINE.md's 64 KB, and 1,024 ids would take 9 KB), so a deletion after a
restart cannot take back a message counted before it; those left the windows within the hour
anyway. Memory: at most 1,024 ids per guild (a dict, about 70 KB when full, in a raid); an
hour of ordinary chat (tens of messages) a few KB.

No time is stored per id: a Discord id (a snowflake) says when the message was made,
``(id >> 22) + 1420070400000`` milliseconds since the Unix epoch. The bucket taken from is the
first one with a message at or after that second and at most ``CLOCK_SLACK_S`` (a minute)
later (a message is counted when it arrives, a moment after it was made), else the last one
within a minute before it (the local clock a little behind Discord's); when neither exists
(the second left the hour) only the totals go down. Deletions also feed the room's tone
(``engine.tone``): a run of deleted messages is a content-free sign of trouble.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from engine.state import CLOCK_SLACK_S, MAX_COUNTED, GuildState, check_time, evict
from engine.tone import note_deleted

__all__ = [
    "DISCORD_EPOCH_MS",
    "MAX_COUNTED",
    "observe_deletions",
    "snowflake_time",
]

#: Discord's epoch, 2015-01-01T00:00:00Z, in Unix milliseconds.
DISCORD_EPOCH_MS = 1420070400000


def snowflake_time(message_id: int) -> float:
    """When a Discord id was made, in epoch seconds."""
    return ((message_id >> 22) + DISCORD_EPOCH_MS) / 1000.0


def observe_deletions(state: GuildState, now: float, message_ids: Iterable[int]) -> int:
    """Messages with these ids were deleted at ``now``: take back what was counted for each
    that was counted (each once). Returns how many were taken back.

    Raises:
        InvalidTimeError: ``now`` is not a valid time.
    """
    check_time(now)
    counted = state.counted
    if not counted:
        return 0
    gone = [m for m in dict.fromkeys(message_ids) if counted.pop(m, 0) is None]
    if not gone:
        return 0
    evict(state, int(now))
    secs, counts = state.b_secs, state.b_counts
    slack = int(CLOCK_SLACK_S)
    for mid in gone:
        made = snowflake_time(mid)
        sec = int(made)
        i = _bucket_of(secs, counts, sec, slack)
        if i >= 0:
            counts[i] -= 1
            if i >= state.head_5m:
                state.sum_5m -= 1
            if i >= state.head_1h:
                state.sum_1h -= 1
        state.human_messages = max(0, state.human_messages - 1)
        if made >= state.last_appearance_at and state.messages_since_appearance > 0:
            state.messages_since_appearance -= 1
    note_deleted(state, now, len(gone))
    return len(gone)


def _bucket_of(secs: list[int], counts: list[int], sec: int, slack: int) -> int:
    """The index of the bucket a message made at ``sec`` was most likely counted in, or -1."""
    n = len(secs)
    i = bisect_left(secs, sec)
    j = i
    while j < n and secs[j] <= sec + slack:
        if counts[j] > 0:
            return j
        j += 1
    j = i - 1
    while j >= 0 and secs[j] >= sec - slack:
        if counts[j] > 0:
            return j
        j -= 1
    return -1
