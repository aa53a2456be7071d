"""``/miku-me optout`` and ``optin``: any member, persisted by user id; an opted-out member is
never greeted and their lines never reach a prompt, while they still count."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from runtime.pool import OfflineBackend
from runtime.pool.models import Prompt
from tests.kit.cmdkit import MEMBER, running_bot
from tests.kit.discord_payloads import (
    ALICE,
    BOB,
    CHANNEL,
    GUILD,
    SELF_ID,
    game,
    message_create,
    presence,
)

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

FILE = f"""
[defaults]
quiet_hours = []
rotate_moods = false
[guilds.{GUILD}]
autonomous_channel_id = {CHANNEL}
"""


class Recording:
    """The offline persona, keeping every prompt it was given."""

    def __init__(self) -> None:
        self.inner = OfflineBackend(None, seed=1)
        self.prompts: list[Prompt] = []

    async def generate(self, prompt: Prompt) -> str:
        self.prompts.append(prompt)
        return await self.inner.generate(prompt)


async def test_optout_and_optin_for_any_member_persist_across_a_restart(
        tmp_path: Path) -> None:
    """A member without any permission opts out (ephemeral, says what it means), it is in the
    store by user id and in ``inspect``'s stats after a restart; optin undoes it."""
    async with running_bot(tmp_path, FILE) as bot:
        cb = await bot.command("optout", user_id=BOB, permissions=MEMBER)
        assert cb.ephemeral and cb.content.startswith("Done: she leaves you out")
        assert cb.content.endswith("`/miku-me optin` undoes it.")
        cb = await bot.command("optout", user_id=BOB, permissions=MEMBER)
        assert cb.content.startswith("You had already opted out; nothing changed.")
    async with running_bot(tmp_path, FILE) as bot:
        assert bot.runtime.settings.opted_out(BOB)
        assert await bot.runtime.store.load_optouts() == {BOB}
        assert bot.runtime.settings.opted_out_ids() == [BOB]  # what inspect's stats show
        cb = await bot.command("optin", user_id=BOB, permissions=MEMBER)
        assert cb.content.startswith("Welcome back")
        assert not bot.runtime.settings.opted_out(BOB)
    async with running_bot(tmp_path, FILE) as bot:
        assert not bot.runtime.settings.opted_out(BOB)


async def test_an_opted_out_member_is_not_greeted_but_others_are(tmp_path: Path) -> None:
    """Bob (opted out) and then Alice start a related game: she greets Alice, never Bob, and
    Bob's presence still counts (he is online in the signals)."""
    async with running_bot(tmp_path, FILE) as bot:
        await bot.command("optout", user_id=BOB, permissions=MEMBER)
        await bot.command("mood", {"name": "bubbly", "hours": 2.0})
        await bot.fake.dispatch("PRESENCE_UPDATE",
                                presence(BOB, "online", [game("Project DIVA Mega Mix")]))
        await bot.fake.dispatch("PRESENCE_UPDATE",
                                presence(ALICE, "online", [game("Project DIVA Mega Mix")]))
        with anyio.fail_after(10):
            await bot.fake.message_posted.wait()
        detail = await bot.runtime.supervisor.guild_detail(GUILD)
        assert detail is not None
        targets = [d["target_user_id"] for d in detail["decisions"]]
        assert targets == [ALICE]
        assert len(bot.fake.sent) == 1
        assert BOB in detail["state"]["online"]
        assert all(o["user_id"] != BOB for o in detail["state"]["opportunities"])


async def test_an_opted_out_members_lines_never_reach_the_prompt(tmp_path: Path) -> None:
    """Alice asks her something about Bob (opted out), who spoke just before: the reply's
    prompt has Alice's line, with "@someone" for Bob, and none of Bob's."""
    backend = Recording()
    async with running_bot(tmp_path, FILE, backend=backend) as bot:
        await bot.command("optout", user_id=BOB, permissions=MEMBER)
        bob_line = message_create(5001, BOB, content="my secret plans for friday")
        alice_line = message_create(5002, ALICE, content=f"<@{SELF_ID}> what do you think "
                                    f"of <@{BOB}>'s plans?", mentions=(SELF_ID, BOB))
        bot.fake.history[CHANNEL] = [alice_line, bob_line]
        await bot.fake.dispatch("MESSAGE_CREATE", bob_line)
        await bot.fake.dispatch("MESSAGE_CREATE", alice_line)
        with anyio.fail_after(10):
            await bot.fake.message_posted.wait()
        [prompt] = backend.prompts
        assert prompt.action == "reply"
        text = "\n".join(m.content for m in prompt.messages)
        assert "what do you think of @someone's plans?" in text
        assert "secret plans" not in text
        assert "Bob" not in text  # not even his name in Alice's mention
