"""Who is around and who to engage: presence, joins, opportunities, engaged activities.

Online humans are tracked by id up to ``MAX_ONLINE``; past it, in a bitmap of 8,192 bits
indexed by a hash of the id (``online_extra`` counts the bits set), so when the tracked ones
go offline the guild still knows people are around, and when those go offline too it knows
nobody is (two ids sharing a bit can only make it count fewer, never keep a ghost).

An activity name is cut to 128 characters and made valid text (a lone surrogate becomes
U+FFFD) before anything keeps it. One opportunity (user, activity) gets one roll: announcing
the same activity again (a repeated presence update, a game restarted within the hour) opens
nothing new, since announcements are remembered for an hour after the last one; and a user
engaged for an activity is not engaged for it again within six hours. Open opportunities
are kept in order of opening, so the newest is the last. Both memories keep a
12-hex-digit key per (user, activity), oldest first, at most 256 each.
"""

from __future__ import annotations

import bisect
import hashlib

from engine.keywords import is_related
from engine.state import (
    MAX_ENGAGED,
    MAX_ONLINE,
    MAX_OPPORTUNITIES,
    GuildConfig,
    GuildState,
    Opportunity,
    check_time,
)

__all__ = [
    "ACTIVITY_MAX_CHARS",
    "ANNOUNCED_KEEP_S",
    "ENGAGED_KEEP_S",
    "clean_activity",
    "close_opportunity",
    "engaged_key",
    "observe_join",
    "observe_presence",
    "online_count",
    "seed_online",
]

ACTIVITY_MAX_CHARS = 128
ANNOUNCED_KEEP_S = 3600
ENGAGED_KEEP_S = 6 * 3600
MAX_ANNOUNCED = 256
_BITS = 8192
_MASK64 = (1 << 64) - 1


def clean_activity(name: str) -> str:
    """``name`` cut to 128 characters, with lone surrogates replaced (valid UTF-8 text)."""
    name = name[:ACTIVITY_MAX_CHARS]
    if not name.isascii():
        # Pairs of surrogates become the character they spell; a lone one becomes U+FFFD.
        name = name.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return name


def engaged_key(user_id: int, activity: str | None) -> str:
    """The key remembering ``user_id`` and ``activity`` (None: their join): 12 hex digits of
    a digest of the user and the casefolded, cleaned name, the same in every process (a
    digest, so a 128-character name costs a snapshot 13 bytes, not 400)."""
    text = f"{user_id}:{clean_activity(activity).casefold()}" if activity else f"{user_id}:join"
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _bit(user_id: int) -> tuple[int, int]:
    h = ((user_id * 0x9E3779B97F4A7C15) & _MASK64) >> 51  # 13 bits: 0..8191
    return h >> 3, 1 << (h & 7)


def set_online_bit(state: GuildState, user_id: int) -> None:
    """Count ``user_id`` as online past the cap (in the bitmap)."""
    _set_bit(state, user_id)


def _set_bit(state: GuildState, user_id: int) -> None:
    bits = state.online_bits
    if not bits:
        bits.extend(bytes(_BITS // 8))
    i, m = _bit(user_id)
    if not bits[i] & m:
        bits[i] |= m
        state.online_extra += 1


def _clear_bit(state: GuildState, user_id: int) -> None:
    bits = state.online_bits
    if bits:
        i, m = _bit(user_id)
        if bits[i] & m:
            bits[i] &= ~m & 0xFF
            state.online_extra -= 1


def online_count(state: GuildState) -> int:
    """Humans online: the tracked ones plus those counted past the cap (a lower bound)."""
    return len(state.online) + state.online_extra


def _saw(state: GuildState, now: float) -> None:
    if now > state.latest_at:
        state.latest_at = now


def _prune(memory: dict[str, int], before: int) -> None:
    while memory:
        first = next(iter(memory))
        if memory[first] >= before:
            return
        del memory[first]


def close_opportunity(state: GuildState, user_id: int, activity: str | None,
                      now: float) -> None:
    """``user_id`` was engaged for ``activity`` (None: their join) at ``now``: remember it
    for six hours (the last 256 such) and drop the open opportunity."""
    key = engaged_key(user_id, activity)
    engaged = state.engaged
    engaged.pop(key, None)
    engaged[key] = int(now)
    if len(engaged) > MAX_ENGAGED:
        del engaged[next(iter(engaged))]
    state.opportunities = [o for o in state.opportunities
                           if engaged_key(o.user_id, o.activity) != key]


def _announce(state: GuildState, now: float, user_id: int, activity: str | None,
              related: bool, status: str = "") -> None:
    key = engaged_key(user_id, activity)
    sec = int(now)
    engaged = state.engaged
    _prune(engaged, sec - ENGAGED_KEEP_S)
    if key in engaged:
        return  # engaged for it within six hours
    announced = state.announced
    _prune(announced, sec - ANNOUNCED_KEEP_S)
    before = announced.pop(key, None)
    announced[key] = sec if before is None else max(sec, before)
    if before is not None:
        return  # announced within the hour: the same opportunity (open or over), no new roll
    if len(announced) > MAX_ANNOUNCED:
        del announced[next(iter(announced))]
    opps = state.opportunities
    opp = Opportunity(user_id=user_id, at=now, activity=activity, related=related, roll=-1.0,
                      status=status)
    if opps and opps[-1].at > now:  # a late event: keep the list in order of opening
        bisect.insort(opps, opp, key=_opened_at)
    else:
        opps.append(opp)
    if len(opps) > MAX_OPPORTUNITIES:
        del opps[0]


def _opened_at(o: Opportunity) -> float:
    return o.at


def observe_presence(state: GuildState, now: float, user_id: int, status: str,
                     activity: str | None, is_bot: bool, cfg: GuildConfig) -> None:
    """A presence change. Bots are ignored; ``activity`` is a newly started activity (cut
    and cleaned here)."""
    check_time(now)
    if is_bot:
        return
    _saw(state, now)
    online = state.online
    if status == "offline":
        if user_id in online:
            online.discard(user_id)
        elif state.online_extra:
            _clear_bit(state, user_id)
    elif user_id not in online:
        if len(online) < MAX_ONLINE:
            online.add(user_id)
            if state.online_extra:
                _clear_bit(state, user_id)  # tracked by id now
        else:
            _set_bit(state, user_id)
    # Their open opportunities see the new status (dnd or gone: nobody to engage now).
    for o in state.opportunities:
        if o.user_id == user_id:
            o.status = status
    if activity:
        name = clean_activity(activity)
        _announce(state, now, user_id, name, is_related(name, cfg.keywords), status)


def observe_join(state: GuildState, now: float, user_id: int, is_bot: bool) -> None:
    """A member joined. Bots are ignored."""
    check_time(now)
    if is_bot:
        return
    _saw(state, now)
    if now > state.last_join_at:
        state.last_join_at = now
    _announce(state, now, user_id, None, False)


def seed_online(state: GuildState, user_ids: tuple[int, ...] | list[int]) -> None:
    """Replace who is online with the member cache's humans (when a guild becomes ready):
    the first ``MAX_ONLINE`` by id, the rest in the bitmap."""
    state.online = set(user_ids[:MAX_ONLINE])
    state.online_bits = bytearray()
    state.online_extra = 0
    for uid in user_ids[MAX_ONLINE:]:
        if uid not in state.online:
            _set_bit(state, uid)
