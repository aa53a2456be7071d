"""A member in Membership Screening (``pending: true``) is not greeted before they can speak:
their join counts when they pass the screening (GUILD_MEMBER_UPDATE, ``pending`` false)."""

from __future__ import annotations

from actors.events import MemberJoined
from tests.kit.discord_payloads import CAROL, CHANNEL, GUILD, guild_create, guild_member_add
from tests.kit.gateway_harness import Fed

NOW = 1_764_259_300.0


def test_a_pending_member_joins_when_the_screening_is_passed() -> None:
    """GUILD_MEMBER_ADD with pending true delivers nothing; the update that clears pending
    delivers the MemberJoined; later updates of the member deliver nothing more."""
    h = Fed({GUILD: CHANNEL}, now=NOW)
    h.feed("GUILD_CREATE", guild_create(GUILD))
    assert h.feed("GUILD_MEMBER_ADD", {**guild_member_add(CAROL), "pending": True}) == []
    passed = {**guild_member_add(CAROL), "pending": False}
    assert h.feed("GUILD_MEMBER_UPDATE", passed) == [
        MemberJoined(guild_id=GUILD, user_id=CAROL, at=NOW, is_bot=False)]
    assert h.feed("GUILD_MEMBER_UPDATE", {**passed, "nick": "caro"}) == []


def test_a_member_without_screening_joins_at_once() -> None:
    """No screening (pending false): the join counts at GUILD_MEMBER_ADD, as before."""
    h = Fed({GUILD: CHANNEL}, now=NOW)
    h.feed("GUILD_CREATE", guild_create(GUILD))
    assert h.feed("GUILD_MEMBER_ADD", guild_member_add(CAROL)) == [
        MemberJoined(guild_id=GUILD, user_id=CAROL, at=NOW, is_bot=False)]
