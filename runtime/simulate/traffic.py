"""The simulated guilds' traffic: a pure function of (seed, guild index, time window).

Each guild gets a real IANA time zone and a population of humans who are awake mostly from
8:00 to midnight local time, online in sessions (sometimes idle or do-not-disturb, sometimes
starting a game — a few of them games related to the persona), chatting in bursts of
conversation (several people, a message every few seconds to a minute) separated by long
quiet stretches, with a few lone messages between them, other bots chatting, and now and then
a member joining. Traffic does not react to the persona: V1 and V2 see exactly the same events.

Calibration (``tests/simulate/test_traffic.py`` holds it): over many guild-days the mean is
about 500 human messages and 200 presence changes per guild-day; guilds differ in size and
liveliness (log-normal factors of mean 1).

Events are ``actors.events`` structs with epoch times; no message content exists anywhere.
Every time is on a grid of 2**-20 s and never a whole second: adding it to the loop clock's
integer epoch offset is exact, and no event lands on the same instant as a timer the runtime
derives from whole seconds (hour boundaries, V1 slots, quiet hours), so the order in which the
scheduler runs two things due at one instant cannot change a decision.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from itertools import chain
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from actors.events import GuildReady, MemberJoined, MessageSeen, PresenceChanged

__all__ = [
    "ACTIVITY_BY_HOUR",
    "GRID_S",
    "OTHER_GAMES",
    "RELATED_GAMES",
    "START_EPOCH",
    "ZONES",
    "GuildPlan",
    "GuildTraffic",
    "LocalClock",
    "Traffic",
    "generate_guild",
    "generate_traffic",
    "guild_id_for",
    "is_related",
    "on_grid",
]

#: 2026-03-02 00:00 UTC, a Monday, away from daylight-saving changes.
START_EPOCH = 1772409600.0
GRID_S = 2.0 ** -20
_GRID_PER_S = 2.0 ** 20
DAY_S = 86400.0

ZONES: tuple[str, ...] = (
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
)
RELATED_GAMES: tuple[str, ...] = (
    "Project DIVA Mega Mix",
    "Hatsune Miku: Colorful Stage",
    "Hatsune Miku: Project DIVA Future Tone",
)
OTHER_GAMES: tuple[str, ...] = (
    "Minecraft", "Genshin Impact", "Valorant", "League of Legends", "Stardew Valley", "osu!",
    "Apex Legends", "Elden Ring", "Fortnite", "Rocket League", "Overwatch 2", "Terraria",
    "Counter-Strike 2", "Honkai: Star Rail", "Lethal Company", "Baldur's Gate 3",
)
_RELATED_KEYS = ("project diva", "hatsune miku", "vocaloid", "miku")

#: Relative chat activity by local hour (people mostly awake 8:00-24:00).
ACTIVITY_BY_HOUR: tuple[float, ...] = (
    0.55, 0.25, 0.10, 0.05, 0.04, 0.04, 0.06, 0.15,   # 0-7
    0.35, 0.50, 0.60, 0.65, 0.75, 0.70, 0.70, 0.75,   # 8-15
    0.85, 0.95, 1.00, 1.00, 1.00, 0.95, 0.85, 0.70,   # 16-23
)
_W_SUM = sum(ACTIVITY_BY_HOUR)
_W_MAX = max(ACTIVITY_BY_HOUR)

# --- calibration (per guild-day, for size and chat factors of 1) ---------------------------
_HUMANS = 35            # humans in a guild of size 1
_SESSIONS = 1.2         # extra online sessions per human-day, beyond the first
_BURST_SHARE = 0.85     # of human messages, in bursts of conversation
_MSGS_PER_DAY = 532.0   # drawn; some lone messages find no one online: ~500 result
_BURST_MEAN_EXTRA = 27.0  # a burst has 3 + Exp(27) messages
_SINGLES_BOOST = 1.6    # lone messages are drawn only when someone is online: make up for it
_JOINS_PER_DAY = 1.0
_BOT_POSTS_PER_DAY = 6.0
_P_ADDRESSED = 0.01     # a human message that mentions the persona (she replies)
_P_BOT_ANSWERS = 0.04   # a human message a bot answers (a command)
_P_IDLE = 0.4
_P_GAME = 0.3
_P_RELATED = 0.15
_P_DND = 0.1


def guild_id_for(index: int) -> int:
    """The snowflake-like id of simulated guild ``index``."""
    return 800_000_000_000_000_000 + index


def is_related(activity: str) -> bool:
    """Whether an activity name is related to the persona (the engine's default keywords)."""
    low = activity.lower()
    return any(k in low for k in _RELATED_KEYS)


def on_grid(t: float) -> float:
    """``t`` on the 2**-20 s grid, never on a whole second (every simulated event time)."""
    q = math.floor(t * _GRID_PER_S) / _GRID_PER_S
    return q + GRID_S if q == math.floor(q) else q


_q = on_grid


class LocalClock:
    """Local wall-clock hours of one time zone (offset cached per UTC hour)."""

    __slots__ = ("_cache", "zone")

    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)
        self._cache: dict[int, float] = {}

    def offset(self, t: float) -> float:
        """Seconds east of UTC at epoch ``t``."""
        h = int(t // 3600.0)
        off = self._cache.get(h)
        if off is None:
            delta = datetime.fromtimestamp(h * 3600.0, self.zone).utcoffset() or timedelta()
            off = self._cache[h] = delta.total_seconds()
        return off

    def hour(self, t: float) -> float:
        """Local hour of day at ``t``, 0 <= h < 24."""
        return ((t + self.offset(t)) % DAY_S) / 3600.0

    def midnight_before(self, t: float) -> float:
        """Epoch of the local midnight at or before ``t``."""
        return t - (t + self.offset(t)) % DAY_S


class GuildPlan(msgspec.Struct, frozen=True):
    """Who a simulated guild is."""

    index: int
    guild_id: int
    channel_id: int
    timezone: str
    size: float
    chat: float
    humans: tuple[int, ...]
    bots: tuple[int, ...]


class GuildTraffic(msgspec.Struct):
    """One guild's plan and its events in ``[start, end)``, sorted by time. ``ready`` says
    who was online when the window opened (the member cache at GUILD_CREATE)."""

    plan: GuildPlan
    ready: GuildReady
    events: list[Any]
    #: Tone episodes (``runtime.simulate.tone``), when the traffic has them.
    episodes: list[Any] = msgspec.field(default_factory=list)


class Traffic(msgspec.Struct):
    """Every simulated guild's traffic over one window."""

    seed: int
    start: float
    end: float
    guilds: list[GuildTraffic]
    #: Every event in time order, made once on first use (``merged``).
    ordered: list[Any] | None = None

    def merged(self) -> Iterator[Any]:
        """Every event of every guild, in time order (ties: guild order)."""
        if self.ordered is None:
            # A stable sort of the guilds' sorted runs: a third of heapq.merge's time.
            self.ordered = sorted(chain.from_iterable(g.events for g in self.guilds),
                                  key=attrgetter("at"))
        return iter(self.ordered)

    def truncated(self, end: float) -> Traffic:
        """The same traffic with the window ending at ``end`` (an interrupted run)."""
        if end >= self.end:
            return self
        return Traffic(self.seed, self.start, end, [
            GuildTraffic(g.plan, g.ready, [e for e in g.events if e.at < end], g.episodes)
            for g in self.guilds])

    @property
    def event_count(self) -> int:
        return sum(len(g.events) for g in self.guilds)


def _poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth; the means here are small)."""
    if lam <= 0:
        return 0
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _diurnal_times(rng: random.Random, per_day: float, t0: float, t1: float,
                   local: LocalClock) -> list[float]:
    """A Poisson process of ``per_day`` mean events per day, shaped by local activity."""
    if per_day <= 0 or t1 <= t0:
        return []
    peak = per_day * _W_MAX / (_W_SUM * 3600.0)
    out: list[float] = []
    t = t0
    weights = ACTIVITY_BY_HOUR
    while True:
        t += rng.expovariate(peak)
        if t >= t1:
            return out
        if rng.random() * _W_MAX < weights[int(local.hour(t))]:
            out.append(t)


class _Human:
    __slots__ = ("owl", "sessions", "sleep", "uid", "wake", "zeal")

    def __init__(self, uid: int, rng: random.Random) -> None:
        self.uid = uid
        self.owl = 2.5 if rng.random() < 0.1 else 0.0
        self.wake = rng.uniform(7.0, 10.0) + self.owl
        self.sleep = rng.uniform(22.5, 25.5) + self.owl
        self.zeal = rng.lognormvariate(-0.125, 0.5)
        self.sessions: list[list[float]] = []

    def online_at(self, t: float) -> bool:
        s = self.sessions
        i = bisect.bisect_right(s, [t, math.inf]) - 1
        return i >= 0 and s[i][0] <= t < s[i][1]

    def merge_sessions(self) -> None:
        s = sorted(self.sessions)
        out: list[list[float]] = []
        for a, b in s:
            if out and a <= out[-1][1] + 120.0:
                out[-1][1] = max(out[-1][1], b)
            else:
                out.append([a, b])
        self.sessions = out


def _daily_sessions(h: _Human, rng: random.Random, local: LocalClock, t0: float,
                    t1: float) -> None:
    day = local.midnight_before(t0)
    while day < t1:
        wake = day + h.wake * 3600.0
        sleep = day + h.sleep * 3600.0
        for _ in range(1 + _poisson(rng, _SESSIONS * h.zeal)):
            a = rng.uniform(wake, sleep - 600.0)
            b = min(sleep, a + 600.0 + rng.expovariate(1 / 5400.0))
            h.sessions.append([a, b])
        day = local.midnight_before(day + 26 * 3600.0)
    h.merge_sessions()


def generate_guild(seed: int, index: int, start: float, end: float,
                   timezone: str | None = None) -> GuildTraffic:
    """One guild's traffic in ``[start, end)``: a pure function of its arguments.
    ``timezone`` replaces the guild's drawn time zone (everything else stays as drawn)."""
    rng = random.Random(f"miku-sim:{seed}:{index}")
    gid = guild_id_for(index)
    channel = gid + 1
    tz = ZONES[rng.randrange(len(ZONES))]
    tz = timezone or tz
    local = LocalClock(tz)
    size = rng.lognormvariate(-0.5 * 0.5 ** 2, 0.5)
    chat = size * rng.lognormvariate(-0.5 * 0.35 ** 2, 0.35)
    uid_base = 1_000_000 * (index + 1)
    humans = [_Human(uid_base + k, rng) for k in range(max(3, round(_HUMANS * size)))]
    n_bots = 1 + (rng.random() < 0.5) + (rng.random() < 0.2)
    bots = tuple(uid_base + 900_000 + k for k in range(n_bots))
    history = start - DAY_S  # sessions from a day before, so the opening state is real
    for h in humans:
        _daily_sessions(h, rng, local, history, end)

    msgs: list[tuple[float, int, bool, bool]] = []  # (at, author, is_bot, addresses_self)
    # Bursts of conversation.
    burst_mean = 3.0 + _BURST_MEAN_EXTRA
    for t in _diurnal_times(rng, _MSGS_PER_DAY * _BURST_SHARE * chat / burst_mean, start,
                            end, local):
        n = 3 + int(rng.expovariate(1 / _BURST_MEAN_EXTRA))
        pace = math.exp(rng.uniform(math.log(5.0), math.log(60.0)))
        times = []
        at = t
        for _ in range(n):
            times.append(at)
            at += min(240.0, 1.0 + rng.expovariate(1 / (pace - 1.0)))
        want = min(len(humans), 2 + _poisson(rng, 1.2))
        online = [h for h in humans if h.online_at(t)]
        if len(online) >= want:
            people = rng.sample(online, want)
        else:
            offline = [h for h in humans if not h.online_at(t)]
            people = online + rng.sample(offline, want - len(online))
        last = times[-1]
        for h in people:
            if not h.online_at(t):
                h.sessions.append([t - rng.uniform(0.0, 300.0),
                                   last + 300.0 + rng.expovariate(1 / 1800.0)])
            elif not h.online_at(last):
                h.sessions.append([t, last + 300.0 + rng.expovariate(1 / 1800.0)])
        prev = None
        for at in times:
            h = rng.choice(people)
            if h is prev and rng.random() < 0.8:
                h = rng.choice(people)
            prev = h
            msgs.append((at, h.uid, False, rng.random() < _P_ADDRESSED))
            if rng.random() < _P_BOT_ANSWERS:
                msgs.append((at + rng.uniform(0.5, 3.0), bots[rng.randrange(n_bots)], True,
                             False))
    for h in humans:
        h.merge_sessions()
    # Lone messages, from whoever is online.
    for t in _diurnal_times(rng, _MSGS_PER_DAY * (1 - _BURST_SHARE) * chat * _SINGLES_BOOST,
                            start, end, local):
        for _ in range(4):  # someone who is online, if a few tries find one
            h = humans[rng.randrange(len(humans))]
            if h.online_at(t):
                msgs.append((t, h.uid, False, rng.random() < _P_ADDRESSED))
                break
    # Other bots' own posts (feeds, reminders): any hour.
    t = start
    while True:
        t += rng.expovariate(_BOT_POSTS_PER_DAY / DAY_S)
        if t >= end:
            break
        msgs.append((t, bots[rng.randrange(n_bots)], True, False))

    events: list[Any] = []
    presence: list[tuple[float, int, str, str | None]] = []
    # Members joining: they come online, and most say hello.
    newcomer = uid_base + 500_000
    for t in _diurnal_times(rng, _JOINS_PER_DAY * size, start, end, local):
        newcomer += 1
        events.append(MemberJoined(gid, newcomer, _q(t)))
        a = t + rng.uniform(5.0, 60.0)
        b = a + 600.0 + rng.expovariate(1 / 2400.0)
        presence.append((a, newcomer, "online", None))
        presence.append((b, newcomer, "offline", None))
        if rng.random() < 0.6:
            msgs.append((a + rng.uniform(30.0, 300.0), newcomer, False, False))
    # Presence from the sessions: online (or dnd), maybe a game, maybe idle, offline.
    for h in humans:
        for a, b in h.sessions:
            status = "dnd" if rng.random() < _P_DND else "online"
            presence.append((a, h.uid, status, None))
            length = b - a
            if rng.random() < _P_GAME:
                names = RELATED_GAMES if rng.random() < _P_RELATED else OTHER_GAMES
                game = names[rng.randrange(len(names))]
                presence.append((a + length * rng.uniform(0.05, 0.4), h.uid, status, game))
            if length > 1800.0 and rng.random() < _P_IDLE:
                idle_at = a + length * rng.uniform(0.5, 0.8)
                back = idle_at + rng.uniform(300.0, 1800.0)
                presence.append((idle_at, h.uid, "idle", None))
                if back < b - 60.0:
                    presence.append((back, h.uid, status, None))
            presence.append((b, h.uid, "offline", None))
    # Bots restart now and then (their presence never counts as someone around).
    for bot in bots:
        for t in _diurnal_times(rng, 1.0, start, end, local):
            presence.append((t, bot, "offline", None))
            presence.append((t + rng.uniform(10.0, 120.0), bot, "online", None))

    online_at_start = sorted(h.uid for h in humans if h.online_at(start))
    bot_set = set(bots)
    for at, uid, status, activity in presence:
        if start <= at < end:
            events.append(PresenceChanged(gid, uid, _q(at), status, activity,  # type: ignore[arg-type]
                                          uid in bot_set))
    message_id = (index + 1) << 32
    for at, uid, is_bot, addressed in msgs:
        if start <= at < end:
            message_id += 1
            events.append(MessageSeen(gid, channel, uid, _q(at), is_bot, False, addressed,
                                      message_id))
    events.sort(key=attrgetter("at"))
    plan = GuildPlan(index=index, guild_id=gid, channel_id=channel, timezone=tz, size=size,
                     chat=chat, humans=tuple(h.uid for h in humans), bots=bots)
    return GuildTraffic(plan, GuildReady(gid, start, tuple(online_at_start)), events)


def generate_traffic(seed: int, guilds: int, hours: float, start: float = START_EPOCH,
                     zones: Sequence[str] = ()) -> Traffic:
    """Every guild's traffic for ``hours`` from ``start``; guild ``i`` lives in time zone
    ``zones[i]`` when given (an owner's config), else in one drawn from ``ZONES``.

    Raises:
        ValueError: ``guilds`` < 1 or ``hours`` <= 0.
    """
    if guilds < 1:
        raise ValueError(f"guilds must be >= 1, got {guilds}")
    if not hours > 0:
        raise ValueError(f"hours must be > 0, got {hours}")
    end = start + hours * 3600.0
    return Traffic(seed, start, end,
                   [generate_guild(seed, i, start, end, zones[i] if zones else None)
                    for i in range(guilds)])
