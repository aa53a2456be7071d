"""Her permissions in the autonomous channel: checked when the guild is ready, and again when a
role, the channel or her member changes; real payloads parsed by discord.py itself."""

from __future__ import annotations

from typing import Any

import discord
from structlog.testing import capture_logs

from actors.events import ChannelAccess, GuildReady
from runtime.gateway import PersonaClient, channel_access
from tests.kit.discord_payloads import (
    CHANNEL,
    GUILD,
    READ_MESSAGE_HISTORY,
    SELF_ID,
    SELF_ROLE,
    SELF_USER,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    THREAD,
    VIEW_CHANNEL,
    deny,
    guild_create,
    member,
    role,
    text_channel,
)

NOW = 1_764_259_300.5
EVERYONE = GUILD  # the @everyone role's id is the guild's
DEFAULT_PERMISSIONS = 1071698660929  # what guild_create gives @everyone


class Harness:
    """A PersonaClient whose ConnectionState is fed payloads directly (no socket)."""

    def __init__(self, channel: int = CHANNEL) -> None:
        self.events: list[Any] = []
        self.client = PersonaClient(deliver=self.events.append,
                                    channel_of={GUILD: channel}.get, clock=lambda: NOW)
        state = self.client._connection
        state.user = discord.ClientUser(state=state, data=SELF_USER)
        state._users[SELF_ID] = state.user  # type: ignore[assignment]
        self.state = state

    def feed(self, event: str, data: dict[str, Any]) -> list[Any]:
        self.events.clear()
        self.state.parsers[event](data)
        return list(self.events)


def test_ready_with_everything_can_speak() -> None:
    """With View, Read History and Send she can speak; no warning."""
    h = Harness()
    with capture_logs() as logs:
        (ready,) = h.feed("GUILD_CREATE", guild_create(GUILD))
    assert (ready.can_speak, ready.missing) == (True, "")
    assert not [e for e in logs if e["event"] == "gateway.cannot_speak"]


def test_missing_send_is_one_warning_and_a_silent_guild() -> None:
    """A channel overwrite denying Send Messages: GuildReady(can_speak=False) naming it, and
    one warning line with the guild, the channel and what is missing."""
    h = Harness()
    with capture_logs() as logs:
        (ready,) = h.feed("GUILD_CREATE", guild_create(
            GUILD, overwrites=[deny(EVERYONE, SEND_MESSAGES | READ_MESSAGE_HISTORY)]))
    assert isinstance(ready, GuildReady)
    assert (ready.can_speak, ready.missing) == (False, "Read Message History, Send Messages")
    (warning,) = [e for e in logs if e["event"] == "gateway.cannot_speak"]
    assert warning["log_level"] == "warning"
    assert (warning["guild_id"], warning["channel_id"], warning["guild"]) == (
        GUILD, CHANNEL, "Vocaloid Fans")
    assert warning["missing"] == "Read Message History, Send Messages"
    assert h.client.statistics().guilds_silent == 1


def test_channel_update_gives_it_back() -> None:
    """A CHANNEL_UPDATE removing the overwrite gives ChannelAccess(can_speak=True); an update
    that changes nothing gives nothing."""
    h = Harness()
    h.feed("GUILD_CREATE", guild_create(GUILD, overwrites=[deny(EVERYONE, SEND_MESSAGES)]))
    fixed = text_channel(CHANNEL, "miku-chat", GUILD)
    assert h.feed("CHANNEL_UPDATE", fixed) == [ChannelAccess(guild_id=GUILD, at=NOW,
                                                             can_speak=True)]
    assert h.feed("CHANNEL_UPDATE", {**fixed, "topic": "miku!"}) == []
    assert h.client.statistics().guilds_silent == 0


def test_role_update_takes_it_away() -> None:
    """@everyone losing View Channel (GUILD_ROLE_UPDATE) gives ChannelAccess(can_speak=False)."""
    h = Harness()
    h.feed("GUILD_CREATE", guild_create(GUILD))
    everyone = {"id": str(EVERYONE), "name": "@everyone",
                "permissions": str(DEFAULT_PERMISSIONS & ~VIEW_CHANNEL), "position": 0,
                "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
    (ev,) = h.feed("GUILD_ROLE_UPDATE", {"guild_id": str(GUILD), "role": everyone})
    # Without View Channel Discord grants nothing else in the channel either.
    assert ev == ChannelAccess(guild_id=GUILD, at=NOW, can_speak=False,
                               missing="View Channel, Read Message History, Send Messages",
                               can_react=False)


def test_her_own_role_change_counts() -> None:
    """Her managed role granted Send again, through GUILD_MEMBER_UPDATE of her own member after
    the role exists: access comes back."""
    h = Harness()
    h.feed("GUILD_CREATE", guild_create(GUILD, overwrites=[deny(EVERYONE, SEND_MESSAGES)]))
    allow = {"id": str(SELF_ROLE), "type": 0, "allow": str(SEND_MESSAGES), "deny": "0"}
    granted = text_channel(CHANNEL, "miku-chat", GUILD,
                           overwrites=[deny(EVERYONE, SEND_MESSAGES), allow])
    # The overwrite is for her managed role; she holds it, so the channel update gives it back.
    assert [e.can_speak for e in h.feed("CHANNEL_UPDATE", granted)] == [True]
    # Taking her role away (a member update of herself) takes it away again.
    data = {**member(SELF_ID), "guild_id": str(GUILD)}
    assert [e.can_speak for e in h.feed("GUILD_MEMBER_UPDATE", data)] == [False]


def test_voice_channel_is_not_a_place_to_talk() -> None:
    """An autonomous channel that is a voice channel: silent, saying so."""
    h = Harness()
    (ready,) = h.feed("GUILD_CREATE", guild_create(GUILD, channel_type=2))
    assert ready.can_speak is False
    assert ready.missing == "a text, news or thread channel (it is voice)"


def test_deleted_channel_and_thread_needs() -> None:
    """A channel she cannot see is missing; in a thread she needs Send Messages in Threads."""
    h = Harness(channel=424242)
    (ready,) = h.feed("GUILD_CREATE", guild_create(GUILD))
    assert ready.can_speak is False and "View Channel" in ready.missing
    h = Harness(channel=THREAD)
    h.feed("GUILD_CREATE", guild_create(
        GUILD, overwrites=[deny(EVERYONE, SEND_MESSAGES_IN_THREADS)]))
    guild = h.client.get_guild(GUILD)
    assert guild is not None
    assert channel_access(guild, THREAD) == (False, "Send Messages in Threads")
    assert channel_access(guild, CHANNEL) == (True, "")


def test_role_payload_helper_is_what_discord_sends() -> None:
    """Her managed role parses as discord.py's bot-managed role for her (the mention rule)."""
    h = Harness()
    h.feed("GUILD_CREATE", guild_create(GUILD))
    guild = h.client.get_guild(GUILD)
    assert guild is not None and guild.self_role is not None
    assert guild.self_role.id == SELF_ROLE and guild.self_role.is_bot_managed()
    assert role(1, "x")["managed"] is False


def test_whether_she_may_react_follows_her_permissions() -> None:
    """Add Reactions denied in her channel: the guild is ready and may speak, but
    GuildReady says she may not react (so the engine decides no ``react`` that would only
    be refused); a channel update that grants it gives ChannelAccess(can_react=True), one
    that takes it away again ChannelAccess(can_react=False)."""
    from tests.kit.discord_permissions import ADD_REACTIONS

    h = Harness()
    (ready,) = h.feed("GUILD_CREATE", guild_create(
        GUILD, overwrites=[deny(EVERYONE, ADD_REACTIONS)]))
    assert (ready.can_speak, ready.can_react) == (True, False)
    fixed = text_channel(CHANNEL, "miku-chat", GUILD)
    assert h.feed("CHANNEL_UPDATE", fixed) == [ChannelAccess(guild_id=GUILD, at=NOW,
                                                             can_speak=True, can_react=True)]
    assert h.feed("CHANNEL_UPDATE", {**fixed, "topic": "miku!"}) == []
    lost = text_channel(CHANNEL, "miku-chat", GUILD, overwrites=[deny(EVERYONE, ADD_REACTIONS)])
    assert h.feed("CHANNEL_UPDATE", lost) == [ChannelAccess(guild_id=GUILD, at=NOW,
                                                            can_speak=True, can_react=False)]
