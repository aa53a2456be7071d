"""The room's content-free signals at the gateway: deletions (issue 20), reactions and
timeouts (issue 22 part 3), as the loopback Discord sends them (ids and emoji only)."""

from __future__ import annotations

import pytest

from actors.events import GuildReady, MemberTimedOut, MessagesDeleted, MessageSeen, ReactionChanged
from runtime.gateway import persona_intents
from runtime.gateway.reactions import emoji_key, emoji_value, sentiment_table
from tests.kit.discord_payloads import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    GUILD,
    HELPER_BOT,
    OTHER_CHANNEL,
    SELF_ID,
    USERS,
    guild_create,
    guild_member_add,
    member,
    message_create,
    message_delete,
    message_delete_bulk,
    reaction,
)
from tests.kit.fake_discord import FakeDiscord
from tests.kit.gateway_harness import Fed, connected

NOW = 1_764_259_300.0
ADD, REMOVE = "MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE"


def _fed() -> Fed:
    h = Fed({GUILD: CHANNEL}, now=NOW)
    h.feed("GUILD_CREATE", guild_create(GUILD))
    return h


def test_deletions_in_her_channel_become_one_event_by_id() -> None:
    """MESSAGE_DELETE and MESSAGE_DELETE_BULK in her channel: ``MessagesDeleted`` with the
    ids; in another channel, or a guild without her channel: nothing."""
    h = _fed()
    assert h.feed("MESSAGE_DELETE", message_delete(9001)) == [
        MessagesDeleted(GUILD, CHANNEL, (9001,), NOW)]
    assert h.feed("MESSAGE_DELETE_BULK", message_delete_bulk([9003, 9002])) == [
        MessagesDeleted(GUILD, CHANNEL, (9002, 9003), NOW)]
    assert h.feed("MESSAGE_DELETE", message_delete(9004, channel_id=OTHER_CHANNEL)) == []
    assert h.feed("MESSAGE_DELETE_BULK", message_delete_bulk([9005], guild_id=1100)) == []


def test_reactions_are_scored_by_emoji_and_only_humans_count() -> None:
    """A human's reaction in her channel: its emoji's value and key; its removal (no member,
    as Discord sends it) the same key. A bot's reaction, hers, and one in another channel:
    nothing. A custom emoji is neutral."""
    h = _fed()
    (sad,) = h.feed(ADD, reaction(ADD, 5000, ALICE, "😢"))
    assert isinstance(sad, ReactionChanged) and sad.added
    assert (sad.user_id, sad.message_id, sad.value) == (ALICE, 5000, emoji_value(None, "😢"))
    assert sad.value < 0
    (gone,) = h.feed(REMOVE, reaction(REMOVE, 5000, ALICE, "😢"))
    assert (gone.added, gone.emoji_key) == (False, sad.emoji_key)
    bot = reaction(ADD, 5000, HELPER_BOT, "😢")
    assert h.feed(ADD, bot) == []
    assert h.feed(ADD, reaction(ADD, 5000, SELF_ID, "❤️")) == []
    assert h.feed(ADD, reaction(ADD, 5000, ALICE, "😢", channel_id=OTHER_CHANNEL)) == []
    (custom,) = h.feed(ADD, reaction(ADD, 5000, BOB, "pepe_sad", emoji_id=777))
    assert (custom.value, custom.emoji_key) == (0.0, 777)


def test_the_emoji_table_is_the_published_ranking_read_against_its_most_used_emoji() -> None:
    """The Emoji Sentiment Ranking's scores, less 😂's: sad and angry faces negative, hearts
    and thumbs up positive; variation selectors and skin tones do not change an emoji."""
    table = sentiment_table()
    assert len(table) > 700 and abs(table["😂"] - 0.221) < 0.001
    assert emoji_value(None, "😂") == pytest.approx(0.0, abs=0.001)
    for sad in ("😢", "😭", "💔", "😡", "😠", "👎"):
        assert emoji_value(None, sad) < -0.15, sad
    for glad in ("❤", "❤️", "👍", "👍🏽", "🎉", "😍"):
        assert emoji_value(None, glad) > 0.25, glad
    assert emoji_value(None, "❤️‍🔥") == emoji_value(None, "❤")
    assert emoji_value(None, "no such emoji") == 0.0 and emoji_value(5, "😢") == 0.0
    assert emoji_key(None, "😢") != emoji_key(None, "😭")


def test_a_moderators_timeout_is_a_sign_of_trouble_once() -> None:
    """GUILD_MEMBER_UPDATE with ``communication_disabled_until`` in the future:
    ``MemberTimedOut``, once (a later update of the same timeout is not a new one); a timeout
    in the past, or of a bot, is nothing."""
    h = _fed()
    h.feed("GUILD_MEMBER_ADD", guild_member_add(CAROL))
    until = "2025-11-27T16:30:00+00:00"  # NOW is 2025-11-27 15:21:40 UTC
    data = {"guild_id": str(GUILD), **member(CAROL), "communication_disabled_until": until}
    (event,) = h.feed("GUILD_MEMBER_UPDATE", data)
    assert event == MemberTimedOut(GUILD, CAROL, 1_764_261_000.0, NOW)
    assert h.feed("GUILD_MEMBER_UPDATE", {**data, "nick": "c"}) == []
    past = {**data, "user": USERS[ALICE], "communication_disabled_until":
            "2025-11-27T15:00:00+00:00"}
    assert h.feed("GUILD_MEMBER_UPDATE", past) == []
    bot = {**data, "user": USERS[HELPER_BOT]}
    assert h.feed("GUILD_MEMBER_UPDATE", bot) == []


def test_the_reactions_intent_is_asked_for() -> None:
    """Reactions need GUILD_MESSAGE_REACTIONS (not privileged); asked for always."""
    assert persona_intents().guild_reactions
    assert persona_intents(presences=False, members=False).guild_reactions


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_over_the_gateway_a_raid_deleted_and_reactions_arrive(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On the loopback Discord: messages, their bulk deletion, a reaction added and removed
    reach the deliver() as typed events; the stand-in sends the reactions only because the
    client asked for the intent."""
    async with FakeDiscord() as fake, connected(fake, monkeypatch) as (_client, rec):
        await rec.wait_for(GuildReady)
        assert fake.identifies[-1]["intents"] & (1 << 10)
        for mid in (9101, 9102):
            await fake.dispatch("MESSAGE_CREATE", message_create(mid, ALICE))
        await rec.wait_for(MessageSeen, 2)
        await fake.dispatch("MESSAGE_DELETE_BULK", message_delete_bulk([9101, 9102]))
        (deleted,) = await rec.wait_for(MessagesDeleted)
        assert deleted.message_ids == (9101, 9102)
        await fake.dispatch(ADD, reaction(ADD, 9103, BOB, "😭"))
        await fake.dispatch(REMOVE, reaction(REMOVE, 9103, BOB, "😭"))
        added, removed = await rec.wait_for(ReactionChanged, 2)
        assert (added.added, removed.added, added.emoji_key) == (True, False,
                                                                 removed.emoji_key)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_stand_in_sends_no_reaction_without_the_intent(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection that did not ask for GUILD_MESSAGE_REACTIONS gets no reaction event, as
    on Discord (the message after it still arrives)."""
    import runtime.gateway.client as client_module

    def without(**kw: bool) -> object:
        intents = persona_intents(**kw)
        intents.guild_reactions = False
        return intents

    monkeypatch.setattr(client_module, "persona_intents", without)
    async with FakeDiscord() as fake, connected(fake, monkeypatch) as (_client, rec):
        await rec.wait_for(GuildReady)
        assert not fake.identifies[-1]["intents"] & (1 << 10)
        await fake.dispatch(ADD, reaction(ADD, 9103, BOB, "😭"))
        await fake.dispatch("MESSAGE_CREATE", message_create(9104, ALICE))
        await rec.wait_for(MessageSeen)
        assert rec.of(ReactionChanged) == []
