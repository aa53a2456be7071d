"""The real ``/miku`` tree registers on Discord: every name and description within Discord's
rules (checked over the whole tree, for every command name the config allows), and a sync
Discord refuses is one error line naming what it refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import discord
import pytest
from structlog.testing import capture_logs

from runtime.gateway.commands import Commands, install_commands, sync_refusal
from tests.kit.command_rules import refusal
from tests.kit.discord_payloads import SELF_ID
from tests.kit.fake_discord import FakeDiscord
from tests.kit.fake_interactions import FakeCommands

#: discord.py runs on asyncio only.
ASYNCIO = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]


class _Runtime:
    """What building the tree needs of the runtime: nothing until a command runs."""

    def __init__(self) -> None:
        self.settings = SimpleNamespace(roles_of=None)
        self.supervisor = None


def build(name: str = "miku") -> Commands:
    client = discord.Client(intents=discord.Intents(guilds=True), application_id=SELF_ID)
    return Commands(client, _Runtime(), name=name, clock=lambda: 0.0)


@pytest.mark.parametrize("name", ["miku", "a", "x" * 32, "rin-chan_2"])
def test_the_whole_tree_is_within_discords_rules(name: str) -> None:
    """The body sent to Discord breaks none of its documented rules, whatever the
    configured command name (``[discord] command_name``'s pattern)."""
    payload = build(name).payload()
    assert refusal(payload) is None, refusal(payload)
    for group in payload:
        for option in group["options"]:
            assert 1 <= len(option["description"]) <= 100, option["name"]


@pytest.fixture
async def discord_routes(monkeypatch: pytest.MonkeyPatch
                         ) -> AsyncIterator[tuple[FakeDiscord, FakeCommands]]:
    routes = FakeCommands()
    async with FakeDiscord(mounts=(routes.mount,)) as fake:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        yield fake, routes


@ASYNCIO[0]
@ASYNCIO[1]
async def test_a_refused_sync_is_one_line_naming_the_field(discord_routes: Any) -> None:
    """A subcommand whose description is too long makes Discord refuse the sync; the bot logs
    one error line naming the command, the field and Discord's message, and runs on."""
    _, routes = discord_routes

    async def noop(interaction: discord.Interaction) -> None:
        return None

    client = discord.Client(intents=discord.Intents(guilds=True), application_id=SELF_ID)
    commands = install_commands(client, _Runtime(), hash_path=None)
    commands.group.add_command(discord.app_commands.Command(
        name="wordy", description="w" * 101, callback=noop))
    with capture_logs() as logs:
        await client.login("test-token-not-real")
        await client.close()
    [line] = [e for e in logs if e["event"] == "commands.sync_failed"]
    assert line["log_level"] == "error"
    assert (line["status"], line["code"]) == (400, 50035)
    assert line["refused"] == "/miku wordy description: Must be between 1 and 100 in length."
    assert routes.syncs == [] and len(routes.refused) == 1


def test_the_refusal_names_fields_by_path() -> None:
    """Discord's flattened error paths are named after the commands and options they point
    at; a path the body does not name stays as it is."""
    payload = [{"name": "miku", "options": [
        {"name": "pause", "options": [{"name": "hours", "choices": [{"name": "one"}]}]}]}]

    class Refused(discord.HTTPException):
        def __init__(self, text: str) -> None:
            self.text, self.status, self.code = text, 400, 50035

    text = ("Invalid Form Body\nIn 0.options.0.options.0.description: Too long.\n"
            "In 0.options.0.options.0.choices.0.name: Bad.\nIn 3.name: Gone.")
    assert sync_refusal(Refused(text), payload) == (
        "/miku pause hours description: Too long.; /miku pause hours one name: Bad.; "
        "3 name: Gone.")
    assert sync_refusal(Refused("Command exceeds maximum size (8000)"), payload) == (
        "Command exceeds maximum size (8000)")


def test_admin_commands_are_hidden_by_default_and_member_commands_are_not() -> None:
    """The admin group carries default_member_permissions Manage Server (admins can hide or
    delegate it under Integrations); the members' group carries none; both are for servers
    only by ``contexts``/``integration_types`` (guild), not the deprecated dm_permission."""
    payload = build().payload()
    by_name = {c["name"]: c for c in payload}
    assert sorted(by_name) == ["miku", "miku-me"]
    admin, members = by_name["miku"], by_name["miku-me"]
    assert int(admin["default_member_permissions"]) == 1 << 5
    assert members["default_member_permissions"] is None
    assert sorted(o["name"] for o in members["options"]) == ["optin", "optout"]
    for command in payload:
        assert command["contexts"] == [0] and command["integration_types"] == [0]
        assert "dm_permission" not in command


def test_fixed_sets_are_choices_and_hours_start_above_zero() -> None:
    """Policies and moods are static choices (no autocomplete round trip); hour counts have a
    positive minimum, since 0 is refused."""
    [admin] = [c for c in build().payload() if c["name"] == "miku"]
    options = {o["name"]: {p["name"]: p for p in o.get("options", [])}
               for o in admin["options"]}
    assert [c["value"] for c in options["policy"]["name"]["choices"]] == ["v2", "v1", "shadow"]
    assert not options["policy"]["name"].get("autocomplete")
    assert len(options["mood"]["name"]["choices"]) == 14
    assert options["pause"]["hours"]["min_value"] > 0
    assert options["mood"]["hours"]["min_value"] > 0


def test_a_long_command_name_keeps_the_members_group_within_32() -> None:
    """The members' group is ``<name>-me``, cut so that it stays a valid name."""
    names = [c["name"] for c in build("x" * 32).payload()]
    assert names == ["x" * 32, "x" * 29 + "-me"]
