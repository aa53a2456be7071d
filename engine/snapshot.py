"""Snapshots: a guild's state as msgpack bytes, and back, from this schema or the last two.

Version 3 (this one) differs from version 2 in two things that keep the largest snapshot the
bounds allow under 64 KB (it was 89.6 KB): the per-second message buckets are written as the
first second and then the gaps between seconds (a byte each for a busy hour, where a second
took five), without the buckets that already left the hour; and the online set holds at most
2,048 ids (the bitmap counts the others). Version 2 differed from version 1 in: "never" is
``NEVER`` instead of 0.0 (so epoch 0 is a time), engaged activities are digests with when
they were engaged, announcements are remembered, opportunities keep their roll, the online
set has a bitmap past its cap, the no-monologue mark, the day's action times and the learned
hours. Version 3 later gained user affinity (``affinity``, at most 256 people) and the room's
tone (``tone``: two numbers and a time, ``engine.tone``) without a new number: a version 3
snapshot written before decodes with none, and a build from before ignores them. The ids kept
to take back deleted messages and removed reactions (``counted``, ``reacted``) are written
empty: they live only while the guild does. Versions 1 and 2 are migrated on decode
(``_from_v1``, ``_from_v2``); a snapshot of any other version is a ``SnapshotVersionError``.
"""

from __future__ import annotations

from itertools import accumulate, islice, pairwise
from operator import sub
from typing import Any

import msgspec

from engine.affinity import MAX_AFFINITY, MAX_IGNORED_ROW, MAX_SCORE
from engine.errors import SnapshotError, SnapshotVersionError
from engine.hours import HOURS_IN_WEEK
from engine.moods import MOODS
from engine.presence import (
    ACTIVITY_MAX_CHARS,
    MAX_ANNOUNCED,
    clean_activity,
    engaged_key,
    set_online_bit,
)
from engine.recent import MAX_RECENT
from engine.state import (
    _COMPACT_AT,
    MAX_ACTIONS_PER_DAY,
    MAX_ENGAGED,
    MAX_ONLINE,
    MAX_OPPORTUNITIES,
    MAX_TIME,
    NEVER,
    SCHEMA_VERSION,
    WINDOW_1H,
    GuildState,
    check_time,
    compact_buckets,
)
from engine.tone import MAX_TONE

__all__ = ["decode_state", "encode_state", "restore_state"]


class _Header(msgspec.Struct):
    version: object = None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(GuildState)
_header_decoder = msgspec.msgpack.Decoder(_Header)
_any_decoder = msgspec.msgpack.Decoder(dict[str, Any])


def encode_state(state: GuildState) -> bytes:
    """The state as msgpack, with its schema version (the buckets that left the hour are
    dropped from the state first: they count for nothing)."""
    if state.head_1h:
        compact_buckets(state)
    secs = state.b_secs
    # What is kept only while the guild is live (engine.deletions, engine.tone) is written
    # empty. The state's own lists are put back whatever happens.
    counted, reacted = state.counted, state.reacted
    if counted or reacted:
        state.counted, state.reacted = {}, {}
    try:
        if not secs:  # (every bucket may just have left the hour)
            return _encoder.encode(state)
        # On the wire the seconds are the first one and then the gaps: small numbers, a byte
        # each.
        state.b_secs = [secs[0], *map(sub, islice(secs, 1, None), secs)]
        return _encoder.encode(state)
    finally:
        state.b_secs = secs
        state.counted, state.reacted = counted, reacted


def decode_state(data: bytes) -> GuildState:
    """Decode a snapshot written by ``encode_state`` (this version or the previous one).

    Raises:
        SnapshotVersionError: the snapshot has a schema version this build cannot read.
        SnapshotError: the bytes are corrupt or do not describe a usable guild state (an
            unknown mood, a bad time, buckets that do not add up, an unbounded list).
    """
    try:
        header = _header_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise SnapshotError(f"corrupt bytes ({exc})") from None
    try:
        if header.version == SCHEMA_VERSION:
            state = _decoder.decode(data)
            if state.b_secs:
                state.b_secs = list(accumulate(state.b_secs))
        elif header.version == 2:
            state = _from_v2(_decoder.decode(data))  # the same fields, read as written
        elif header.version == 1:
            state = _from_v2(_from_v1(_any_decoder.decode(data)))
        else:
            raise SnapshotVersionError(header.version, SCHEMA_VERSION)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SnapshotError(str(exc)) from None
    problem = _inconsistency(state)
    if problem:
        raise SnapshotError(problem)
    state.opportunities.sort(key=lambda o: o.at)  # in order of opening (engine.presence)
    if state.engaged and state.opportunities:  # written before engaging closed them
        engaged = state.engaged
        state.opportunities = [o for o in state.opportunities
                               if engaged_key(o.user_id, o.activity) not in engaged]
    return state


def _from_v2(state: GuildState) -> GuildState:
    """A version 2 state (seconds written whole; up to 4,096 online ids): the ids past
    today's cap go to the bitmap, as ``seed_online`` puts them."""
    state.version = SCHEMA_VERSION
    if len(state.online) > MAX_ONLINE:
        keep = sorted(state.online)
        state.online = set(keep[:MAX_ONLINE])
        for uid in keep[MAX_ONLINE:]:
            set_online_bit(state, uid)
    return state


_NEVER_IN_V1 = ("last_human_at", "last_join_at", "last_action_at", "last_appearance_at")


def _from_v1(raw: dict[str, Any]) -> GuildState:
    """A version 1 state: 0.0 meant never; engaged keys were "user:activity" strings."""
    for name in _NEVER_IN_V1:
        value = raw.get(name, 0.0)
        if isinstance(value, (int, float)) and value <= 0:
            raw[name] = NEVER
    times = [v for k in (*_NEVER_IN_V1, "observed_since") if isinstance(v := raw.get(k), float)]
    latest = max(times, default=NEVER)
    when = int(raw["last_action_at"]) if isinstance(raw.get("last_action_at"), float) \
        and raw["last_action_at"] >= 0 else 0
    engaged: dict[str, int] = {}
    for text in raw.get("engaged", ()):
        if not isinstance(text, str) or ":" not in text:
            raise SnapshotError(f"version 1 engaged key {text!r} is not 'user:activity'")
        user, _, what = text.partition(":")
        if not user.isdigit():
            raise SnapshotError(f"version 1 engaged key {text!r} is not 'user:activity'")
        engaged[engaged_key(int(user), None if what == "join" else what)] = when
    raw["engaged"] = engaged
    for o in raw.get("opportunities", ()):
        if isinstance(o, dict) and isinstance(o.get("activity"), str):
            o["activity"] = clean_activity(o["activity"])
    raw["latest_at"] = latest
    raw["version"] = SCHEMA_VERSION
    return msgspec.convert(raw, GuildState)


#: An opportunity's last presence status seen ("": none yet).
_STATUSES = frozenset({"", "online", "idle", "dnd", "offline"})
_TIME_FIELDS = (
    "observed_since", "next_rotation_at", "pending_deadline", "grace_until", "backoff_until",
    "share_backoff_until",
)
_MAYBE_NEVER = ("last_human_at", "last_join_at", "last_action_at", "last_appearance_at",
                "unprompted_at", "latest_at", "burst_since", "reacted_at")


def _inconsistency(state: GuildState) -> str:
    """What makes a decoded state unusable, or "" (a snapshot is data from outside)."""
    if state.mood not in MOODS:
        return f"unknown mood {state.mood!r}"
    for name in _TIME_FIELDS:
        value = getattr(state, name)
        if not 0.0 <= value < MAX_TIME:
            return f"{name} is {value!r}, not a valid time"
    for name in _MAYBE_NEVER:
        value = getattr(state, name)
        if value != NEVER and not 0.0 <= value < MAX_TIME:
            return f"{name} is {value!r}, not a valid time or never"
    secs, counts = state.b_secs, state.b_counts
    if len(secs) != len(counts):
        return "message buckets: seconds and counts differ in length"
    if not 0 <= state.head_1h <= state.head_5m <= len(secs):
        return "message buckets: window heads out of range"
    if any(c < 0 for c in counts) or any(b <= a for a, b in pairwise(secs)):
        return "message buckets: negative counts or seconds out of order"
    if sum(counts[state.head_5m:]) != state.sum_5m or sum(counts[state.head_1h:]) != state.sum_1h:
        return "message buckets: window sums do not match the buckets"
    if (len(secs) > WINDOW_1H + _COMPACT_AT or len(state.online) > MAX_ONLINE
            or len(state.opportunities) > MAX_OPPORTUNITIES or len(state.engaged) > MAX_ENGAGED
            or len(state.announced) > MAX_ANNOUNCED
            or len(state.day_actions) > MAX_ACTIONS_PER_DAY
            or len(state.recent) > MAX_RECENT):
        return "a list is longer than its bound"
    if len(state.affinity) > MAX_AFFINITY or not all(
            0 <= p.at < MAX_TIME and 0 <= p.warmth <= MAX_SCORE and 0 <= p.cold <= MAX_SCORE
            and -1 <= p.engaged_at < MAX_TIME and -1 <= p.ignored_at < MAX_TIME
            and 0 <= p.ignored_row <= MAX_IGNORED_ROW for p in state.affinity.values()):
        return "affinity: more than 256 people, or a score or time out of range"
    tone = state.tone
    if tone is not None and not (-MAX_TONE <= tone.score <= MAX_TONE
                                 and 0.0 <= tone.trouble <= MAX_TONE
                                 and 0.0 <= tone.at < MAX_TIME):
        return "tone: a score or time out of range"
    if state.counted or state.reacted:
        return "live-only fields (counted, reacted) in a snapshot"
    bits = state.online_bits
    if len(bits) not in (0, 1024) or state.online_extra != int.from_bytes(bits).bit_count():
        return "online bitmap: wrong size or count"
    if state.hours and (len(state.hours) != HOURS_IN_WEEK
                        or not all(-1 <= v <= 1000 for v in state.hours)):
        return "learned hours: not 168 values in -1..1000"
    if (state.hours_seen, state.hours_sum) != (sum(v >= 0 for v in state.hours),
                                               sum(v for v in state.hours if v >= 0)):
        return "learned hours: count or sum does not match"
    if any(o.activity is not None and len(o.activity) > ACTIVITY_MAX_CHARS
           for o in state.opportunities):
        return "an activity name is longer than 128 characters"
    if any(o.status not in _STATUSES for o in state.opportunities):
        return "an opportunity's presence status is not one Discord has"
    return ""


def restore_state(data: bytes, now: float, *, min_gap_s: float | None = None
                  ) -> tuple[GuildState, str | None]:
    """Decode a snapshot for a guild coming back to life at ``now``.

    A restored guild needs no cold-start grace. Given ``min_gap_s`` (the guild's
    ``GuildConfig.min_gap_s``), it waits one minimum gap from the restore
    (``grace_until = now + min_gap_s``): after a crash or a restart its snapshot may be older
    than its last action. Leave it None when the bytes are known to be the guild's latest
    state (a passivated guild woken by its timer): a grace there would push every wake-up
    back by a gap, and the guild would never act. The runtime may also push ``grace_until``
    later itself (e.g. to a restored guild's GuildReady plus one minimum gap). The pending
    action (if any) is cleared as failed, so a result lost with the old process cannot
    silence the guild for good.

    Returns:
        The state and the name of the pending action that was cleared (or None).

    Raises:
        InvalidTimeError: ``now`` is not a valid time.
        SnapshotError: as ``decode_state``.
    """
    check_time(now)
    state = decode_state(data)
    cleared = state.pending_action
    state.pending_action = None
    state.pending_deadline = 0.0
    state.grace_until = now + min_gap_s if min_gap_s is not None else 0.0
    return state, cleared
