"""The members' group, ``/miku-me`` (``<command_name>-me``): ``optout`` and ``optin``, for
anyone, in every server (an opt-out is kept by user id). A group of its own because the admin
group is hidden from members by default (``default_member_permissions``).

What an opt-out does (DESIGN.md, privacy): she greets no one who opted out, starts no
conversation with them and does not answer them; their messages still arrive (Discord sends
them to the bot) and still count as activity, but their words are left out of every prompt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.gateway._discord import discord

if TYPE_CHECKING:
    from runtime.gateway.commands.tree import Commands

app_commands = discord.app_commands

__all__ = ["add_member_commands"]


def add_member_commands(c: Commands, group: app_commands.Group) -> None:
    """Add ``optout`` and ``optin``, bound to ``c``, to ``group``."""

    @group.command(name="optout", description="Ask her to leave you out in every server: no "
                   "greetings or chats, your words kept from her prompts.")
    async def optout(interaction: discord.Interaction) -> None:
        changed = await c.settings.set_optout(interaction.user.id, True)
        await c.answer(interaction, (
            "Done: she leaves you out in every server — no greetings, no conversations "
            "started with you, no answers, and your messages are left out of what she "
            "reads. Your messages still count as activity (never their words). "
            if changed else "You had already opted out; nothing changed. ")
            + f"`/{group.name} optin` undoes it.")

    @group.command(name="optin", description="Undo optout: she may talk with you again.")
    async def optin(interaction: discord.Interaction) -> None:
        changed = await c.settings.set_optout(interaction.user.id, False)
        await c.answer(interaction, "Welcome back: she may greet you, talk with you and read "
                       "your messages again." if changed
                       else "You were not opted out; nothing changed.")
