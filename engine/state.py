"""Per-guild settings and state, time checks, and counting messages into the state.

Memory is bounded whatever the traffic: message counts live in per-second buckets covering
the last hour (at most 3,600 live buckets plus a compaction slack of 256); opportunities,
announced and engaged activities, the online set (and the bitmap past it), the day's action
times and the learned hours (168 numbers) are capped. The window sums always match the
buckets from the window heads on; the heads move when the windows are read (``evict``), so
read the counts through ``signals`` / ``msgs_5m`` / ``msgs_1h``, not from the fields. A flood
of two million messages in half an hour costs the same as 1,800 busy seconds.

Times are epoch seconds (floats); 0.0 is a time like any other and "never" is ``NEVER``
(minus infinity, so "since" is infinite and "never + a wait" is already over). Every function
that takes ``now`` rejects a negative, NaN, infinite or post-9999 value with
``InvalidTimeError``. Time going backwards is tolerated: a late event counts in the newest
bucket, and a time in the state more than a minute later than ``now`` (a clock stepped
back) counts as ``now`` (``settle_clock``), so no clock fault blocks a guild for longer than
its gates would (plus that minute). Counting a message settles the clock itself when the
newest bucket is more than that minute ahead: a clock that jumped a year ahead for one event
and came back would otherwise count every later message into that bucket, and the windows
would hold them all (issue 22).
Presence, joins and opportunities are in ``engine.presence``; snapshots in ``engine.snapshot``.
"""

from __future__ import annotations

import math

import msgspec

from engine.affinity import Person, forget, note_spoke
from engine.chattiness import check_chattiness
from engine.errors import InvalidTimeError
from engine.hours import fold_hours
from engine.localtime import zone
from engine.moods import profile_for
from engine.recent import Recent, forget_author
from engine.tone import Tone

__all__ = [
    "MAX_ACTIONS_PER_DAY",
    "MAX_COUNTED",
    "MAX_ENGAGED",
    "MAX_ONLINE",
    "MAX_OPPORTUNITIES",
    "MAX_TIME",
    "NEVER",
    "SCHEMA_VERSION",
    "GuildConfig",
    "GuildState",
    "Opportunity",
    "check_time",
    "evict",
    "forget_member",
    "msgs_1h",
    "msgs_5m",
    "new_state",
    "observe_message",
    "observe_messages",
    "set_mood",
    "settle_clock",
]

SCHEMA_VERSION = 3

WINDOW_5M = 300
WINDOW_1H = 3600
#: Buckets are compacted once this many expired ones sit at the front of the lists.
_COMPACT_AT = 256
MAX_OPPORTUNITIES = 32
MAX_ENGAGED = 256
#: Who is online is tracked by id up to this many humans; past it, in a bitmap (presence).
MAX_ONLINE = 2048
#: The largest ``max_actions_per_day`` (the day's action times are kept, so it is bounded).
MAX_ACTIONS_PER_DAY = 1000
#: Counted human messages' ids kept to take back (engine.deletions): at most MAX_COUNTED;
#: past 64 the oldest goes once made over an hour ago.
MAX_COUNTED, _COUNTED_KEPT_FREELY, _YEAR_S = 1024, 64, 366 * 86400.0
#: 10000-01-01T00:00:00Z: datetime cannot go past year 9999.
MAX_TIME = 253402300800.0
NEVER = -math.inf
#: The longest a pending mark, a grace or a back-off can still hold when the clock steps
#: back past when it was set (the actor's deadlines are minutes; grace and back-off shorter).
MAX_HOLD_S = 7200.0
#: Times up to this much later than ``now`` are taken as they are (see ``settle_clock``).
CLOCK_SLACK_S = 60.0

_INF = math.inf


class GuildConfig(msgspec.Struct, frozen=True, gc=False):
    """What the engine needs to know of a guild's settings.

    ``timezone`` is an IANA name (``UnknownTimezoneError`` when the tz database does not know
    it). ``quiet_hours`` is ``(start, end)`` in local whole hours, start inclusive, end exclusive,
    wrapping past midnight (``(23, 7)``); ``None`` for none. ``has_channel`` is false when
    the guild has no autonomous channel: such a guild takes no autonomous action.
    ``chattiness`` (0..2, default 1) scales every chance and wait of the rules: 0 takes no
    autonomous action, 2 about twice as many as 1 (``engine.params``). ``max_actions_per_day``
    caps autonomous actions in any 24 hours (None: no cap; 0..1000). ``learn_hours`` lets the
    guild's learned hours of activity make unprompted posts likelier when people are usually
    around (``engine.hours``; the profile is kept either way, counts only). ``affinity``
    lets who answered and who ignored her weigh on ``engage_user`` (``engine.affinity``);
    off, the rules read no affinity, and the actor passes no author ids to keep any. ``tone``
    lets how the room feels (``engine.tone``) hold back playful posts and joins; off, the
    rules read no tone and the actor feeds it no reactions or timeouts. ``may_react`` is
    not a setting but what the runtime knows of her permissions: False when she lacks Add
    Reactions or Read Message History in the channel (``react`` then never fires).
    """

    timezone: str = "UTC"
    quiet_hours: tuple[int, int] | None = (1, 7)
    keywords: tuple[str, ...] = ("project diva", "hatsune miku", "vocaloid", "miku")
    min_gap_s: float = 30.0
    enabled: bool = True
    has_channel: bool = True
    rotate_moods: bool = True
    rotation_period_s: float = 3600.0
    chattiness: float = 1.0
    max_actions_per_day: int | None = None
    learn_hours: bool = True
    affinity: bool = True
    tone: bool = True
    may_react: bool = True

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
        check_chattiness(self.chattiness)
        n = self.max_actions_per_day
        if n is not None and (isinstance(n, bool) or not 0 <= n <= MAX_ACTIONS_PER_DAY):
            raise ValueError(f"max_actions_per_day must be a whole number from 0 to "
                             f"{MAX_ACTIONS_PER_DAY}, or none for no cap, got {n!r}")


class Opportunity(msgspec.Struct, gc=False):
    """Someone to engage: a human who started an activity (``activity`` set) or joined.
    ``roll`` is its one roll, fixed by who and when it opened, drawn the first time it is
    looked at (-1: not yet; ``engine.engage``). ``status``: the person's last presence
    status seen while it is open ("online", "idle", "dnd", "offline"; "": none seen yet,
    a join before their first presence update)."""

    user_id: int
    at: float
    activity: str | None = None
    related: bool = False
    roll: float = -1.0
    roll_seed: int = 0
    status: str = ""


class GuildState(msgspec.Struct, gc=False):
    """Everything the engine remembers about one guild. Encodes to msgpack for snapshots.

    Times that may be "never" hold ``NEVER``. ``grace_until``: no action before it (the
    cold-start grace, the minimum gap after a restore; the runtime may push it later, e.g.
    to a restored guild's GuildReady plus one minimum gap).
    """

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
    last_human_at: float = NEVER
    last_join_at: float = NEVER
    last_action_at: float = NEVER
    last_action: str | None = None
    last_appearance_at: float = NEVER
    #: The last unprompted post (break_silence, share_tweet): no monologues.
    unprompted_at: float = NEVER
    #: The latest time any observe / record call was given (to notice a clock stepped back).
    latest_at: float = NEVER
    online: set[int] = msgspec.field(default_factory=set)
    #: Past ``MAX_ONLINE``: a bitmap of hashed ids (empty until needed) and its bit count.
    online_bits: bytearray = msgspec.field(default_factory=bytearray)
    online_extra: int = 0
    opportunities: list[Opportunity] = msgspec.field(default_factory=list)
    #: key (``engaged_key``) -> second it was last announced; oldest first, kept an hour.
    announced: dict[str, int] = msgspec.field(default_factory=dict)
    #: key -> second it was engaged; oldest first, kept six hours.
    engaged: dict[str, int] = msgspec.field(default_factory=dict)
    #: Seconds of the autonomous actions of the last 24 hours (for max_actions_per_day).
    day_actions: list[int] = msgspec.field(default_factory=list)
    #: Learned hours (``engine.hours``): per UTC hour of the week, a decayed share of its
    #: 10-minute slots with people talking, in thousandths (-1: not seen yet); empty until
    #: the first hour.
    hours: list[int] = msgspec.field(default_factory=list)
    #: The epoch hour being counted into ``hours``.
    hours_at: int = -1
    #: How many of ``hours`` were seen, and their sum (kept with them).
    hours_seen: int = 0
    hours_sum: int = 0
    #: The last 10-minute slot with a human message, and how many the hour being counted had.
    hours_slot: int = -1
    hours_slots: int = 0
    pending_action: str | None = None
    pending_request_id: int = 0
    pending_deadline: float = 0.0
    grace_until: float = 0.0
    failures_in_row: int = 0
    backoff_until: float = 0.0
    share_backoff_until: float = 0.0
    v1_last_slot: int = -1
    #: User affinity (``engine.affinity``): user id -> record, oldest touched first, at most
    #: 256. Added to schema 3 without a new version: a snapshot written before has none.
    affinity: dict[int, Person] = msgspec.field(default_factory=dict)
    #: The react rule (``engine.recent``): the last few human message ids with their
    #: authors (at most 8), when the conversation burst began, her last reaction. Added to
    #: schema 3 without a new version, like ``affinity``.
    recent: list[Recent] = msgspec.field(default_factory=list)
    burst_since: float = NEVER
    reacted_at: float = NEVER
    #: The room's tone (``engine.tone``); None until the first signal (schema 3, like
    #: ``affinity``). Written empty to snapshots: the ids of the counted human messages
    #: (``engine.deletions``) and the last reactions, key -> (value, when) (``engine.tone``).
    tone: Tone | None = None
    counted: dict[int, None] = msgspec.field(default_factory=dict)
    reacted: dict[int, tuple[float, float]] = msgspec.field(default_factory=dict)


def check_time(now: float, what: str = "now") -> float:
    """Return ``now`` if it is a valid time: finite, non-negative, before year 10000.

    Raises:
        InvalidTimeError: it is not (also for NaN).
    """
    if not 0.0 <= now < MAX_TIME:  # also false for NaN
        raise InvalidTimeError(what, now)
    return now


def new_state(guild_id: int, now: float, *, grace_until: float = 0.0,
              mood: str = "neutral") -> GuildState:
    """A fresh guild observed from ``now``; ``grace_until`` is the cold-start grace end."""
    check_time(now)
    profile_for(mood)
    return GuildState(guild_id=guild_id, observed_since=now, grace_until=grace_until, mood=mood,
                      latest_at=now)


def evict(state: GuildState, now_sec: int) -> None:
    """Move the window heads past buckets older than 5 min / 1 h at ``now_sec``.

    Buckets later than ``now_sec`` (a clock stepped back) are merged into ``now_sec``'s: they
    count as now, and leave the windows as if they had come now.
    """
    secs = state.b_secs
    counts = state.b_counts
    n = len(secs)
    if n and secs[-1] > now_sec:
        _merge_future(state, now_sec)
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
            compact_buckets(state)


def compact_buckets(state: GuildState) -> None:
    """Drop the buckets that left the hour (those before ``head_1h``)."""
    h = state.head_1h
    if h:
        del state.b_secs[:h]
        del state.b_counts[:h]
        state.head_5m -= h
        state.head_1h = 0


def _merge_future(state: GuildState, now_sec: int) -> None:
    secs, counts = state.b_secs, state.b_counts
    i = len(secs)
    while i > 0 and secs[i - 1] >= now_sec:
        i -= 1
    total = sum(counts[i:])
    # Counted as now, they are inside both windows again: the heads and sums are redone
    # (rare: only after a clock stepped back).
    del secs[i:]
    del counts[i:]
    secs.append(now_sec)
    counts.append(total)
    state.head_5m = min(state.head_5m, i)
    state.head_1h = min(state.head_1h, state.head_5m)
    state.sum_5m = sum(counts[state.head_5m:])
    state.sum_1h = sum(counts[state.head_1h:])


def settle_clock(state: GuildState, now: float) -> None:
    """Make every time in the state that is later than ``now`` count as ``now`` (a clock
    stepped back), and cap the holds (pending, grace, back-offs) to what they could be if set
    now. Cheap to call: it does nothing unless the state has seen a time more than
    ``CLOCK_SLACK_S`` later (events stamped by another clock a little ahead, or a clock
    restarted a moment back, change nothing; at worst they hold a gate that long)."""
    limit = now + CLOCK_SLACK_S
    if state.latest_at <= limit and state.last_human_at <= limit \
            and state.last_appearance_at <= limit \
            and (not state.b_secs or state.b_secs[-1] <= limit):
        return
    for name in ("last_human_at", "last_join_at", "last_action_at", "last_appearance_at",
                 "unprompted_at", "latest_at", "observed_since", "burst_since", "reacted_at"):
        if getattr(state, name) > now:
            setattr(state, name, now)
    hold = now + MAX_HOLD_S
    for name in ("pending_deadline", "grace_until", "backoff_until", "share_backoff_until"):
        if getattr(state, name) > hold:
            setattr(state, name, hold)
    sec = int(now)
    for o in state.opportunities:
        o.at = min(o.at, now)
    for d in (state.announced, state.engaged):
        for k, v in d.items():
            if v > sec:
                d[k] = sec
    state.day_actions = [min(x, sec) for x in state.day_actions]
    for m in state.recent:
        m.at = min(m.at, sec)
    for p in state.affinity.values():
        p.at, p.engaged_at, p.ignored_at = (min(p.at, sec), min(p.engaged_at, sec),
                                            min(p.ignored_at, sec))
    if state.hours_at > sec // 3600:
        state.hours_at = sec // 3600
    if state.tone is not None and state.tone.at > now:
        state.tone.at = now
    evict(state, sec)


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
        if secs[-1] > sec + CLOCK_SLACK_S:
            # The clock stepped back: the buckets ahead count as now (merged into this
            # second's), and this message joins them. Counted into a bucket a year ahead
            # instead, every message of the year would stay in both windows.
            settle_clock(state, now)
        state.b_counts[-1] += n
    else:
        if sec >= (state.hours_at + 1) * 3600:
            fold_hours(state, sec)
        if sec // 600 != state.hours_slot:
            state.hours_slot = sec // 600
            state.hours_slots += 1
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
                    is_self: bool = False, author_id: int | None = None,
                    to_her: bool = False, message_id: int = 0) -> None:
    """A message in the autonomous channel. Only humans' messages count as conversation;
    the persona's own message is an appearance.

    The windows are evicted lazily, by whoever reads them (``decide``, ``signals``,
    ``msgs_5m``): counting stays a few list operations. Memory stays bounded all the same:
    more than 3,600 buckets past the hour's head means some have left the window, and only
    then does counting evict (and compact). The learned hours are updated once an hour, on
    the first message of a new hour. A human's message that speaks to her (``to_her``: it
    mentions or replies to her) feeds ``engine.affinity`` with its ``author_id`` (None: not
    known, or affinity off). A human's message counted with its ``message_id`` (not 0) can
    be taken back if it is deleted (``engine.deletions``).

    Raises:
        InvalidTimeError: ``now`` is not a valid time.
    """
    if not 0.0 <= now < MAX_TIME:
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
            # A later bucket far ahead: the clock stepped back (see _count_humans). The
            # cheap "!=" first keeps a message in the newest second at its old cost.
            if secs[-1] != sec and secs[-1] > sec + CLOCK_SLACK_S:
                settle_clock(state, now)
            state.b_counts[-1] += 1
        else:
            if sec >= (state.hours_at + 1) * 3600:
                fold_hours(state, sec)
            if sec // 600 != state.hours_slot:  # a 10-minute slot with people talking
                state.hours_slot = sec // 600
                state.hours_slots += 1
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
        if to_her and author_id is not None:
            note_spoke(state.affinity, author_id, now, to_her, state.last_action_at)
        if message_id:
            counted = state.counted
            counted[message_id] = None
            if len(counted) > _COUNTED_KEPT_FREELY:
                # Over the bound, or a Discord id made over an hour ago (out of the windows).
                oldest = next(iter(counted))
                made = ((oldest >> 22) + 1420070400000) / 1000.0
                if len(counted) > MAX_COUNTED or now - _YEAR_S < made < now - WINDOW_1H:
                    del counted[oldest]


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


def set_mood(state: GuildState, mood: str) -> None:
    """Set the mood by hand. Raises ``UnknownMoodError`` listing the valid names."""
    profile_for(mood)
    state.mood = mood


def forget_member(state: GuildState, user_id: int) -> None:
    """``user_id`` opted out: drop their affinity record, their open opportunities and their
    recent message ids (an opted-out member has no affinity, is nobody to engage, and their
    messages get no reaction)."""
    forget(state.affinity, user_id)
    forget_author(state, user_id)
    if any(o.user_id == user_id for o in state.opportunities):
        state.opportunities = [o for o in state.opportunities if o.user_id != user_id]
