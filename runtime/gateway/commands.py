"""Slash commands: one group (``/miku``, after ``[discord] command_name``) on discord.py's
``app_commands`` tree.

Discord applies a command's default member permissions to the whole top-level command, so
the group is visible to every member and each admin subcommand checks Manage Server itself,
from the permissions Discord sends with the interaction (the member's, in that channel).
Members' subcommands (``optout``, ``optin``) need nothing.

Every answer is ephemeral (only the caller sees it) and says what changed; a bad value is
answered with the valid ones, a setting the file locks with where it is locked. Until the
runtime has read the store and the guild is available on the gateway, a command is answered
"starting, try again in a moment" and changes nothing.

The group is registered globally. Discord rate-limits syncs, so ``sync`` sends the tree only
when its JSON differs from the last one synced (a SHA-256 kept in a small file).
About 500 lines: one handler per subcommand, to be split into a package.
"""

from __future__ import annotations

import hashlib
import json
import math
import zoneinfo
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import structlog

from engine import MOOD_NAMES, POLICY_NAMES
from runtime.gateway._discord import discord
from runtime.gateway.access import channel_access
from runtime.gateway.convert import guild_ready_event
from runtime.settings import BadValue, SettingLocked, Settings
from runtime.settings.layers import MAX_MOOD_HOURS, MAX_PAUSE_HOURS

app_commands = discord.app_commands

__all__ = [
    "ADMIN_PERMISSION",
    "STARTING",
    "Commands",
    "commands_hash_path",
    "install_commands",
    "member_roles",
]

log = structlog.get_logger("runtime.commands")

#: What admin subcommands need, as Discord's client names it.
ADMIN_PERMISSION = "Manage Server"
STARTING = "She is starting up here: try again in a moment."
_MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices
_MAX_ANSWER = 2000
_NONE = discord.AllowedMentions.none()


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def _matching(options: tuple[str, ...], current: str) -> list[app_commands.Choice[str]]:
    needle = current.strip().casefold()
    starts = [o for o in options if o.casefold().startswith(needle)]
    inside = [o for o in options if needle in o.casefold() and o not in starts]
    return [app_commands.Choice(name=o, value=o) for o in (starts + inside)[:_MAX_CHOICES]]


def _when(epoch: float) -> str:
    """A Discord timestamp: each reader sees it in their own time zone."""
    return f"<t:{int(epoch)}:f> (<t:{int(epoch)}:R>)"


def _hours(h: float) -> str:
    return f"{h:g} hour{'' if h == 1 else 's'}"


def _channel(cid: int | None) -> str:
    return f"<#{cid}>" if cid else "none"


def _quiet(q: Any) -> str:
    return f"{q[0]:02d}:00–{q[1]:02d}:00" if q else "off"


class Commands:
    """The ``/miku`` group, bound to one client and one runtime.

    Args:
        client: the gateway client (its tree is created here).
        runtime: ``runtime.core.Runtime`` or anything with ``settings`` (a
            ``runtime.settings.Settings``), ``supervisor`` (None until it runs) and
            ``deliver(event)``.
        name: the group's name (``[discord] command_name``).
        hash_path: where the hash of the last synced tree is kept (None: sync every time).
        clock: epoch seconds now.
    """

    def __init__(self, client: discord.Client, runtime: Any, *, name: str = "miku",
                 hash_path: str | Path | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.client = client
        self.runtime = runtime
        self.name = name
        self.hash_path = None if hash_path is None else Path(hash_path)
        self.clock = clock or (lambda: runtime.settings.clock())
        self.tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
        self.tree.on_error = self._on_error  # type: ignore[method-assign]
        self.group = self._build()
        self.tree.add_command(self.group)

    @property
    def settings(self) -> Settings:
        settings: Settings = self.runtime.settings
        return settings

    # --- sync ---------------------------------------------------------------------------

    def tree_hash(self) -> str:
        """SHA-256 of the tree's JSON as it would be synced (keys sorted)."""
        payload = [cmd.to_dict(self.tree) for cmd in self.tree.get_commands()]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    async def sync(self) -> bool:
        """Register the commands globally if they changed since the last sync.

        Returns:
            True when the tree was sent to Discord.

        Raises:
            discord.HTTPException: Discord refused the sync (nothing is recorded, so the next
                start tries again).
        """
        digest = self.tree_hash()
        if self.hash_path is not None:
            try:
                if self.hash_path.read_text().strip() == digest:
                    log.info("commands.unchanged", name=self.name)
                    return False
            except OSError:
                pass
        await self.tree.sync()
        if self.hash_path is not None:
            try:
                self.hash_path.write_text(digest + "\n")
            except OSError as exc:
                log.warning("commands.hash_not_saved", path=str(self.hash_path),
                            error=exc.strerror or str(exc))
        log.info("commands.synced", name=self.name, commands=len(self.group.commands))
        return True

    # --- answering ----------------------------------------------------------------------

    async def _answer(self, interaction: discord.Interaction, text: str) -> None:
        if len(text) > _MAX_ANSWER:
            text = text[: _MAX_ANSWER - 1] + "…"
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=_NONE)

    def _ready(self, interaction: discord.Interaction) -> bool:
        sup = self.runtime.supervisor
        # The client's own cache, not ``interaction.guild``: for a guild whose GUILD_CREATE
        # has not come yet, discord.py makes a stand-in from the interaction's partial guild.
        guild = self.client.get_guild(interaction.guild_id or 0)
        return (self.settings.loaded and sup is not None and sup.ready.is_set()
                and guild is not None and not guild.unavailable)

    async def _gate(self, interaction: discord.Interaction, *, admin: bool) -> int | None:
        """The guild id when the caller may go on; otherwise answer why not, return None."""
        if interaction.guild_id is None:
            await self._answer(interaction, "This works in a server only.")
            return None
        if admin and not interaction.permissions.manage_guild:
            await self._answer(interaction, f"This needs the {ADMIN_PERMISSION} permission.")
            return None
        if not self._ready(interaction):
            await self._answer(interaction, STARTING)
            return None
        return interaction.guild_id

    async def _change(self, interaction: discord.Interaction, change: Any,
                      say: Callable[[Any], str],
                      then: Callable[[Any], None] | None = None) -> Any:
        """Await ``change`` (a ``Settings`` setter), call ``then(effective)``, answer
        ``say(effective)``; a bad value or a locked setting is answered instead, and nothing
        changes. (Answering last: once the caller sees the answer, everything is done.)"""
        try:
            result = await change
        except BadValue as exc:
            await self._answer(interaction, f"Nothing changed: {exc}.")
            return None
        except SettingLocked as exc:
            await self._answer(interaction, f"Nothing changed: {exc}.")
            return None
        if then is not None:
            then(result)
        await self._answer(interaction, say(result))
        return result

    async def _on_error(self, interaction: discord.Interaction,
                        error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.TransformerError):
            text = ("I cannot use that channel: pick a text channel of this server that I "
                    "can see.")
        else:
            log.error("commands.failed", guild_id=interaction.guild_id,
                      command=getattr(interaction.command, "qualified_name", None),
                      error=repr(getattr(error, "original", error)))
            text = "Something went wrong on my side; nothing was changed."
        if not interaction.response.is_done():
            await self._answer(interaction, text)

    # --- the group ----------------------------------------------------------------------

    def _build(self) -> app_commands.Group:
        group = app_commands.Group(name=self.name, description="Miku in this server",
                                   guild_only=True)
        self._admin_commands(group)
        self._member_commands(group)
        return group

    def _admin_commands(self, group: app_commands.Group) -> None:

        @group.command(name="channel", description="Set (or clear) the channel where she "
                       f"speaks on her own. Needs {ADMIN_PERMISSION}.")
        @app_commands.describe(channel="Her channel; leave it out to clear it")
        async def channel(interaction: discord.Interaction,
                          channel: discord.TextChannel | None = None) -> None:
            gid = await self._gate(interaction, admin=True)
            if gid is None:
                return
            before = self.settings.effective(gid).channel_id
            cid = None if channel is None else channel.id
            await self._change(interaction, self.settings.set_channel(gid, cid),
                               lambda e: self._channel_text(interaction, e, before),
                               lambda e: self._announce_ready(interaction, e.channel_id))

        @group.command(name="pause", description="No messages of her own for a while "
                       f"(she still answers). Needs {ADMIN_PERMISSION}.")
        @app_commands.describe(hours=f"How long, in hours (at most {MAX_PAUSE_HOURS:g})")
        async def pause(interaction: discord.Interaction,
                        hours: app_commands.Range[float, 0.0, MAX_PAUSE_HOURS]) -> None:
            gid = await self._gate(interaction, admin=True)
            if gid is None:
                return
            await self._change(
                interaction, self.settings.pause(gid, hours),
                lambda e: f"Paused for {_hours(hours)}: no messages of her own until "
                f"{_when(e.paused_until)}. She still answers when spoken to; "
                f"`/{self.name} resume` ends it.")

        @group.command(name="resume", description="End a pause now. "
                       f"Needs {ADMIN_PERMISSION}.")
        async def resume(interaction: discord.Interaction) -> None:
            gid = await self._gate(interaction, admin=True)
            if gid is None:
                return
            was = self.settings.effective(gid).paused_until
            await self._change(
                interaction, self.settings.resume(gid),
                lambda e: "Resumed: she may speak on her own again." if was is not None
                else "She was not paused; nothing changed.")

        @group.command(name="chattiness", description="How ready she is to speak on her "
                       f"own: 0 never, 1 normal, 2 twice as ready. Needs {ADMIN_PERMISSION}.")
        @app_commands.describe(level="From 0 to 2 (1 is the default)")
        async def chattiness(interaction: discord.Interaction,
                             level: app_commands.Range[float, 0.0, 2.0]) -> None:
            gid = await self._gate(interaction, admin=True)
            if gid is None:
                return
            was = self.settings.effective(gid).chattiness
            await self._change(interaction, self.settings.set_chattiness(gid, level),
                               lambda e: f"Chattiness set to {e.chattiness:g} (was {was:g}).")

        @group.command(name="quiet-hours", description="Hours (local) when she sleeps; "
                       f"off for none. Needs {ADMIN_PERMISSION}.")
        @app_commands.describe(start="First quiet hour, 0-23", end="First hour awake, 0-23",
                               off="True: no quiet hours at all")
        async def quiet_hours(interaction: discord.Interaction,
                              start: app_commands.Range[int, 0, 23] | None = None,
                              end: app_commands.Range[int, 0, 23] | None = None,
                              off: bool = False) -> None:
            gid = await self._gate(interaction, admin=True)
            if gid is None:
                return
            if off and (start is not None or end is not None):
                await self._answer(interaction, "Nothing changed: give either start and end, "
                                   "or off, not both.")
                return
            if not off and (start is None or end is None):
                await self._answer(interaction, "Nothing changed: give start and end (whole "
                                   "hours 0-23, e.g. start 23 end 7), or off: True.")
                return
            was = self.settings.effective(gid).quiet_hours
            hours = None if off else (start, end)
            await self._change(
                interaction, self.settings.set_quiet_hours(gid, hours),  # type: ignore[arg-type]
                lambda e: f"Quiet hours set to {_quiet(e.quiet_hours)} ({e.timezone}); "
                f"were {_quiet(was)}.")

        @group.command(name="timezone", description="The server's time zone, for quiet "
                       f"hours and moods. Needs {ADMIN_PERMISSION}.")
        @app_commands.describe(name="An IANA zone such as Europe/Berlin")
        async def timezone(interaction: discord.Interaction, name: str) -> None:
            gid = await self._gate(interaction, admin=True)
            if gid is None:
                return
            was = self.settings.effective(gid).timezone
            await self._change(interaction, self.settings.set_timezone(gid, name),
                               lambda e: f"Time zone set to {e.timezone} (was {was}).")

        @timezone.autocomplete("name")
        async def timezone_names(interaction: discord.Interaction,
                                 current: str) -> list[app_commands.Choice[str]]:
            return _matching(_zones(), current)

        @group.command(name="mood", description="Set her mood for a while. "
                       f"Needs {ADMIN_PERMISSION}.")
        @app_commands.describe(name="The mood", hours=f"How long (at most {MAX_MOOD_HOURS:g})")
        async def mood(interaction: discord.Interaction, name: str,
                       hours: app_commands.Range[float, 0.0, MAX_MOOD_HOURS] = 1.0) -> None:
            gid = await self._gate(interaction, admin=True)
            if gid is None:
                return
            await self._change(
                interaction, self.settings.hold_mood(gid, name, hours),
                lambda e: f"Mood set to {e.mood} until {_when(e.mood_until)}"
                + (" (her quiet hours start then)" if e.mood_until < self.clock()
                   + hours * 3600 - 1 else f", for {_hours(hours)}")
                + "; then her moods change on their own again.",
                lambda e: self.runtime.supervisor.set_mood(gid, e.mood))

        @mood.autocomplete("name")
        async def mood_names(interaction: discord.Interaction,
                             current: str) -> list[app_commands.Choice[str]]:
            return _matching(MOOD_NAMES, current)

        @group.command(name="policy", description="How she decides: v2 (the rules), v1 (the "
                       f"old timer), shadow (v1 acts, v2 logs). Needs {ADMIN_PERMISSION}.")
        @app_commands.describe(name="v2, v1 or shadow")
        async def policy(interaction: discord.Interaction, name: str) -> None:
            gid = await self._gate(interaction, admin=True)
            if gid is None:
                return
            was = self.settings.effective(gid).policy
            await self._change(interaction, self.settings.set_policy(gid, name),
                               lambda e: f"Policy set to {e.policy} (was {was}).")

        @policy.autocomplete("name")
        async def policy_names(interaction: discord.Interaction,
                               current: str) -> list[app_commands.Choice[str]]:
            return _matching(POLICY_NAMES, current)

        @group.command(name="status", description="Her mood, this server's settings and "
                       f"what she would do now. Needs {ADMIN_PERMISSION}.")
        async def status(interaction: discord.Interaction) -> None:
            gid = await self._gate(interaction, admin=True)
            if gid is None:
                return
            detail = await self.runtime.supervisor.guild_detail(gid)
            await self._answer(interaction, self._status_text(gid, detail))

    def _member_commands(self, group: app_commands.Group) -> None:
        @group.command(name="optout", description="Ask her to leave you out: no greetings, "
                       "no chats started with you, your messages not read (every server).")
        async def optout(interaction: discord.Interaction) -> None:
            if await self._gate(interaction, admin=False) is None:
                return
            changed = await self.settings.set_optout(interaction.user.id, True)
            await self._answer(interaction, (
                "Done: she leaves you out in every server — no greetings, no conversations "
                "started with you, no answers, and your messages are left out of what she "
                "reads. Your messages still count as activity (never their words). "
                if changed else "You had already opted out; nothing changed. ")
                + f"`/{self.name} optin` undoes it.")

        @group.command(name="optin", description="Undo optout: she may talk with you again.")
        async def optin(interaction: discord.Interaction) -> None:
            if await self._gate(interaction, admin=False) is None:
                return
            changed = await self.settings.set_optout(interaction.user.id, False)
            await self._answer(interaction, "Welcome back: she may greet you, talk with you "
                               "and read your messages again." if changed
                               else "You were not opted out; nothing changed.")

    # --- texts and side effects ---------------------------------------------------------

    def _channel_text(self, interaction: discord.Interaction, e: Any,
                      before: int | None) -> str:
        if e.channel_id is None:
            return (f"Channel cleared (was {_channel(before)}): she no longer speaks on her "
                    "own here, nor answers.")
        text = f"Channel set to {_channel(e.channel_id)} (was {_channel(before)}). "
        guild = interaction.guild
        can_speak, missing = channel_access(guild, e.channel_id) if guild is not None \
            else (False, "the channel")
        if not can_speak:
            return text + f"But she is missing {missing} there: until she has it she stays " \
                "silent."
        return text + "She can read and speak there."

    def _announce_ready(self, interaction: discord.Interaction, channel_id: int | None) -> None:
        """The gateway said nothing of this guild while it had no channel: tell its actor it
        is ready now (who is online, whether she can speak in the channel)."""
        guild = interaction.guild
        if guild is None or channel_id is None:
            return
        can_speak, missing = channel_access(guild, channel_id)
        event = guild_ready_event(guild, channel_of=self.settings.channel_of, now=self.clock(),
                                  can_speak=can_speak, missing=missing)
        if event is not None:
            self.runtime.deliver(event)

    def _status_text(self, gid: int, detail: dict[str, Any] | None) -> str:
        desc = self.settings.describe(gid)
        mood = (detail or {}).get("mood") or "not seen yet"
        lines = [f"**Mood**: {mood}"]
        if desc["mood"].get("until"):
            lines[0] += f" (held until {_when(desc['mood']['until'])})"
        lines.append("**Settings** (where from):")
        shown = {"channel": lambda v: _channel(v),
                 "pause": lambda v: f"until {_when(v)}" if v else "no",
                 "chattiness": lambda v: f"{v:g}",
                 "quiet_hours": lambda v: _quiet(v),
                 "timezone": str, "policy": str}
        for key, render in shown.items():
            item = desc[key]
            where = [item["source"]]
            if key == "pause" and item["value"] is None:
                where = []  # not paused: no layer to name
            if item["locked"]:
                where.append("locked")
            lines.append(f"- {key.replace('_', ' ')}: {render(item['value'])}"
                         + (f" ({', '.join(where)})" if where else ""))
        if not desc["enabled"]:
            lines.append("- the bot's config file disables this server")
        lines.append("**Right now**: " + _right_now(detail))
        return "\n".join(lines)


def _right_now(detail: dict[str, Any] | None) -> str:
    if detail is None:
        return "she has not seen this server yet."
    now = detail.get("now")
    if not isinstance(now, dict):
        wake = detail.get("wake_at")
        return "asleep (no recent activity)" + (
            f"; she looks again {_when(wake)}" if wake and math.isfinite(wake) else "") + "."
    if now.get("action"):
        return f"she would {now['action'].replace('_', ' ')}."
    parts = ["nothing"]
    if now.get("blocked_by"):
        parts.append(f"(held back by {now['blocked_by'].replace('_', ' ')})")
    held = []
    for check in now.get("checks") or ():
        failed = [c["name"] for c in check.get("conditions", ()) if not c.get("ok")]
        if failed:
            held.append(f"{check['action'].replace('_', ' ')}: {', '.join(failed)}")
    text = " ".join(parts)
    if held:
        text += "; what holds each back — " + "; ".join(held)
    next_at = now.get("next_at")
    if isinstance(next_at, int | float) and math.isfinite(next_at):
        text += f". She looks again {_when(next_at)}"
    return text + "."


def commands_hash_path(config: Any) -> Path:
    """Where the hash of the last synced tree is kept: beside the SQLite store file
    (``<store dir>/miku-commands.sha256``; each host keeps its own, which only costs one
    extra sync on a new host)."""
    return Path(config.store.path).resolve().parent / "miku-commands.sha256"


def install_commands(client: discord.Client, runtime: Any, *, name: str = "miku",
                     hash_path: str | Path | None = None) -> Commands:
    """Put the ``/<name>`` group on ``client``'s command tree and sync it (only when it
    changed) from the client's ``setup_hook``, once logged in.

    Args:
        client: the gateway client, before ``start``.
        runtime: what the commands act on (see ``Commands``).
        name: ``[discord] command_name``.
        hash_path: the file keeping the hash of the last synced tree.

    Returns:
        The ``Commands`` (``.sync()`` can be called again by hand).
    """
    commands = Commands(client, runtime, name=name, hash_path=hash_path)
    original = client.setup_hook

    async def setup_hook() -> None:
        await original()
        try:
            await commands.sync()
        except discord.HTTPException as exc:
            # The bot runs on with the commands Discord already has.
            log.error("commands.sync_failed", status=exc.status, code=exc.code)

    client.setup_hook = setup_hook  # type: ignore[method-assign]
    return commands


def member_roles(client: discord.Client) -> Callable[[int, int], tuple[int, ...]]:
    """``(guild_id, user_id) -> role ids`` from discord.py's member cache (empty when the
    member is not cached): what ``ignore_role_ids`` is checked against."""
    def roles_of(guild_id: int, user_id: int) -> tuple[int, ...]:
        guild = client.get_guild(guild_id)
        member = guild.get_member(user_id) if guild is not None else None
        return () if member is None else tuple(member._roles)
    return roles_of
