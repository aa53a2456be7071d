"""Simulated people who answer her (``--reactive``): who answers which of her actions, when.

Without ``--reactive`` the traffic does not react to her at all. With it, each simulated
human of a guild is a person with a disposition towards her, and each of her autonomous
actions may draw answers: human messages in her channel, a little later, which the V2 run
sees like any other message (``run`` feeds them in at their time). The base traffic is the
same either way and the same for V1 and V2; only the answers depend on what she did.

The model (docs/BENCHMARKS.md, "Simulated people who answer", says why each number is
plausible):

- *Disposition*, drawn once per person from the seed and the guild, not from what she did:
  ``chatty`` (``P_CHATTY``, base chance ``BASE["chatty"]``), ``casual`` (``P_CASUAL``),
  or ``never`` (the rest: never answers her).
- *Who can answer*: a person who is around at the moment of the action: online, idle or
  do-not-disturb by their presence, or who wrote in the last ``RECENT_S``. Offline people
  do not answer (an answer after they come back hours later is not an answer to her).
- *Chance* for one person = base x presence (``PRESENCE``: idle and dnd see it less) x
  ``ADDRESSED`` when the action names them (``engage_user``), else ``BYSTANDER`` (a post
  to the room: each of several people leaves it to the others) x ``MID_CONVERSATION`` when
  they wrote in the last ``MID_CONVERSATION_S`` (they are looking at the channel) x
  ``RELATED_GAME`` when she greets them for a game related to her x ``FATIGUE`` to the
  power of how many times she addressed them in the last day (the third greeting of the day
  lands worse), capped at ``MAX_CHANCE``.
- *Delay*: log-normal, median ``DELAY_MEDIAN_S`` (``DELAY_MEDIAN_ADDRESSED_S`` when she
  named them and they are active), sigma ``DELAY_SIGMA``; idle and dnd add a uniform
  ``AWAY_EXTRA_S`` (they come back to the keyboard first). Answers later than
  ``MAX_DELAY_S`` are not sent (nobody answers a stale post).
- In a tone episode (``--tone-episodes``: a sad announcement, an argument) people answer
  her less: the chance x ``IN_EPISODE``, and x ``PLAYFUL_IN_EPISODE`` more for a playful post
  (a share or a silence-breaker into a sad or angry room).
- An answer mentions her or replies to her (so she may reply, as she does to anyone who
  speaks to her) with ``P_TO_HER_ADDRESSED`` when she named them, else ``P_TO_HER``.
- Her emoji reaction (``react``) is answered only by the author of the message, with the
  chance of being named times ``REACTED`` (lower than a post: a reaction asks for nothing),
  by a reaction back (``P_REACT_BACK``, no message: recorded as an answer only) or else a
  message.

Every draw for (person, action) comes from its own stream: a function of the seed, the
guild, the person and the moment of the action, never of how many draws came before. V1 and
V2 acting at the same moment towards the same person get the same answer (common random
numbers: the comparison is fair and less noisy), and a guild's answers do not depend on the
other guilds or on how a run is split over processes.
"""

from __future__ import annotations

import bisect
import math
import random
from typing import Any

import msgspec

from actors.events import MessageSeen, PresenceChanged
from runtime.simulate.traffic import GuildTraffic, is_related, on_grid

__all__ = [
    "ADDRESSED",
    "BASE",
    "BYSTANDER",
    "FATIGUE",
    "MODEL",
    "AnswerRecord",
    "GuildPeople",
    "People",
]

P_CHATTY = 0.2
P_CASUAL = 0.45
BASE = {"chatty": 0.45, "casual": 0.25, "never": 0.0}
PRESENCE = {"online": 1.0, "idle": 0.35, "dnd": 0.2}
ADDRESSED = 2.0
BYSTANDER = 0.3
MID_CONVERSATION = 1.5
MID_CONVERSATION_S = 300.0
RECENT_S = 600.0
RELATED_GAME = 1.3
FATIGUE = 0.6
FATIGUE_WINDOW_S = 86400.0
MAX_CHANCE = 0.95
DELAY_MEDIAN_S = 150.0
DELAY_MEDIAN_ADDRESSED_S = 60.0
DELAY_SIGMA = 0.9
AWAY_EXTRA_S = (180.0, 1200.0)
MAX_DELAY_S = 2700.0
P_TO_HER = 0.2
P_TO_HER_ADDRESSED = 0.5
#: Her emoji reaction on someone's message: only its author may answer it, with the chance
#: of being named (``ADDRESSED``) times ``REACTED`` (a reaction asks for nothing: a nod is
#: noticed less and answered less than words addressed to you), and then by a reaction back
#: with ``P_REACT_BACK``, else by a message (to her with ``P_TO_HER_ADDRESSED``); delays as
#: for someone named.
REACTED = 0.35
P_REACT_BACK = 0.5
#: In a tone episode: people are taken up with it (x0.5), and a playful post into it lands
#: worse still (x0.3 more: people in a sad or angry room ignore a cheerful link).
IN_EPISODE = 0.5
PLAYFUL_IN_EPISODE = 0.3
_PLAYFUL = ("share_tweet", "break_silence")
#: Every parameter, for the report's ``params`` (a reader sees what made the numbers).
MODEL: dict[str, Any] = {
    "p_chatty": P_CHATTY, "p_casual": P_CASUAL, "base": BASE, "presence": PRESENCE,
    "addressed": ADDRESSED, "bystander": BYSTANDER, "mid_conversation": MID_CONVERSATION,
    "mid_conversation_s": MID_CONVERSATION_S, "recent_s": RECENT_S,
    "related_game": RELATED_GAME, "fatigue": FATIGUE, "fatigue_window_s": FATIGUE_WINDOW_S,
    "max_chance": MAX_CHANCE, "delay_median_s": DELAY_MEDIAN_S,
    "delay_median_addressed_s": DELAY_MEDIAN_ADDRESSED_S, "delay_sigma": DELAY_SIGMA,
    "away_extra_s": list(AWAY_EXTRA_S), "max_delay_s": MAX_DELAY_S, "p_to_her": P_TO_HER,
    "p_to_her_addressed": P_TO_HER_ADDRESSED, "reacted": REACTED,
    "p_react_back": P_REACT_BACK,
    "in_episode": IN_EPISODE, "playful_in_episode": PLAYFUL_IN_EPISODE,
}
#: Answers' message ids: above every base message id of the guild (those count up from
#: ``(index + 1) << 32``), below the next guild's.
_ANSWER_ID_OFFSET = 1 << 31


class AnswerRecord(msgspec.Struct, frozen=True, gc=False):
    """One simulated person's answer to one of her autonomous actions (ids and times only)."""

    guild_id: int
    user_id: int
    at: float
    #: The action answered: its name and when she sent it.
    action: str
    action_at: float
    addressed: bool
    #: ``message``, or ``reaction``: a reaction back to her reaction (no message).
    kind: str = "message"
    #: The answer mentions her or replies to her (it speaks to her).
    to_her: bool = False


class _Person:
    __slots__ = ("addressed_at", "disposition", "statuses", "times", "wrote")

    def __init__(self, disposition: str) -> None:
        self.disposition = disposition
        self.times: list[float] = []      # presence changes
        self.statuses: list[str] = []
        self.wrote: list[float] = []      # human messages (base traffic and answers)
        self.addressed_at: list[float] = []

    def status(self, t: float, initial: str) -> str:
        i = bisect.bisect_right(self.times, t) - 1
        return self.statuses[i] if i >= 0 else initial

    def wrote_since(self, t: float, since: float) -> bool:
        i = bisect.bisect_right(self.wrote, t)
        return i > 0 and self.wrote[i - 1] > since


class GuildPeople:
    """The people of one simulated guild and their answers to her, in the order she acts.

    Args:
        guild: the guild's base traffic (who is online when, who wrote when).
        seed: the run's seed.
    """

    def __init__(self, guild: GuildTraffic, seed: int) -> None:
        plan = guild.plan
        self.guild_id = plan.guild_id
        self.channel_id = plan.channel_id
        self.seed = seed
        rng = random.Random(f"miku-people:{seed}:{plan.index}")
        self.people: dict[int, _Person] = {}
        for uid in plan.humans:
            self.people[uid] = _Person(_disposition(rng.random()))
        self._initial = dict.fromkeys(guild.ready.online_user_ids, "online")
        bots = set(plan.bots)
        for e in guild.events:
            kind = type(e)
            if kind is PresenceChanged and not e.is_bot:
                p = self._person(e.user_id, rng)
                p.times.append(e.at)
                p.statuses.append(e.status)
            elif kind is MessageSeen and not e.author_is_bot and e.author_id not in bots:
                self._person(e.author_id, rng).wrote.append(e.at)
        self._next_id = ((plan.index + 1) << 32) + _ANSWER_ID_OFFSET
        self.episodes = [(e.start, e.end) for e in guild.episodes]
        self.answers: list[AnswerRecord] = []

    def _person(self, uid: int, rng: random.Random) -> _Person:
        p = self.people.get(uid)
        if p is None:  # a newcomer: drawn in the order they first appear in the traffic
            p = self.people[uid] = _Person(_disposition(rng.random()))
        return p

    def around(self, uid: int, t: float) -> str | None:
        """The person's presence at ``t`` if they are around ("online" also for someone who
        wrote in the last ``RECENT_S`` whatever their status), else None."""
        p = self.people[uid]
        status = p.status(t, self._initial.get(uid, "offline"))
        if status in PRESENCE:
            return status
        return "online" if p.wrote_since(t, t - RECENT_S) else None

    def chance(self, uid: int, t: float, *, addressed: bool, related: bool) -> float:
        """The chance that person ``uid`` answers an action at ``t`` (0 if not around)."""
        p = self.people[uid]
        status = self.around(uid, t)
        if status is None:
            return 0.0
        c = BASE[p.disposition] * PRESENCE[status]
        c *= ADDRESSED if addressed else BYSTANDER
        if p.wrote_since(t, t - MID_CONVERSATION_S):
            c *= MID_CONVERSATION
        if addressed and related:
            c *= RELATED_GAME
        k = len(p.addressed_at) - bisect.bisect_right(p.addressed_at, t - FATIGUE_WINDOW_S)
        return min(MAX_CHANCE, c * FATIGUE ** k)

    def on_action(self, action: str, t: float, target_user_id: int | None,
                  target_activity: str | None) -> list[MessageSeen]:
        """She sent ``action`` at ``t``: the answers it draws, as messages in her channel
        (sorted by time), also kept in ``answers``. Call in the order she acts. A ``react``
        (``target_user_id`` the message's author) may draw its author's answer alone: a
        message, or a reaction back (kept in ``answers``, no message)."""
        if action == "react":
            return self._on_react(t, target_user_id)
        out: list[tuple[float, int, bool, bool]] = []
        named = target_user_id if target_user_id in self.people else None
        related = target_activity is not None and is_related(target_activity)
        for uid in sorted(self.people) if named is None else (named,):
            addressed = uid == named
            c = self.chance(uid, t, addressed=addressed, related=related)
            if c <= 0.0:
                continue
            if any(a <= t < b for a, b in self.episodes):
                c *= IN_EPISODE * (PLAYFUL_IN_EPISODE if action in _PLAYFUL else 1.0)
            rng = random.Random(f"miku-react:{self.seed}:{self.guild_id}:{uid}:"
                                f"{math.floor(t * 1000)}")
            if rng.random() >= c:
                continue
            status = self.around(uid, t)
            active = status == "online"
            median = DELAY_MEDIAN_ADDRESSED_S if addressed and active else DELAY_MEDIAN_S
            delay = median * math.exp(DELAY_SIGMA * rng.gauss(0.0, 1.0))
            if not active:
                delay += rng.uniform(*AWAY_EXTRA_S)
            to_her = rng.random() < (P_TO_HER_ADDRESSED if addressed else P_TO_HER)
            if delay <= MAX_DELAY_S:
                out.append((on_grid(t + delay), uid, addressed, to_her))
        if named is not None:
            self.people[named].addressed_at.append(t)
        out.sort()
        events = []
        for at, uid, addressed, to_her in out:
            bisect.insort(self.people[uid].wrote, at)
            self._next_id += 1
            self.answers.append(AnswerRecord(self.guild_id, uid, at, action, t, addressed,
                                             to_her=to_her))
            events.append(MessageSeen(self.guild_id, self.channel_id, uid, at, False, False,
                                      to_her, self._next_id))
        return events


    def _on_react(self, t: float, uid: int | None) -> list[MessageSeen]:
        if uid is None or uid not in self.people:
            return []
        c = self.chance(uid, t, addressed=True, related=False) * REACTED
        rng = random.Random(f"miku-react:{self.seed}:{self.guild_id}:{uid}:"
                            f"{math.floor(t * 1000)}")
        if c <= 0.0 or rng.random() >= c:
            return []
        active = self.around(uid, t) == "online"
        delay = DELAY_MEDIAN_ADDRESSED_S * math.exp(DELAY_SIGMA * rng.gauss(0.0, 1.0))
        if not active:
            delay += rng.uniform(*AWAY_EXTRA_S)
        if delay > MAX_DELAY_S:
            return []
        at = on_grid(t + delay)
        if rng.random() < P_REACT_BACK:
            self.answers.append(AnswerRecord(self.guild_id, uid, at, "react", t, True,
                                             kind="reaction"))
            return []
        to_her = rng.random() < P_TO_HER_ADDRESSED
        bisect.insort(self.people[uid].wrote, at)
        self._next_id += 1
        self.answers.append(AnswerRecord(self.guild_id, uid, at, "react", t, True,
                                         to_her=to_her))
        return [MessageSeen(self.guild_id, self.channel_id, uid, at, False, False, to_her,
                            self._next_id)]


def _disposition(x: float) -> str:
    if x < P_CHATTY:
        return "chatty"
    return "casual" if x < P_CHATTY + P_CASUAL else "never"


class People:
    """Every simulated guild's people (``GuildPeople``), made on a guild's first action."""

    def __init__(self, guilds: list[GuildTraffic], seed: int) -> None:
        self._traffic = {g.plan.guild_id: g for g in guilds}
        self._seed = seed
        self._guilds: dict[int, GuildPeople] = {}

    def guild(self, guild_id: int) -> GuildPeople | None:
        """The guild's people, or None for a guild not simulated here."""
        people = self._guilds.get(guild_id)
        if people is None:
            g = self._traffic.get(guild_id)
            if g is None:
                return None
            people = self._guilds[guild_id] = GuildPeople(g, self._seed)
        return people

    def answers(self) -> list[AnswerRecord]:
        """Every answer drawn so far, by time and guild."""
        return sorted((a for p in self._guilds.values() for a in p.answers),
                      key=lambda a: (a.at, a.guild_id, a.user_id))
