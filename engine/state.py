"""Per-guild settings and state, and the pure functions that observe events into it.

Memory is bounded whatever the traffic: message counts live in per-second buckets covering
the last hour (at most 3,600 live buckets plus a compaction slack of 256), opportunities,
engaged targets and the online set are capped. The window sums always match the buckets from
the window heads on; the heads move when the windows are read (``evict``), so read the counts
through ``signals`` / ``msgs_5m`` / ``msgs_1h``, not from the fields. A flood of two million
messages in half an hour costs the same as 1,800 busy seconds.

Times are epoch seconds (floats). Every function that takes ``now`` rejects a negative, NaN
or infinite value with ``InvalidTimeError``; time going backwards is tolerated (a late event
counts in the newest bucket) rather than corrupting the windows.
"""

from __future__ import annotations

import math
from itertools import pairwise

import msgspec

from engine.errors import InvalidTimeError, SnapshotError, SnapshotVersionError
from engine.localtime import zone
from engine.moods import MOODS, profile_for

__all__ = [
    "MAX_ENGAGED",
    "MAX_ONLINE",
    "MAX_OPPORTUNITIES",
    "SCHEMA_VERSION",
    "GuildConfig",
    "GuildState",
    "Opportunity",
    "check_time",
    "close_opportunity",
    "decode_state",
    "encode_state",
    "engaged_key",
    "evict",
    "msgs_1h",
    "msgs_5m",
    "new_state",
    "observe_join",
    "observe_message",
    "observe_messages",
    "observe_presence",
    "restore_state",
    "seed_online",
    "set_mood",
]

SCHEMA_VERSION = 1

WINDOW_5M = 300
WINDOW_1H = 3600
#: Buckets are compacted once this many expired ones sit at the front of the lists.
_COMPACT_AT = 256
MAX_OPPORTUNITIES = 32
MAX_ENGAGED = 256
#: Who is online is tracked up to this many humans; past it the guild is simply "populated".
MAX_ONLINE = 4096

_INF = math.inf


class GuildConfig(msgspec.Struct, frozen=True, gc=False):
    """What the engine needs to know of a guild's settings.

    ``timezone`` is an IANA name (``UnknownTimezoneError`` when the tz database does not know
    it). ``quiet_hours`` is ``(start, end)`` in local whole hours, start inclusive, end exclusive,
    wrapping past midnight (``(23, 7)``); ``None`` for none. ``has_channel`` is false when
    the guild has no autonomous channel: such a guild takes no autonomous action.
    """

    timezone: str = "UTC"
    quiet_hours: tuple[int, int] | None = (1, 7)
    keywords: tuple[str, ...] = ("project diva", "hatsune miku", "vocaloid", "miku")
    min_gap_s: float = 30.0
    enabled: bool = True
    has_channel: bool = True
    rotate_moods: bool = True
    rotation_period_s: float = 3600.0

    def __post_init__(self) -> None:
        # A ValueError here becomes a msgspec.ValidationError when a config is decoded.
        zone(self.timezone)  # an unknown zone is an error now, not at 3 a.m.
        if self.quiet_hours is not None and not all(0 <= h <= 24 for h in self.quiet_hours):
            raise ValueError(f"quiet_hours must be whole hours in 0..24, got {self.quiet_hours}")
        if not 0.0 <= self.min_gap_s < _INF:
            raise ValueError(f"min_gap_s must be finite and >= 0, got {self.min_gap_s}")
        if not 0.0 < self.rotation_period_s < _INF:
            raise ValueError(
                f"rotation_period_s must be finite and > 0, got {self.rotation_period_s}")


class Opportunity(msgspec.Struct, gc=False):
    """Someone to engage: a human who started an activity (``activity`` set) or joined."""

    user_id: int
    at: float
    activity: str | None = None
    related: bool = False


class GuildState(msgspec.Struct, gc=False):
    """Everything the engine remembers about one guild. Encodes to msgpack for snapshots."""

    guild_id: int
    version: int = SCHEMA_VERSION
    mood: str = "neutral"
    #: When the guild was first observed: a silence counts from here if nothing happened yet.
    observed_since: float = 0.0
    next_rotation_at: float = 0.0
    # Per-second buckets of human messages; entries before the heads have left the windows.
    b_secs: list[int] = msgspec.field(default_factory=list)
    b_counts: list[int] = msgspec.field(default_factory=list)
    head_5m: int = 0
    head_1h: int = 0
    sum_5m: int = 0
    sum_1h: int = 0
    human_messages: int = 0
    other_messages: int = 0
    messages_since_appearance: int = 0
    last_human_at: float = 0.0
    last_join_at: float = 0.0
    last_action_at: float = 0.0
    last_action: str | None = None
    last_appearance_at: float = 0.0
    online: set[int] = msgspec.field(default_factory=set)
    opportunities: list[Opportunity] = msgspec.field(default_factory=list)
    #: "user:activity" or "user:join" keys already engaged, oldest first.
    engaged: list[str] = msgspec.field(default_factory=list)
    pending_action: str | None = None
    pending_request_id: int = 0
    pending_deadline: float = 0.0
    grace_until: float = 0.0
    failures_in_row: int = 0
    backoff_until: float = 0.0
    share_backoff_until: float = 0.0
    v1_last_slot: int = -1


def check_time(now: float, what: str = "now") -> float:
    """Return ``now`` if it is a finite, non-negative float; raise ``InvalidTimeError`` else."""
    if not 0.0 <= now < _INF:  # also false for NaN
        raise InvalidTimeError(what, now)
    return now


def new_state(guild_id: int, now: float, *, grace_until: float = 0.0,
              mood: str = "neutral") -> GuildState:
    """A fresh guild observed from ``now``; ``grace_until`` is the cold-start grace end."""
    check_time(now)
    profile_for(mood)
    return GuildState(guild_id=guild_id, observed_since=now, grace_until=grace_until, mood=mood)


def evict(state: GuildState, now_sec: int) -> None:
    """Move the window heads past buckets older than 5 min / 1 h at ``now_sec``."""
    secs = state.b_secs
    counts = state.b_counts
    n = len(secs)
    h = state.head_5m
    limit = now_sec - WINDOW_5M
    if h < n and secs[h] <= limit:
        s = state.sum_5m
        while h < n and secs[h] <= limit:
            s -= counts[h]
            h += 1
        state.sum_5m = s
        state.head_5m = h
    h = state.head_1h
    limit = now_sec - WINDOW_1H
    if h < n and secs[h] <= limit:
        s = state.sum_1h
        while h < n and secs[h] <= limit:
            s -= counts[h]
            h += 1
        state.sum_1h = s
        state.head_1h = h
        if h >= _COMPACT_AT:
            del secs[:h]
            del counts[:h]
            state.head_5m -= h
            state.head_1h = 0


def msgs_5m(state: GuildState, now: float) -> int:
    """Human messages in the 5 minutes up to ``now`` (exact to the second)."""
    evict(state, int(check_time(now)))
    return state.sum_5m


def msgs_1h(state: GuildState, now: float) -> int:
    """Human messages in the hour up to ``now`` (exact to the second)."""
    evict(state, int(check_time(now)))
    return state.sum_1h


def _count_humans(state: GuildState, now: float, n: int) -> None:
    # Kept in step with observe_message's inlined copy of it (the hot path).
    sec = int(now)
    secs = state.b_secs
    if secs and secs[-1] >= sec:
        state.b_counts[-1] += n
    else:
        secs.append(sec)
        state.b_counts.append(n)
        if len(secs) - state.head_1h > WINDOW_1H:
            evict(state, sec)
    state.sum_5m += n
    state.sum_1h += n
    state.human_messages += n
    state.messages_since_appearance += n
    if now > state.last_human_at:
        state.last_human_at = now


def observe_message(state: GuildState, now: float, is_bot: bool = False,
                    is_self: bool = False) -> None:
    """A message in the autonomous channel. Only humans' messages count as conversation;
    the persona's own message is an appearance.

    The windows are evicted lazily, by whoever reads them (``decide``, ``signals``,
    ``msgs_5m``): counting stays a few list operations. Memory stays bounded all the same:
    more than 3,600 buckets past the hour's head means some have left the window, and only
    then does counting evict (and compact).

    Raises:
        InvalidTimeError: ``now`` is negative or not finite.
    """
    if not 0.0 <= now < _INF:
        raise InvalidTimeError("now", now)
    if is_self:
        state.messages_since_appearance = 0
        if now > state.last_appearance_at:
            state.last_appearance_at = now
        state.other_messages += 1
    elif is_bot:
        state.other_messages += 1
    else:  # _count_humans(state, now, 1), inlined: this is the engine's hottest line
        sec = int(now)
        secs = state.b_secs
        if secs and secs[-1] >= sec:
            state.b_counts[-1] += 1
        else:
            secs.append(sec)
            state.b_counts.append(1)
            if len(secs) - state.head_1h > WINDOW_1H:
                evict(state, sec)
        state.sum_5m += 1
        state.sum_1h += 1
        state.human_messages += 1
        state.messages_since_appearance += 1
        if now > state.last_human_at:
            state.last_human_at = now


def observe_messages(state: GuildState, count: int, first_at: float, last_at: float) -> None:
    """``count`` human messages coalesced by a full mailbox, counted at ``last_at``'s second.

    The mailbox only merges runs inside one second, so the buckets stay exact.
    """
    check_time(first_at, "first_at")
    check_time(last_at, "last_at")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if count:
        _count_humans(state, last_at, count)


def _is_related(activity: str, keywords: tuple[str, ...]) -> bool:
    name = activity.casefold()
    return any(k.casefold() in name for k in keywords)


def engaged_key(user_id: int, activity: str | None) -> str:
    """The key remembering that ``user_id`` was engaged for ``activity`` (None: a join)."""
    return f"{user_id}:{activity.casefold()}" if activity else f"{user_id}:join"


def close_opportunity(state: GuildState, user_id: int, activity: str | None) -> None:
    """``user_id`` was engaged for ``activity`` (None: their join): remember it (the last
    256 such) and drop the open opportunity, so deciding never looks at it again."""
    key = engaged_key(user_id, activity)
    engaged = state.engaged
    if key not in engaged:
        engaged.append(key)
        if len(engaged) > MAX_ENGAGED:
            del engaged[0]
    state.opportunities = [o for o in state.opportunities
                           if engaged_key(o.user_id, o.activity) != key]


def _add_opportunity(state: GuildState, opp: Opportunity) -> None:
    if engaged_key(opp.user_id, opp.activity) in state.engaged:
        return  # engaged for it already: a re-announcement is not a new opportunity
    opps = state.opportunities
    # One open opportunity per (user, activity): a re-announcement refreshes it.
    for i, o in enumerate(opps):
        if o.user_id == opp.user_id and o.activity == opp.activity:
            del opps[i]
            break
    opps.append(opp)
    if len(opps) > MAX_OPPORTUNITIES:
        del opps[0]


def observe_presence(state: GuildState, now: float, user_id: int, status: str,
                     activity: str | None, is_bot: bool, cfg: GuildConfig) -> None:
    """A presence change. Bots are ignored; ``activity`` is a newly started activity."""
    check_time(now)
    if is_bot:
        return
    online = state.online
    if status == "offline":
        online.discard(user_id)
    elif user_id not in online and len(online) < MAX_ONLINE:
        online.add(user_id)
    if activity:
        _add_opportunity(state, Opportunity(user_id=user_id, at=now, activity=activity,
                                            related=_is_related(activity, cfg.keywords)))


def observe_join(state: GuildState, now: float, user_id: int, is_bot: bool) -> None:
    """A member joined. Bots are ignored."""
    check_time(now)
    if is_bot:
        return
    if now > state.last_join_at:
        state.last_join_at = now
    _add_opportunity(state, Opportunity(user_id=user_id, at=now))


def seed_online(state: GuildState, user_ids: tuple[int, ...] | list[int]) -> None:
    """Replace who is online with the member cache's humans (when a guild becomes ready)."""
    state.online = set(user_ids[:MAX_ONLINE])


def set_mood(state: GuildState, mood: str) -> None:
    """Set the mood by hand. Raises ``UnknownMoodError`` listing the valid names."""
    profile_for(mood)
    state.mood = mood


# --- snapshots ---------------------------------------------------------------------------

class _Header(msgspec.Struct):
    version: object = None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(GuildState)
_header_decoder = msgspec.msgpack.Decoder(_Header)


def encode_state(state: GuildState) -> bytes:
    """The state as msgpack, with its schema version."""
    return _encoder.encode(state)


def decode_state(data: bytes) -> GuildState:
    """Decode a snapshot written by ``encode_state``.

    Raises:
        SnapshotVersionError: the snapshot has another schema version.
        SnapshotError: the bytes are corrupt or do not describe a usable guild state (an
            unknown mood, a non-finite time, buckets that do not add up, an unbounded list).
    """
    try:
        header = _header_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise SnapshotError(f"corrupt bytes ({exc})") from None
    if header.version != SCHEMA_VERSION:
        raise SnapshotVersionError(header.version, SCHEMA_VERSION)
    try:
        state = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise SnapshotError(str(exc)) from None
    problem = _inconsistency(state)
    if problem:
        raise SnapshotError(problem)
    if state.engaged and state.opportunities:  # written before engaging closed them
        engaged = set(state.engaged)
        state.opportunities = [o for o in state.opportunities
                               if engaged_key(o.user_id, o.activity) not in engaged]
    return state


_TIME_FIELDS = (
    "observed_since", "next_rotation_at", "last_human_at", "last_join_at", "last_action_at",
    "last_appearance_at", "pending_deadline", "grace_until", "backoff_until",
    "share_backoff_until",
)


def _inconsistency(state: GuildState) -> str:
    """What makes a decoded state unusable, or "" (a snapshot is data from outside)."""
    if state.mood not in MOODS:
        return f"unknown mood {state.mood!r}"
    for name in _TIME_FIELDS:
        value = getattr(state, name)
        if not 0.0 <= value < _INF:
            return f"{name} is {value!r}, not a finite non-negative time"
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
            or len(state.opportunities) > MAX_OPPORTUNITIES or len(state.engaged) > MAX_ENGAGED):
        return "a list is longer than its bound"
    return ""


def restore_state(data: bytes, now: float) -> tuple[GuildState, str | None]:
    """Decode a snapshot for a guild coming back to life at ``now``.

    A restored guild needs no cold-start grace, and its pending action (if any) is cleared as
    failed, so a result lost with the old process cannot silence the guild for good.

    Returns:
        The state and the name of the pending action that was cleared (or None).
    """
    check_time(now)
    state = decode_state(data)
    cleared = state.pending_action
    state.pending_action = None
    state.pending_deadline = 0.0
    state.grace_until = 0.0
    return state, cleared

