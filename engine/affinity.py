"""User affinity: who answers her, who she engaged, who ignored her (ids and times only).

Per guild, for at most ``MAX_AFFINITY`` people (the most recently touched; the oldest is
dropped first), a ``Person`` record:

==============  ==========================================================================
warmth          her engages this person answered, decayed (half-life ``HALF_LIFE_S``, a
                week), in thousandths
cold            her engages this person ignored, decayed the same way
engaged_at      the second of her last engage of them (-1: never)
waiting         that engage's answer window is open (not answered, not settled yet)
ignored_row     how many of her engages in a row they ignored (0 once they answer one or
                speak to her)
ignored_at      the second of the last engage they ignored
==============  ==========================================================================

*Answered*: a message by the person she engaged that mentions or replies to her, within
``ANSWER_WINDOW_S`` (30 min) of the engage. A message to the room does not count: without
content it cannot be told from chatter with others, and counting it let people who ignored
her but kept talking to their friends look like people who answer (on the reactive
simulator, a week: pestering fell only from 236 to 167; docs/BENCHMARKS.md). *Ignored*: no
such message in that window; it is settled lazily, the first time the person is looked at
after the window closed, and counted as of the window's end, so the record is the same
whenever it is looked at (deterministic, whatever asks in between). Decay is applied when a
record changes, to the moment of the change: between changes warmth and cold are constant.

What the decision does with it (``engine.rules``, engage_user, with ``GuildConfig.affinity``):

- *blocked*: someone who ignored her the last two times (``ignored_row >= 2``) is not engaged
  again until they speak to her (a message that mentions or replies to her) or ``BLOCK_S``
  (a day) after the last ignored engage, doubled for each further ignore in the run.
- otherwise the opportunity's chance is multiplied by ``factor = (1 + w) / (1 + c)²``
  (w, c: warmth and cold in units), capped at ``MAX_FACTOR``, and by ``RECENT_FACTOR``
  (0.3) when she engaged them in the last ``RECENT_S`` (a day: a second greeting the same
  day lands worse than the first); someone unknown gets 1. More warmth, less cold or fewer
  ignores in a row never lower the chance, and never block (monotone; property-tested).
  A chance that rises with no event (a block or the recent-engage cut ending) is a moment
  "when to look next" names while the opportunity is open (``rises_at``).

With affinity on, ``engine.engage`` also reads the person's presence (``presence_factor``:
nobody on do not disturb or gone offline, idle x0.5, a newcomer given two minutes to
arrive), and the words of an engage get ``familiarity``: "familiar" (they answered her more
than they ignored her), "new" (no record) or none, a label, never anything they said.

Only messages that speak to her touch affinity (nothing on the hot path of the room's
chatter); one within ``ANSWER_WINDOW_S`` of any action of hers is an answer, and opens a record
for someone unknown. Nothing here reads content.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "ANSWER_WINDOW_S",
    "BLOCK_S",
    "FAMILIAR",
    "HALF_LIFE_S",
    "MAX_AFFINITY",
    "MAX_FACTOR",
    "MAX_IGNORED_ROW",
    "MAX_SCORE",
    "NEW",
    "Person",
    "blocked_until",
    "factor",
    "familiarity",
    "forget",
    "look",
    "note_engaged",
    "note_spoke",
    "rises_at",
]

MAX_AFFINITY = 256
ANSWER_WINDOW_S = 1800
BLOCK_S = 86400
HALF_LIFE_S = 7 * 86400.0
MAX_FACTOR = 3.0
#: She engaged them less than this ago: their chance is cut by ``RECENT_FACTOR``.
RECENT_S = 86400
RECENT_FACTOR = 0.3
#: One answer or one ignore, in the thousandths warmth and cold are kept in.
_UNIT = 1000
#: Decayed sums are capped here (65 answers, or ignores, within a half-life: more says
#: nothing new) and runs of ignores at ``MAX_IGNORED_ROW``: small numbers keep the snapshot
#: of 256 people within 10 KB (msgpack writes them in 3 bytes and 1).
MAX_SCORE = 65_000
MAX_IGNORED_ROW = 100
#: The block doubles up to 2^6 days (a run of 8 ignores); past that it stays there.
_MAX_DOUBLINGS = 8


class Person(msgspec.Struct, array_like=True, gc=False):
    """One person's affinity (see the module docstring); times are epoch seconds, -1: none."""

    at: int
    warmth: int = 0
    cold: int = 0
    engaged_at: int = -1
    waiting: bool = False
    ignored_row: int = 0
    ignored_at: int = -1


def _decay(p: Person, to: int) -> None:
    if to > p.at:
        k = 0.5 ** ((to - p.at) / HALF_LIFE_S)
        p.warmth = round(p.warmth * k)
        p.cold = round(p.cold * k)
        p.at = to


def _settle(p: Person, now: float) -> None:
    """Settle an open engage whose window closed by ``now`` as ignored, as of the window's
    end."""
    if p.waiting and now >= p.engaged_at + ANSWER_WINDOW_S:
        end = p.engaged_at + ANSWER_WINDOW_S
        _decay(p, end)
        p.cold = min(MAX_SCORE, p.cold + _UNIT)
        p.ignored_row = min(MAX_IGNORED_ROW, p.ignored_row + 1)
        p.ignored_at = p.engaged_at
        p.waiting = False


def _touch(people: dict[int, Person], user_id: int, p: Person) -> None:
    # Oldest first: moving a record to the end keeps the dict in order of last touch.
    del people[user_id]
    people[user_id] = p


def note_spoke(people: dict[int, Person], user_id: int, now: float, to_her: bool,
               last_action_at: float) -> None:
    """``user_id`` wrote a message at ``now``; ``to_her``: it mentions or replies to her.

    Only a message that speaks to her says anything about her: one to the room may be chatter
    with others (without content there is no telling), so it changes nothing. Speaking to
    her answers her open engage of them, or any action of hers in the last 30 min (warmth,
    and someone unknown gets a record), and lifts the two-ignores block."""
    if not to_her:
        return
    sec = int(now)
    p = people.get(user_id)
    if p is None:
        if now - last_action_at > ANSWER_WINDOW_S:
            return
        people[user_id] = Person(at=sec, warmth=_UNIT)
        _bound(people)
        return
    _settle(p, now)
    if (p.waiting and sec >= p.engaged_at) or now - last_action_at <= ANSWER_WINDOW_S:
        _decay(p, sec)
        p.warmth = min(MAX_SCORE, p.warmth + _UNIT)
        p.waiting = False
    p.ignored_row = 0
    _touch(people, user_id, p)


def note_engaged(people: dict[int, Person], user_id: int, now: float) -> None:
    """She engaged ``user_id`` at ``now``: their answer window opens."""
    sec = int(now)
    p = people.get(user_id)
    if p is None:
        p = people[user_id] = Person(at=sec)
        _bound(people)
    else:
        _settle(p, now)
        _decay(p, sec)
        _touch(people, user_id, p)
    p.engaged_at = sec
    p.waiting = True


def _bound(people: dict[int, Person]) -> None:
    while len(people) > MAX_AFFINITY:
        del people[next(iter(people))]


def forget(people: dict[int, Person], user_id: int) -> None:
    """Drop everything known of ``user_id`` (they opted out)."""
    people.pop(user_id, None)


def look(people: dict[int, Person], user_id: int, now: float) -> Person | None:
    """``user_id``'s record at ``now`` (None: unknown), an engage whose window closed
    settled as ignored first (the same record whenever it is asked)."""
    p = people.get(user_id)
    if p is not None:
        _settle(p, now)
    return p


def blocked_until(p: Person | None, now: float) -> float:
    """Until when ``p`` (as ``look`` gives it) may not be engaged, or -1: their last two
    engages were ignored, and they have not spoken to her since: a day after the last
    ignored one, doubled for each further ignore in the run (2 days after a third, ...)."""
    if p is not None and p.ignored_row >= 2:
        until = p.ignored_at + BLOCK_S * 2 ** (min(p.ignored_row, _MAX_DOUBLINGS) - 2)
        if now < until:
            return float(until)
    return -1.0


def factor(p: Person | None, now: float) -> float:
    """The engage chance's multiplier for ``p`` (as ``look`` gives it; 1 for someone
    unknown): ``(1 + w) / (1 + c)²``, at most ``MAX_FACTOR``, times ``RECENT_FACTOR`` when
    she engaged them less than ``RECENT_S`` ago."""
    if p is None:
        return 1.0
    f = min(MAX_FACTOR, (1.0 + p.warmth / _UNIT) / (1.0 + p.cold / _UNIT) ** 2)
    if p.engaged_at >= 0 and now < p.engaged_at + RECENT_S:
        f *= RECENT_FACTOR
    return f


#: ``familiarity`` labels: someone who answers her more than they ignore her, someone she
#: knows nothing of.
FAMILIAR = "familiar"
NEW = "new"
#: Warmth (decayed answers, in thousandths) from which someone is familiar: one answer
#: stays familiar for a week (its half-life), if they ignored her less.
FAMILIAR_WARMTH = 500


def familiarity(people: dict[int, Person], user_id: int, now: float) -> str | None:
    """A label for the words of an engage of ``user_id`` at ``now`` (the prompt's hint that
    she knows someone; nothing but this label leaves the engine): ``FAMILIAR`` when they
    answered her (warmth at least ``FAMILIAR_WARMTH``, more than their cold), ``NEW`` when
    she knows nothing of them (no record), None otherwise (she engaged them and they did
    not answer: no hint either way)."""
    p = look(people, user_id, now)
    if p is None:
        return NEW
    if p.warmth >= FAMILIAR_WARMTH and p.warmth > p.cold:
        return FAMILIAR
    return None


def rises_at(p: Person | None, now: float) -> float:
    """When ``p``'s chance next rises with no new event (a block or the recent-engage
    discount ending), or -1 if it does not."""
    if p is None:
        return -1.0
    out = blocked_until(p, now)
    recent = p.engaged_at + RECENT_S
    if p.engaged_at >= 0 and now < recent and (out < 0 or recent < out):
        out = float(recent)
    return out
