"""The admin subcommands of ``/miku``: channel, pause, resume, chattiness, quiet-hours,
timezone, mood, policy, status.

Each is marked ``extras={"admin": True}``; the group's gate (``Commands.admit``) checks Manage
Server from the permissions Discord sends with the interaction (the member's, in that
channel), refuses or acknowledges, so a body here runs only for an admin of a ready guild
and answers with a follow-up.
"""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import TYPE_CHECKING

from engine import MOOD_NAMES, POLICY_NAMES
from runtime.gateway._discord import discord
from runtime.gateway.access import channel_access
from runtime.gateway.client import PersonaClient
from runtime.gateway.commands.text import (
    ADMIN_PERMISSION,
    channel_text,
    hours_text,
    quiet_text,
    status_text,
    when,
)
from runtime.settings.layers import MAX_MOOD_HOURS, MAX_PAUSE_HOURS

if TYPE_CHECKING:
    from runtime.gateway.commands.tree import Commands

app_commands = discord.app_commands

__all__ = ["add_admin_commands"]

_MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices
#: The shortest pause or held mood Discord lets a member type (0 is refused).
MIN_HOURS = 0.1
#: The longest IANA name is 32 characters; Discord refuses longer input (max_length).
MAX_ZONE_CHARS = 64
_ADMIN = {"admin": True}


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def _matching(options: tuple[str, ...], current: str) -> list[app_commands.Choice[str]]:
    needle = current.strip().casefold()
    starts = [o for o in options if o.casefold().startswith(needle)]
    inside = [o for o in options if needle in o.casefold() and o not in starts]
    return [app_commands.Choice(name=o, value=o) for o in (starts + inside)[:_MAX_CHOICES]]


def _channel_changed(c: Commands, guild_id: int) -> None:
    """Tell the gateway the guild's channel changed: it reports the guild ready now if it
    said nothing of it while it had no channel, and follows her access there from now on."""
    if isinstance(c.client, PersonaClient):
        c.client.channel_changed(guild_id)


def add_admin_commands(c: Commands, group: app_commands.Group) -> None:
    """Add the admin subcommands, bound to ``c``, to ``group``."""

    @group.command(name="channel", description="Set (or clear) the channel where she "
                   f"speaks on her own. Needs {ADMIN_PERMISSION}.", extras=_ADMIN)
    @app_commands.describe(channel="Her channel; leave it out to clear it")
    async def channel(interaction: discord.Interaction,
                      channel: discord.TextChannel | None = None) -> None:
        gid = interaction.guild_id or 0
        before = c.settings.effective(gid).channel_id
        cid = None if channel is None else channel.id

        def say(e: object) -> str:
            new = getattr(e, "channel_id", None)
            guild = interaction.guild
            access = (channel_access(guild, new) if guild is not None and new is not None
                      else (False, "the channel"))
            return channel_text(new, before, access)

        await c.change(interaction, c.settings.set_channel(gid, cid), say,
                       lambda e: _channel_changed(c, gid))

    @group.command(name="pause", description="No messages of her own for a while "
                   f"(she still answers). Needs {ADMIN_PERMISSION}.", extras=_ADMIN)
    @app_commands.describe(hours=f"How long, in hours (at most {MAX_PAUSE_HOURS:g})")
    async def pause(interaction: discord.Interaction,
                    hours: app_commands.Range[float, MIN_HOURS, MAX_PAUSE_HOURS]) -> None:
        await c.change(
            interaction, c.settings.pause(interaction.guild_id or 0, hours),
            lambda e: f"Paused for {hours_text(hours)}: no messages of her own until "
            f"{when(e.paused_until)}. She still answers when spoken to; "
            f"`/{c.name} resume` ends it.")

    @group.command(name="resume", description=f"End a pause now. Needs {ADMIN_PERMISSION}.",
                   extras=_ADMIN)
    async def resume(interaction: discord.Interaction) -> None:
        gid = interaction.guild_id or 0
        was = c.settings.effective(gid).paused_until
        await c.change(
            interaction, c.settings.resume(gid),
            lambda e: "Resumed: she may speak on her own again." if was is not None
            else "She was not paused; nothing changed.")

    @group.command(name="chattiness", description="How ready she is to speak on her own: "
                   f"0 never, 1 normal, 2 twice as ready. Needs {ADMIN_PERMISSION}.",
                   extras=_ADMIN)
    @app_commands.describe(level="From 0 to 2 (1 is the default)")
    async def chattiness(interaction: discord.Interaction,
                         level: app_commands.Range[float, 0.0, 2.0]) -> None:
        gid = interaction.guild_id or 0
        was = c.settings.effective(gid).chattiness
        await c.change(interaction, c.settings.set_chattiness(gid, level),
                       lambda e: f"Chattiness set to {e.chattiness:g} (was {was:g}).")

    @group.command(name="quiet-hours", description="Hours (local) when she sleeps; off for "
                   f"none. Needs {ADMIN_PERMISSION}.", extras=_ADMIN)
    @app_commands.describe(start="First quiet hour, 0-23", end="First hour awake, 0-23",
                           off="True: no quiet hours at all")
    async def quiet_hours(interaction: discord.Interaction,
                          start: app_commands.Range[int, 0, 23] | None = None,
                          end: app_commands.Range[int, 0, 23] | None = None,
                          off: bool = False) -> None:
        gid = interaction.guild_id or 0
        if off and (start is not None or end is not None):
            await c.answer(interaction, "Nothing changed: give either start and end, or off, "
                           "not both.")
            return
        if not off and (start is None or end is None):
            await c.answer(interaction, "Nothing changed: give start and end (whole hours "
                           "0-23, e.g. start 23 end 7), or off: True.")
            return
        was = c.settings.effective(gid).quiet_hours
        hours = None if off else (start, end)
        await c.change(
            interaction, c.settings.set_quiet_hours(gid, hours),  # type: ignore[arg-type]
            lambda e: f"Quiet hours set to {quiet_text(e.quiet_hours)} ({e.timezone}); "
            f"were {quiet_text(was)}.")

    @group.command(name="timezone", description="The server's time zone, for quiet hours "
                   f"and moods. Needs {ADMIN_PERMISSION}.", extras=_ADMIN)
    @app_commands.describe(name="An IANA zone such as Europe/Berlin")
    async def timezone(interaction: discord.Interaction,
                       name: app_commands.Range[str, 1, MAX_ZONE_CHARS]) -> None:
        gid = interaction.guild_id or 0
        if len(name) > MAX_ZONE_CHARS:
            # Only from a tree synced before the option had its maximum (Discord enforces
            # it now); the tz database would fail on the file name, not say "unknown".
            await c.answer(interaction, "Nothing changed: a time zone is an IANA name of at "
                           f"most {MAX_ZONE_CHARS} characters, such as 'Europe/Berlin'.")
            return
        was = c.settings.effective(gid).timezone
        await c.change(interaction, c.settings.set_timezone(gid, name),
                       lambda e: f"Time zone set to {e.timezone} (was {was}).")

    @timezone.autocomplete("name")
    async def timezone_names(interaction: discord.Interaction,
                             current: str) -> list[app_commands.Choice[str]]:
        return _matching(_zones(), current)

    @group.command(name="mood", description=f"Set her mood for a while. Needs "
                   f"{ADMIN_PERMISSION}.", extras=_ADMIN)
    @app_commands.describe(name="The mood", hours=f"How long (at most {MAX_MOOD_HOURS:g})")
    @app_commands.choices(name=[app_commands.Choice(name=m, value=m) for m in MOOD_NAMES])
    async def mood(interaction: discord.Interaction, name: str,
                   hours: app_commands.Range[float, MIN_HOURS, MAX_MOOD_HOURS] = 1.0) -> None:
        gid = interaction.guild_id or 0
        await c.change(
            interaction, c.settings.hold_mood(gid, name, hours),
            lambda e: f"Mood set to {e.mood} until {when(e.mood_until)}"
            + (" (her quiet hours start then)" if e.mood_until < c.clock()
               + hours * 3600 - 1 else f", for {hours_text(hours)}")
            + "; then her moods change on their own again.",
            lambda e: c.runtime.supervisor.set_mood(gid, e.mood))

    @group.command(name="policy", description="How she decides: v2 (the rules), v1 (the old "
                   f"timer), shadow (v1 acts, v2 logs). Needs {ADMIN_PERMISSION}.",
                   extras=_ADMIN)
    @app_commands.describe(name="v2, v1 or shadow")
    @app_commands.choices(name=[app_commands.Choice(name=p, value=p) for p in POLICY_NAMES])
    async def policy(interaction: discord.Interaction, name: str) -> None:
        gid = interaction.guild_id or 0
        was = c.settings.effective(gid).policy
        await c.change(interaction, c.settings.set_policy(gid, name),
                       lambda e: f"Policy set to {e.policy} (was {was}).")

    @group.command(name="status", description="Her mood, this server's settings and what "
                   f"she would do now. Needs {ADMIN_PERMISSION}.", extras=_ADMIN)
    async def status(interaction: discord.Interaction) -> None:
        gid = interaction.guild_id or 0
        detail = await c.runtime.supervisor.guild_detail(gid)
        await c.answer(interaction, status_text(c.settings.describe(gid), detail))
