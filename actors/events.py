"""Typed events: everything a guild actor can receive, as frozen tagged msgspec Structs.

No event carries message content: ids, flags and timestamps only. Times are epoch seconds.

Events that can come from outside the process (control socket, replay files) are members of
``ExternalEvent`` and are decoded by one reusable decoder, ``decode_event``; a malformed one
raises ``EventDecodeError`` naming the bad field. Control messages that carry a reply channel
(``Inspect``) exist only inside the process and are not decodable.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "ActionFinished",
    "ActionRequest",
    "ChannelAccess",
    "ConfigChanged",
    "Event",
    "EventDecodeError",
    "ExternalEvent",
    "GuildReady",
    "GuildRemoved",
    "GuildUnavailable",
    "Inspect",
    "MemberJoined",
    "MemberLeft",
    "MemberOptedOut",
    "MemberTimedOut",
    "MessageSeen",
    "MessagesCoalesced",
    "MessagesDeleted",
    "MoodSet",
    "Outcome",
    "PresenceChanged",
    "ReactionChanged",
    "SnapshotNow",
    "Stop",
    "decode_event",
    "encode_event",
]


class MessageSeen(msgspec.Struct, frozen=True, tag="message", gc=False):
    """A message appeared in the guild's autonomous channel (never its content)."""

    guild_id: int
    channel_id: int
    author_id: int
    at: float
    author_is_bot: bool = False
    is_self: bool = False
    #: The message mentions the persona or replies to her: she was spoken to.
    addresses_self: bool = False
    message_id: int = 0


class MessagesCoalesced(msgspec.Struct, frozen=True, tag="messages", gc=False):
    """``count`` human messages between ``first_at`` and ``last_at``, merged by a full mailbox.

    Coalescing keeps the engine's numbers exact to the mailbox's resolution: each merged run
    only spans one second, so per-second buckets come out the same.
    """

    guild_id: int
    count: int
    first_at: float
    last_at: float


class PresenceChanged(msgspec.Struct, frozen=True, tag="presence", gc=False):
    """A member's status changed, or they started an activity (a game)."""

    guild_id: int
    user_id: int
    at: float
    status: Literal["online", "idle", "dnd", "offline"] = "online"
    #: Name of an activity the user newly started, or None.
    activity: str | None = None
    is_bot: bool = False


class MemberJoined(msgspec.Struct, frozen=True, tag="member_join", gc=False):
    """A member joined the guild."""

    guild_id: int
    user_id: int
    at: float
    is_bot: bool = False


class MemberLeft(msgspec.Struct, frozen=True, tag="member_leave", gc=False):
    """A member left the guild (or was removed): nobody to greet any more, and not online."""

    guild_id: int
    user_id: int
    at: float


class MessagesDeleted(msgspec.Struct, frozen=True, tag="messages_deleted", gc=False):
    """Messages in the guild's autonomous channel were deleted (MESSAGE_DELETE, or
    MESSAGE_DELETE_BULK: a raid cleared by moderators): the engine takes back what it counted
    for them (``engine.observe_deletions``), and a run of them makes the room tense."""

    guild_id: int
    channel_id: int
    message_ids: tuple[int, ...]
    at: float


class ReactionChanged(msgspec.Struct, frozen=True, tag="reaction", gc=False):
    """A human added (``added``) or removed an emoji reaction in the autonomous channel.
    ``value`` is the emoji's sentiment, -1..1, scored by the gateway
    (``runtime.gateway.reactions``; a custom emoji is 0); ``emoji_key`` tells emojis apart
    (a number, never the emoji's name), so a removal takes back its own addition."""

    guild_id: int
    channel_id: int
    user_id: int
    message_id: int
    emoji_key: int
    value: float
    at: float
    added: bool = True


class MemberTimedOut(msgspec.Struct, frozen=True, tag="member_timed_out", gc=False):
    """A moderator timed out a member (``communication_disabled_until`` set in the future):
    a content-free sign of trouble in the room (``engine.note_timeout``)."""

    guild_id: int
    user_id: int
    until: float
    at: float


class GuildReady(msgspec.Struct, frozen=True, tag="guild_ready", gc=False):
    """The guild is ready on this process's current gateway connection (GUILD_CREATE seen);
    seeds who is online from the member cache (humans only). Until it arrives (after a start,
    a restore or a ``GuildUnavailable``) the guild observes but decides nothing.

    ``can_speak`` is False when she cannot view, read the history of, or send to the
    autonomous channel (``missing`` names what is missing): the guild stays silent until a
    ``ChannelAccess`` says otherwise. ``can_react`` is False when she lacks Add Reactions
    (or Read Message History) there: no ``react`` until a ``ChannelAccess`` says otherwise.
    """

    guild_id: int
    at: float
    online_user_ids: tuple[int, ...] = ()
    can_speak: bool = True
    missing: str = ""
    can_react: bool = True


class GuildUnavailable(msgspec.Struct, frozen=True, tag="guild_unavailable", gc=False):
    """The guild is not ready on the current connection (a Discord outage, or a new gateway
    session whose GUILD_CREATE has not come yet): no decision until the next ``GuildReady``."""

    guild_id: int
    at: float


class ChannelAccess(msgspec.Struct, frozen=True, tag="channel_access", gc=False):
    """Her permissions in the autonomous channel changed (a role or channel update):
    ``can_speak`` False keeps the guild silent, True lets it act again; ``can_react`` as in
    ``GuildReady``."""

    guild_id: int
    at: float
    can_speak: bool
    missing: str = ""
    can_react: bool = True


class GuildRemoved(msgspec.Struct, frozen=True, tag="guild_removed", gc=False):
    """She was removed from the guild (kicked, banned, or the guild deleted): the actor stops,
    the store flags the guild removed (never woken again; dropped after 30 days), and a later
    GuildReady (invited again) starts it fresh."""

    guild_id: int
    at: float


class MoodSet(msgspec.Struct, frozen=True, tag="mood", gc=False):
    """An operator (or the seed API) set the guild's mood by hand."""

    guild_id: int
    mood: str
    at: float


Outcome = Literal["sent", "failed", "stale"]


class ActionFinished(msgspec.Struct, frozen=True, tag="action_finished", gc=False):
    """The result of an action request: exactly one per request, back to its guild's actor."""

    guild_id: int
    request_id: int
    action: str
    outcome: Outcome
    at: float
    #: Why it failed or went stale ("no item", "http 503", "deadline passed", ...).
    reason: str = ""


class ConfigChanged(msgspec.Struct, frozen=True, tag="config", gc=False):
    """The guild's settings changed (a reload). ``settings`` is an ``engine.GuildConfig``."""

    guild_id: int
    settings: Any


class MemberOptedOut(msgspec.Struct, frozen=True, tag="member_opted_out", gc=False):
    """A member opted out (``/miku-me optout``): the guild forgets what its affinity knew of
    them (``engine.forget_member``). In-process only, sent by whoever records the opt-out."""

    guild_id: int
    user_id: int


class SnapshotNow(msgspec.Struct, frozen=True, tag="snapshot_now", gc=False):
    """Ask the actor to hand its state to the store now."""

    guild_id: int


class Stop(msgspec.Struct, frozen=True, tag="stop", gc=False):
    """Ask the actor to finish: snapshot and leave its loop."""

    guild_id: int


class Inspect(msgspec.Struct, frozen=True, tag="inspect"):
    """Ask the actor for its state; it calls ``reply(dict)`` from its own task.

    In-process only (``reply`` is a callable), so it is not part of ``ExternalEvent``.
    """

    guild_id: int
    reply: Any


class ActionRequest(msgspec.Struct, frozen=True, gc=False):
    """What an actor hands to the LLM pool: one chosen action for one guild.

    ``deadline`` is epoch seconds: past it the words are worthless and the request goes stale.
    ``priority`` 0 is a reply to someone who spoke to the persona; 1 is autonomous.
    """

    request_id: int
    guild_id: int
    channel_id: int
    action: str
    mood: str
    decided_at: float
    deadline: float
    priority: int = 1
    target_user_id: int | None = None
    target_activity: str | None = None
    #: The message being answered, for a reply.
    reply_to_message_id: int | None = None
    #: The message a ``react`` goes on (its author is ``target_user_id``).
    target_message_id: int | None = None
    #: An engage_user's target as affinity knows them (``engine.familiarity``): "familiar"
    #: (they answer her), "new" (unknown to her), or None (no hint; affinity off).
    familiarity: str | None = None
    #: How the room feels when it was decided (``engine.tone_label``): "sad", "tense",
    #: "cheerful" or None; the prompt gets a short hint from it.
    tone: str | None = None


ExternalEvent = (
    MessageSeen
    | MessagesCoalesced
    | PresenceChanged
    | MemberJoined
    | MemberLeft
    | MessagesDeleted
    | ReactionChanged
    | MemberTimedOut
    | GuildReady
    | GuildUnavailable
    | ChannelAccess
    | GuildRemoved
    | MoodSet
    | ActionFinished
    | SnapshotNow
    | Stop
)

Event = ExternalEvent | ConfigChanged | Inspect | MemberOptedOut


class EventDecodeError(ValueError):
    """An event from outside the process did not validate; the message names the bad field."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"malformed event: {detail}")
        self.detail = detail


_json_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(ExternalEvent)
_msgpack_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(ExternalEvent)
_json_encoder = msgspec.json.Encoder()


def decode_event(data: bytes | str, *, format: Literal["json", "msgpack"] = "json") -> Any:
    """Decode and validate one external event.

    Args:
        data: the encoded event, with its ``type`` tag.
        format: ``"json"`` (control socket, replay files) or ``"msgpack"``.

    Returns:
        One of the ``ExternalEvent`` structs.

    Raises:
        EventDecodeError: the data is not valid for any event; the message names the field
            (``Expected `int`, got `str` - at `$.guild_id```) or the unknown tag.
    """
    try:
        if format == "json":
            return _json_decoder.decode(data)
        if isinstance(data, str):
            data = data.encode()
        return _msgpack_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise EventDecodeError(str(exc)) from None


def encode_event(event: Any) -> bytes:
    """Encode an external event as JSON (the inverse of ``decode_event``)."""
    return _json_encoder.encode(event)
