"""Slash commands: two groups on discord.py's ``app_commands`` tree, ``/miku`` (after
``[discord] command_name``; admins: ``default_member_permissions`` Manage Server) and
``/miku-me`` (every member: optout, optin).

``tree`` holds the groups, their one gate (who may run what; acknowledge within Discord's 3 s)
and the sync with Discord (``ledger``: whether the tree changed since the last sync, for one
process or all of them); ``admin`` and ``member`` the subcommands; ``text`` what they say.
Every answer is ephemeral (only the caller sees it) and says what changed; a bad value is
answered with the valid ones, a setting the file locks with where it is locked. Until the
runtime has read the store and the guild is available on the gateway, a command is answered
"starting, try again in a moment" and changes nothing.
"""

from runtime.gateway.commands.ledger import FileLedger, SharedLedger
from runtime.gateway.commands.text import ADMIN_PERMISSION, STARTING
from runtime.gateway.commands.tree import (
    Commands,
    commands_hash_path,
    install_commands,
    member_group_name,
    member_roles,
    sync_refusal,
)

__all__ = ["ADMIN_PERMISSION", "STARTING", "Commands", "FileLedger", "SharedLedger",
           "commands_hash_path", "install_commands", "member_group_name", "member_roles",
           "sync_refusal"]
