"""The ``/miku`` group on discord.py's command tree: who may run what, acknowledging in time,
answering, and syncing the tree with Discord.

Every subcommand goes through one gate (``Commands.admit``, the group's
``interaction_check``): outside a server, without Manage Server for an admin subcommand, or
before the guild is ready, the caller is answered why and nothing runs. Past the gate the
interaction is acknowledged at once with an ephemeral deferral, because Discord forgets an
interaction not acknowledged within 3 seconds (404 10062, "The application did not respond")
and a store write can take longer than that; the answer follows as the deferral's follow-up.
An interaction that could not be acknowledged in time is dropped before anything changes.

The group is registered globally. Discord rate-limits syncs, so ``sync`` sends the tree only
when its JSON differs from the last one synced (a SHA-256 kept in a small file, or in the
shared PostgreSQL store, where one of several processes starting together syncs:
``ledger``). A sync Discord refuses is one error line naming each refused field
(``sync_refusal``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from runtime.gateway._discord import discord
from runtime.gateway.commands.admin import add_admin_commands
from runtime.gateway.commands.ledger import FileLedger, SyncLedger
from runtime.gateway.commands.member import add_member_commands
from runtime.gateway.commands.text import ADMIN_PERMISSION, STARTING
from runtime.settings import BadValue, SettingLocked, Settings

app_commands = discord.app_commands

__all__ = ["ADMIN_PERMISSION", "STARTING", "Commands", "commands_hash_path",
           "install_commands", "member_group_name", "sync_refusal"]

log = structlog.get_logger("runtime.commands")

_MAX_ANSWER = 2000
_NONE = discord.AllowedMentions.none()
#: discord.py's flattened form of Discord's error tree: "In 0.options.7.description: ...".
_ERROR_LINE = re.compile(r"^In ([\w.]+): (.*)$")




class _Group(app_commands.Group):
    """An ``app_commands.Group`` whose subcommands all pass ``admit`` first."""

    def __init__(self, admit: Callable[[discord.Interaction], Awaitable[bool]],
                 **kw: Any) -> None:
        # Servers only (context 0), for the app installed to a server (integration type 0):
        # ``contexts`` replaces the deprecated ``dm_permission``.
        super().__init__(**kw, allowed_contexts=app_commands.AppCommandContext(guild=True),
                         allowed_installs=app_commands.AppInstallationType(guild=True))
        self._admit = admit

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await self._admit(interaction)

    def to_dict(self, tree: app_commands.CommandTree[Any]) -> dict[str, Any]:
        payload = super().to_dict(tree)
        payload.pop("dm_permission", None)  # deprecated: contexts says it
        return payload


def member_group_name(name: str) -> str:
    """The members' group beside ``/<name>``: ``<name>-me``, within Discord's 32."""
    return f"{name[:29]}-me"


class Commands:
    """The ``/miku`` (admins) and ``/miku-me`` (members) groups, bound to one client and one
    runtime.

    Args:
        client: the gateway client (its tree is created here).
        runtime: ``runtime.core.Runtime`` or anything with ``settings`` (a
            ``runtime.settings.Settings``), ``supervisor`` (None until it runs) and
            ``deliver(event)``.
        name: the admin group's name (``[discord] command_name``); the members' is
            ``member_group_name(name)``.
        hash_path: where the hash of the last synced tree is kept (None: sync every time).
        clock: epoch seconds now.
        ledger: where the last synced tree's hash is kept instead of ``hash_path`` (the
            shared store's ``SharedLedger``).
    """

    def __init__(self, client: discord.Client, runtime: Any, *, name: str = "miku",
                 hash_path: str | Path | None = None,
                 clock: Callable[[], float] | None = None,
                 ledger: SyncLedger | None = None) -> None:
        self.client = client
        self.runtime = runtime
        self.name = name
        self.hash_path = None if hash_path is None else Path(hash_path)
        self.ledger = ledger if ledger is not None or hash_path is None else \
            FileLedger(hash_path)
        self.clock = clock or (lambda: runtime.settings.clock())
        self.tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
        self.tree.on_error = self._on_error  # type: ignore[method-assign]
        # Two groups because Discord applies default_member_permissions to a whole
        # top-level command: the admins' (hidden from members unless a server's admins
        # delegate it under Integrations; the gate still checks Manage Server) and the
        # members' (visible to everyone).
        self.group = _Group(self.admit, name=name, description="Miku in this server: her "
                            f"settings. Needs {ADMIN_PERMISSION}.",
                            default_permissions=discord.Permissions(manage_guild=True))
        self.member_group = _Group(self.admit, name=member_group_name(name),
                                   description="What Miku does with you: opt out, opt in.")
        add_admin_commands(self, self.group)
        add_member_commands(self, self.member_group)
        self.tree.add_command(self.group)
        self.tree.add_command(self.member_group)

    @property
    def settings(self) -> Settings:
        settings: Settings = self.runtime.settings
        return settings

    # --- sync ---------------------------------------------------------------------------

    def payload(self) -> list[dict[str, Any]]:
        """The tree as it is sent to Discord (the bulk overwrite's body)."""
        return [cmd.to_dict(self.tree) for cmd in self.tree.get_commands()]

    def tree_hash(self) -> str:
        """SHA-256 of the tree's JSON as it would be synced (keys sorted)."""
        return hashlib.sha256(json.dumps(self.payload(), sort_keys=True).encode()).hexdigest()

    async def sync(self) -> bool:
        """Register the commands globally if they changed since the last sync.

        Returns:
            True when the tree was sent to Discord.

        Raises:
            discord.HTTPException: Discord refused the sync (nothing is recorded, so the next
                start tries again).
        """
        digest = self.tree_hash()
        if self.ledger is not None and not await self.ledger.should_sync(digest):
            log.info("commands.unchanged", name=self.name)
            return False
        try:
            await self.tree.sync()
        except BaseException:
            if self.ledger is not None:
                await self.ledger.failed(digest)
            raise
        if self.ledger is not None:
            await self.ledger.synced(digest)
        log.info("commands.synced", name=self.name, commands=len(self.group.commands)
                 + len(self.member_group.commands))
        return True

    # --- the gate -----------------------------------------------------------------------

    def _ready(self, interaction: discord.Interaction) -> bool:
        sup = self.runtime.supervisor
        # The client's own cache, not ``interaction.guild``: for a guild whose GUILD_CREATE
        # has not come yet, discord.py makes a stand-in from the interaction's partial guild.
        guild = self.client.get_guild(interaction.guild_id or 0)
        return (self.settings.loaded and sup is not None and sup.ready.is_set()
                and guild is not None and not guild.unavailable)

    def refusal(self, interaction: discord.Interaction) -> str | None:
        """Why the caller may not run this subcommand here now, or None."""
        if interaction.guild_id is None:
            return "This works in a server only."
        command = interaction.command
        admin = bool(command is not None and command.extras.get("admin"))
        if admin and not interaction.permissions.manage_guild:
            return f"This needs the {ADMIN_PERMISSION} permission."
        if not self._ready(interaction):
            return STARTING
        return None

    async def admit(self, interaction: discord.Interaction) -> bool:
        """The one prologue of every subcommand: refuse (answered at once) or acknowledge
        (an ephemeral deferral, within Discord's 3 s) and let the subcommand run.

        Returns:
            True when the subcommand may run; its answer is then a follow-up.
        """
        reason = self.refusal(interaction)
        try:
            if reason is not None:
                await self.answer(interaction, reason)
                return False
            await interaction.response.defer(ephemeral=True, thinking=True)
        except discord.NotFound as exc:
            # Too late (the 3 s passed: the loop was blocked, or the event came late):
            # Discord has told the member it failed, so nothing may change now.
            log.warning("commands.too_late", guild_id=interaction.guild_id,
                        command=getattr(interaction.command, "qualified_name", None),
                        status=exc.status, code=exc.code)
            return False
        return True

    # --- answering ----------------------------------------------------------------------

    async def answer(self, interaction: discord.Interaction, text: str) -> None:
        """Answer the caller only (ephemeral, no pings): the interaction's response, or its
        follow-up once it was deferred."""
        if len(text) > _MAX_ANSWER:
            text = text[: _MAX_ANSWER - 1] + "…"
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=_NONE)
        else:
            await interaction.response.send_message(text, ephemeral=True,
                                                    allowed_mentions=_NONE)

    async def change(self, interaction: discord.Interaction, change: Awaitable[Any],
                     say: Callable[[Any], str],
                     then: Callable[[Any], None] | None = None) -> Any:
        """Await ``change`` (a ``Settings`` setter), call ``then(effective)``, answer
        ``say(effective)``; a bad value or a locked setting is answered instead, and nothing
        changes. (Answering last: once the caller sees the answer, everything is done.)"""
        try:
            result = await change
        except (BadValue, SettingLocked) as exc:
            await self.answer(interaction, f"Nothing changed: {exc}.")
            return None
        if then is not None:
            then(result)
        await self.answer(interaction, say(result))
        return result

    async def _on_error(self, interaction: discord.Interaction,
                        error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.CheckFailure):
            return  # the gate answered (or the interaction had expired)
        if isinstance(error, app_commands.TransformerError):
            text = ("I cannot use that channel: pick a text channel of this server that I "
                    "can see.")
        else:
            log.error("commands.failed", guild_id=interaction.guild_id,
                      command=getattr(interaction.command, "qualified_name", None),
                      error=repr(getattr(error, "original", error)))
            text = "Something went wrong on my side; nothing was changed."
        await self.answer(interaction, text)


def sync_refusal(exc: discord.HTTPException, payload: list[dict[str, Any]]) -> str:
    """What Discord refused in a command sync, in one line: each refused field as a path of
    names (``/miku-me optout description: Must be between 1 and 100 in length.``), from Discord's
    error tree as discord.py flattens it into ``exc.text``.

    Args:
        exc: the sync's error.
        payload: the commands that were sent (``Commands.payload()``), to name the fields.
    """
    parts = []
    for line in str(exc.text).splitlines():
        m = _ERROR_LINE.match(line.strip())
        if m:
            parts.append(f"{_field_path(m.group(1), payload)}: {m.group(2)}")
    if not parts:
        parts.append(str(exc.text).splitlines()[0] if exc.text else f"HTTP {exc.status}")
    return "; ".join(parts)


def _field_path(path: str, payload: list[dict[str, Any]]) -> str:
    """``1.options.0.description`` -> ``/miku-me optout description``, as far as the payload
    names it (indices that name nothing stay as they are)."""
    words: list[str] = []
    node: Any = payload
    keys = path.split(".")
    for i, key in enumerate(keys):
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
            name = node.get("name") if isinstance(node, dict) else None
            if name is not None and (i == 0 or keys[i - 1] in ("options", "choices")):
                words.append(("/" if i == 0 else "") + str(name))
                continue
            words.append(key)
        elif isinstance(node, dict) and key in node:
            node = node[key]
            if key not in ("options", "choices"):
                words.append(key)
        else:
            node = None
            words.append(key)
    return " ".join(words)


def commands_hash_path(config: Any) -> Path:
    """Where the hash of the last synced tree is kept with a SQLite store: beside the store
    file (``<store dir>/miku-commands.sha256``; each host keeps its own, which only costs one
    extra sync on a new host). With PostgreSQL it is kept in the store (``SharedLedger``)."""
    return Path(config.store.path).resolve().parent / "miku-commands.sha256"


def install_commands(client: discord.Client, runtime: Any, *, name: str = "miku",
                     hash_path: str | Path | None = None,
                     ledger: SyncLedger | None = None) -> Commands:
    """Put the ``/<name>`` group on ``client``'s command tree and sync it (only when it
    changed) from the client's ``setup_hook``, once logged in.

    Args:
        client: the gateway client, before ``start``.
        runtime: what the commands act on (see ``Commands``).
        name: ``[discord] command_name``.
        hash_path: the file keeping the hash of the last synced tree.
        ledger: the shared store's record of it instead (``SharedLedger``).

    Returns:
        The ``Commands`` (``.sync()`` can be called again by hand).
    """
    commands = Commands(client, runtime, name=name, hash_path=hash_path, ledger=ledger)
    original = client.setup_hook

    async def setup_hook() -> None:
        await original()
        try:
            await commands.sync()
        except discord.HTTPException as exc:
            # The bot runs on with the commands Discord already has.
            log.error("commands.sync_failed", status=exc.status, code=exc.code,
                      refused=sync_refusal(exc, commands.payload()))

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
