"""The simulated Discord side of a run: the channel she speaks in, what it shows her, and
what she said.

- ``send`` records each message she sent (guild, action, time, mood, length, target) and
  checks the words carry no ping; a channel the guild does not speak in is a 404. A
  ``react`` (its text is the emoji) must name a human's message the channel has, by its
  author, else it is a 404 like Discord's Unknown Message.
- ``context`` shows the channel's recent lines when the pool asks (join, FOMO, reply): the
  simulated humans' messages up to that moment, each given a line from a small built-in
  set of generic chat lines written for the simulator (no real person's words), and her own
  last words. Nothing is stored: the lines are picked from the message id when asked.
- ``name`` gives made-up display names.
- With ``people`` (``--reactive``), each autonomous action she sends may draw answers from
  the simulated people (``people``): ``insert`` hands them to the run at their time, and the
  channel shows them like the others.
- With ``keep_words``, every message she sent is kept for ``--transcript`` (her words only,
  never the humans' lines); the first few of each action are kept anyway, as the report's
  examples.
"""

from __future__ import annotations

import bisect
import re
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from actors.events import ActionRequest, MessageSeen
from runtime.errors import SendRejected
from runtime.pool import ContextLine, FeedItem
from runtime.simulate.people import People
from runtime.simulate.traffic import Traffic

__all__ = [
    "BOT_LINES",
    "CHAT_LINES",
    "TO_HER_LINES",
    "SentRecord",
    "SimDiscord",
    "iso_utc",
    "sim_items",
]

_PING = re.compile(r"<@[!&]?\d+>|@everyone|@here", re.IGNORECASE)

#: What the simulated humans say (generic lines written for the simulator).
CHAT_LINES: tuple[str, ...] = (
    "anyone up for a round later?",
    "just got back from work, what did I miss",
    "lol that's so true",
    "wait really?",
    "I finally beat that boss, took me all week",
    "has anyone tried the new update yet?",
    "it's raining here again",
    "what are you all listening to right now",
    "brb, making tea",
    "that song has been stuck in my head all day",
    "ok that was hilarious",
    "I need a new game to play, recommendations?",
    "good morning everyone",
    "night all, see you tomorrow",
    "same here honestly",
    "does anyone know when the event ends?",
    "I can't decide what to draw next",
    "pizza or ramen tonight, go",
    "my cat just knocked my drink over",
    "the new chart is so hard on expert",
    "congrats!! that's awesome",
    "hmm I'm not sure about that one",
    "I'll join after dinner",
    "who else is staying up way too late",
    "this weekend went by so fast",
    "just finished the book, no spoilers please",
    "the concert stream starts in an hour",
    "I keep missing the timing on that part",
    "okay I'm back",
    "haha yeah",
)
#: What they say to her (the messages that mention or reply to her).
TO_HER_LINES: tuple[str, ...] = (
    "Miku, what song should I listen to next?",
    "hey Miku, how's your day going?",
    "Miku do you like rainy days?",
    "Miku, can you cheer me up a bit?",
    "what do you think, Miku?",
    "Miku, good morning!",
    "Miku are you still awake?",
    "Miku, which game should we play tonight?",
)
#: What the other bots post.
BOT_LINES: tuple[str, ...] = (
    "Reminder: community game night is on Friday.",
    "Level up! Someone reached level 12.",
    "Daily question: what's your comfort snack?",
    "New post in #announcements.",
    "Poll closed: 14 votes.",
    "Use /help to see my commands.",
)
_NAMES: tuple[str, ...] = (
    "sora", "mint", "kiwi", "pixel", "nova", "tako", "yuzu", "echo", "ren", "momo", "juniper",
    "bean", "lumen", "cocoa", "riku", "nori", "ash", "plum", "zephyr", "tofu", "ivy", "kumo",
    "maple", "orbit",
)
_NEWS = (
    "Magical Mirai 2026: the setlist is out",
    "New Project DIVA module pack announced",
    "Colorful Stage adds a new event",
    "A producer uploads a new Miku song",
    "Snow Miku 2026 design revealed",
    "Vocaloid concert tickets on sale",
    "Fan-made PV hits a million views",
    "Nendoroid preorders open",
    "Miku Expo world tour dates",
    "A new rhythm-game chart drops",
    "Interview with a Vocaloid producer",
    "Cosplay gallery from the weekend",
)
#: Her own last words kept per guild, for the context she is shown.
_OWN_KEPT = 4
#: Examples kept per action for the report, whether or not a transcript is written.
EXAMPLES_PER_ACTION = 2


class SentRecord(msgspec.Struct, frozen=True, gc=False):
    """One message the persona sent (never its words: only their length)."""

    guild_id: int
    action: str
    at: float
    mood: str
    text_len: int
    priority: int
    target_user_id: int | None = None
    target_activity: str | None = None
    pinged: bool = False


def iso_utc(t: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds (``2026-03-02T09:15:00.000Z``)."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def sim_items() -> list[FeedItem]:
    """Three dozen made-up items for ``share_tweet``."""
    return [FeedItem(f"sim-news-{i}", f"{_NEWS[i % len(_NEWS)]} (#{i})",
                     f"https://example.invalid/news/{i}") for i in range(36)]


def _pick(lines: tuple[str, ...], key: int) -> str:
    return lines[(key * 2654435761 >> 7) % len(lines)]


class _GuildChannel:
    """One guild's messages in time order, made on the first context request."""

    __slots__ = ("ids", "messages", "own", "times")

    def __init__(self, events: list[Any]) -> None:
        self.messages = [e for e in events if type(e) is MessageSeen]
        self.times = [e.at for e in self.messages]
        self.ids: dict[int, int] | None = None
        self.own: deque[tuple[float, str]] = deque(maxlen=_OWN_KEPT)


class SimDiscord:
    """The simulated Discord side of one run.

    Args:
        clock: anything with ``now()`` (epoch seconds).
        channels: ``{guild_id: autonomous channel id}``.
        traffic: the run's traffic, for the lines ``context`` shows; None shows none.
        keep_words: keep every sent message's words (for ``--transcript``).
        people: the simulated people who answer her autonomous actions, or None.
        insert: hands an answer to the run at its time (with ``people``).
    """

    def __init__(self, clock: Any, channels: dict[int, int], traffic: Traffic | None = None,
                 *, keep_words: bool = False, people: People | None = None,
                 insert: Callable[[MessageSeen], None] | None = None) -> None:
        self.clock = clock
        self.channels = channels
        self.sent: list[SentRecord] = []
        self.keep_words = keep_words
        #: Every message she sent, as transcript lines (only with ``keep_words``).
        self.words: list[dict[str, Any]] = []
        #: The first few messages of each action, as transcript lines: the earliest by
        #: (time, guild), so tasks running in any order at one instant (or in several
        #: processes) pick the same ones.
        self.examples: dict[str, list[dict[str, Any]]] = {}
        self.example_keys: dict[str, list[tuple[float, int]]] = {}
        self._events = {g.plan.guild_id: g.events for g in traffic.guilds} if traffic else {}
        self._guilds: dict[int, _GuildChannel] = {}
        self.people = people
        self._insert = insert

    async def send(self, request: ActionRequest, text: str) -> None:
        """Record the send. A channel the guild does not speak in is refused, like a 404."""
        gid = request.guild_id
        if self.channels.get(gid) != request.channel_id:
            raise SendRejected("unknown channel (404)", status=404)
        now = self.clock.now()
        if request.action == "react":
            self._check_react(request, now)
        self.sent.append(SentRecord(
            gid, request.action, now, request.mood, len(text), request.priority,
            request.target_user_id, request.target_activity, _PING.search(text) is not None))
        self._channel(gid).own.append((now, text))
        if self.people is not None and request.priority > 0:
            self._answers(request, now)
        kept = self.examples.setdefault(request.action, [])
        keys = self.example_keys.setdefault(request.action, [])
        key = (now, gid)
        early = len(kept) < EXAMPLES_PER_ACTION or key < keys[-1]
        if self.keep_words or early:
            line = {"guild_id": gid, "action": request.action, "mood": request.mood,
                    "sim_time": iso_utc(now), "text": text}
            if early:
                i = bisect.bisect_right(keys, key)
                keys.insert(i, key)
                kept.insert(i, line)
                del keys[EXAMPLES_PER_ACTION:], kept[EXAMPLES_PER_ACTION:]
            if self.keep_words:
                self.words.append(line)

    def _check_react(self, request: ActionRequest, now: float) -> None:
        """A reaction goes on a human's message the channel has by now, by the author the
        request names: else Unknown Message (404), as Discord answers."""
        channel = self._channel(request.guild_id)
        if channel.ids is None:
            channel.ids = {m.message_id: i for i, m in enumerate(channel.messages)}
        i = channel.ids.get(request.target_message_id or 0)
        m = channel.messages[i] if i is not None else None
        if m is None or m.at > now or m.author_is_bot or m.author_id != request.target_user_id:
            raise SendRejected("unknown message (404, code 10008)", status=404)

    def _answers(self, request: ActionRequest, now: float) -> None:
        assert self.people is not None and self._insert is not None
        people = self.people.guild(request.guild_id)
        if people is None:
            return
        channel = self._channel(request.guild_id)
        for answer in people.on_action(request.action, now, request.target_user_id,
                                       request.target_activity):
            self._insert(answer)
            i = bisect.bisect_right(channel.times, answer.at)
            channel.times.insert(i, answer.at)
            channel.messages.insert(i, answer)
            channel.ids = None

    def _channel(self, guild_id: int) -> _GuildChannel:
        channel = self._guilds.get(guild_id)
        if channel is None:
            channel = self._guilds[guild_id] = _GuildChannel(self._events.get(guild_id, []))
        return channel

    async def context(self, guild_id: int, channel_id: int, limit: int, *,
                      upto_message_id: int | None = None) -> list[ContextLine]:
        """The channel's last ``limit`` lines at this moment (the humans' and hers), oldest
        first; with ``upto_message_id`` (a reply), the lines end with that message."""
        channel = self._channel(guild_id)
        now = self.clock.now()
        end = bisect.bisect_right(channel.times, now)
        if upto_message_id is not None:
            if channel.ids is None:
                channel.ids = {m.message_id: i for i, m in enumerate(channel.messages)}
            i = channel.ids.get(upto_message_id)
            if i is not None:
                end = i + 1
                now = channel.messages[i].at
        lines: list[tuple[float, ContextLine]] = []
        for m in channel.messages[max(0, end - limit):end]:
            if m.author_is_bot:
                text = _pick(BOT_LINES, m.message_id)
            elif m.addresses_self:
                text = _pick(TO_HER_LINES, m.message_id)
            else:
                text = _pick(CHAT_LINES, m.message_id)
            lines.append((m.at, ContextLine(self.display_name(m.author_id), text,
                                            author_id=m.author_id, message_id=m.message_id)))
        lines += [(at, ContextLine("Miku", text, is_self=True))
                  for at, text in channel.own if at <= now]
        lines.sort(key=lambda x: x[0])
        return [line for _, line in lines[-limit:]]

    @staticmethod
    def display_name(user_id: int) -> str:
        """A made-up display name for a simulated user."""
        return f"{_NAMES[user_id % len(_NAMES)]}{user_id % 100:02d}"

    async def name(self, guild_id: int, user_id: int) -> str:
        return self.display_name(user_id)
