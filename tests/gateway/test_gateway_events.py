"""Real gateway payloads, parsed by discord.py itself, become the right actor events."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from actors.events import (
    GuildReady,
    GuildRemoved,
    GuildUnavailable,
    MemberJoined,
    MessageSeen,
    PresenceChanged,
)
from runtime.gateway import PersonaClient, persona_intents
from tests.kit.discord_payloads import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    GUILD,
    HELPER_BOT,
    OTHER_CHANNEL,
    SELF_ID,
    SELF_USER,
    UNCONFIGURED_GUILD,
    custom_status,
    game,
    guild_create,
    guild_member_add,
    message_create,
    presence,
    stream,
)

NOW = 1_764_259_300.5


class Harness:
    """A PersonaClient whose ConnectionState is fed payloads directly (no socket)."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.client = PersonaClient(deliver=self.events.append,
                                    channel_of={GUILD: CHANNEL}.get, clock=lambda: NOW)
        state = self.client._connection
        # What parse_ready does for the persona's own user.
        state.user = discord.ClientUser(state=state, data=SELF_USER)
        state._users[SELF_ID] = state.user  # type: ignore[assignment]
        self.state = state

    def feed(self, event: str, data: dict[str, Any]) -> list[Any]:
        """Parse one gateway dispatch the way the shard reader does; the events it made."""
        self.events.clear()
        self.state.parsers[event](data)
        return list(self.events)


@pytest.fixture
def gw() -> Harness:
    h = Harness()
    h.feed("GUILD_CREATE", guild_create(GUILD))
    return h


def test_intents_and_no_message_cache() -> None:
    """The client asks for exactly the intents the signals need and keeps no messages."""
    intents = persona_intents()
    assert (intents.guilds, intents.guild_messages, intents.members, intents.presences,
            intents.message_content) == (True, True, True, True, True)
    assert not intents.dm_messages and not intents.voice_states
    client = PersonaClient(deliver=lambda e: None, channel_of=lambda g: None)
    assert client._connection._messages is None
    assert client.intents.value == intents.value


def test_guild_create_seeds_online_humans() -> None:
    """GUILD_CREATE gives GuildReady with online humans only (not bob offline, not bots)."""
    h = Harness()
    assert h.feed("GUILD_CREATE", guild_create(GUILD)) == [
        GuildReady(guild_id=GUILD, at=NOW, online_user_ids=(ALICE,))]


def test_guild_without_autonomous_channel_is_silent() -> None:
    """A guild with no autonomous channel produces no event at all."""
    h = Harness()
    assert h.feed("GUILD_CREATE", guild_create(UNCONFIGURED_GUILD)) == []
    assert h.feed("MESSAGE_CREATE", message_create(
        5, ALICE, channel_id=2100, guild_id=UNCONFIGURED_GUILD)) == []
    assert h.feed("GUILD_MEMBER_ADD", guild_member_add(CAROL, UNCONFIGURED_GUILD)) == []
    assert h.client.statistics().delivered == 0


def test_message_in_autonomous_channel(gw: Harness) -> None:
    """A human's message in the autonomous channel: ids and flags, no content."""
    (ev,) = gw.feed("MESSAGE_CREATE", message_create(5001, ALICE, content="hi all"))
    assert ev == MessageSeen(guild_id=GUILD, channel_id=CHANNEL, author_id=ALICE, at=NOW,
                             message_id=5001)
    assert "hi all" not in repr(ev)


def test_messages_elsewhere_are_ignored(gw: Harness) -> None:
    """Another channel or a DM gives nothing."""
    assert gw.feed("MESSAGE_CREATE", message_create(5002, ALICE,
                                                    channel_id=OTHER_CHANNEL)) == []
    assert gw.feed("MESSAGE_CREATE", message_create(5003, ALICE, channel_id=3000,
                                                    guild_id=None)) == []
    assert gw.client.statistics().ignored == 2


def test_bot_and_self_messages_are_flagged(gw: Harness) -> None:
    """A bot's message counts as a bot's; her own is is_self; neither addresses her."""
    (bot,) = gw.feed("MESSAGE_CREATE", message_create(5004, HELPER_BOT, mentions=(SELF_ID,)))
    assert (bot.author_is_bot, bot.is_self, bot.addresses_self) == (True, False, False)
    (own,) = gw.feed("MESSAGE_CREATE", message_create(5005, SELF_ID))
    assert (own.author_is_bot, own.is_self, own.addresses_self) == (False, True, False)


def test_mention_addresses_her(gw: Harness) -> None:
    """A human mentioning the persona addresses her; mentioning someone else does not."""
    (ev,) = gw.feed("MESSAGE_CREATE", message_create(5006, ALICE, mentions=(SELF_ID,)))
    assert ev.addresses_self
    (ev,) = gw.feed("MESSAGE_CREATE", message_create(5007, ALICE, mentions=(BOB,)))
    assert not ev.addresses_self


def test_reply_to_her_addresses_her(gw: Harness) -> None:
    """A reply to one of her messages addresses her; a reply to someone else's does not."""
    hers = message_create(4000, SELF_ID, content="anyone up?")
    (ev,) = gw.feed("MESSAGE_CREATE", message_create(5008, BOB, reply_to=hers))
    assert ev.addresses_self and ev.author_id == BOB
    alices = message_create(4001, ALICE)
    (ev,) = gw.feed("MESSAGE_CREATE", message_create(5009, BOB, reply_to=alices))
    assert not ev.addresses_self


def test_presence_game_started(gw: Harness) -> None:
    """Bob comes online playing a game: status and the newly started activity."""
    (ev,) = gw.feed("PRESENCE_UPDATE", presence(BOB, "online", [game("Project DIVA Mega Mix+")]))
    assert ev == PresenceChanged(guild_id=GUILD, user_id=BOB, at=NOW, status="online",
                                 activity="Project DIVA Mega Mix+")


def test_presence_same_game_again_is_not_new(gw: Harness) -> None:
    """An activity already running is not "new"; going idle is still a status change."""
    gw.feed("PRESENCE_UPDATE", presence(ALICE, "online", [game("osu!")]))
    (ev,) = gw.feed("PRESENCE_UPDATE", presence(ALICE, "idle", [game("osu!")]))
    assert (ev.status, ev.activity) == ("idle", None)
    assert gw.feed("PRESENCE_UPDATE", presence(ALICE, "idle", [game("osu!")])) == []


def test_presence_stream_uses_the_game(gw: Harness) -> None:
    """A stream starting reports the game being streamed."""
    (ev,) = gw.feed("PRESENCE_UPDATE", presence(ALICE, "online",
                                                [stream("late night run", "Hatsune Miku")]))
    assert ev.activity == "Hatsune Miku"


def test_custom_status_is_not_an_activity(gw: Harness) -> None:
    """A custom status is free text, not an activity started: no event without a status change."""
    assert gw.feed("PRESENCE_UPDATE", presence(ALICE, "online",
                                               [custom_status("miku miku")])) == []


def test_presence_offline_and_bots(gw: Harness) -> None:
    """Going offline (or invisible) is reported; a bot's presence is not."""
    (ev,) = gw.feed("PRESENCE_UPDATE", presence(ALICE, "offline"))
    assert ev.status == "offline"
    assert gw.feed("PRESENCE_UPDATE", presence(HELPER_BOT, "idle", [game("Minecraft")])) == []


def test_member_join(gw: Harness) -> None:
    """GUILD_MEMBER_ADD gives MemberJoined for the new member."""
    assert gw.feed("GUILD_MEMBER_ADD", guild_member_add(CAROL)) == [
        MemberJoined(guild_id=GUILD, user_id=CAROL, at=NOW)]


def test_guild_outage_pauses_and_removal(gw: Harness) -> None:
    """GUILD_DELETE with unavailable (an outage) gives GuildUnavailable, the guild coming back
    (GUILD_CREATE unavailable=false) GuildReady again; GUILD_DELETE without it removes it."""
    assert gw.feed("GUILD_DELETE", {"id": str(GUILD), "unavailable": True}) == [
        GuildUnavailable(guild_id=GUILD, at=NOW)]
    assert gw.client.statistics().guilds_ready == 0
    (ready,) = gw.feed("GUILD_CREATE", guild_create(GUILD, unavailable=False))
    assert isinstance(ready, GuildReady) and ready.online_user_ids == (ALICE,)
    assert gw.client.statistics().guilds_ready == 1
    assert gw.feed("GUILD_DELETE", {"id": str(GUILD)}) == [GuildRemoved(guild_id=GUILD, at=NOW)]
    assert gw.client.statistics().guilds_ready == 0


def test_a_failing_deliver_does_not_break_parsing(gw: Harness) -> None:
    """If deliver raises, the error is counted and logged; the reader carries on."""
    def boom(event: Any) -> None:
        raise RuntimeError("router gone")

    gw.client._deliver = boom
    gw.feed("MESSAGE_CREATE", message_create(5010, ALICE))
    assert gw.client.statistics().handler_errors == 1


def test_display_name_from_member_cache(gw: Harness) -> None:
    """The pool's name lookup reads the member cache and never calls Discord."""
    import asyncio

    assert asyncio.run(gw.client.display_name(GUILD, ALICE)) == "Alice"
    assert asyncio.run(gw.client.display_name(GUILD, 424242)) is None
    assert asyncio.run(gw.client.display_name(UNCONFIGURED_GUILD, ALICE)) is None
