"""Discord's rules for application commands, as ``docs/interactions/application-commands.mdx``
(discord/discord-api-docs) states them, checked the way Discord checks a bulk overwrite.

``refusal(commands)`` is None for a body Discord accepts, else Discord's answer: status 400,
code 50035 "Invalid Form Body", and ``errors`` as a tree that mirrors the body's JSON path to
each refused field, ending in ``{"_errors": [{"code": ..., "message": ...}]}`` (the shape
discord.py flattens into "In 0.options.7.description: Must be between 1 and 100 in length.").

Enforced, for ``CHAT_INPUT`` commands (type 1) and their options:

* names match ``^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`` and use the lowercase
  variant of every letter that has one;
* descriptions are 1-100 characters;
* at most 25 options per command, subcommand group and subcommand, at most 25 choices per
  option, each choice's name 1-100 characters and a string value at most 100;
* required options come before optional ones;
* names are unique among siblings (commands of one type, options of one parent);
* the combined length of every ``name``, ``description`` and choice ``value`` of a command,
  its options and choices is at most 8,000 characters (the longest localization of a field
  counting, when there are localizations);
* ``contexts`` are interaction context types (0-2), ``integration_types`` installation
  types (0-1);
* ``default_member_permissions`` is null or a permission bitfield (a string of digits, as
  documented, or a non-negative integer, which Discord coerces and discord.py sends).
"""

from __future__ import annotations

import unicodedata
from typing import Any

__all__ = ["MAX_COMMAND_CHARS", "refusal"]

MAX_COMMAND_CHARS = 8000
MAX_OPTIONS = 25
MAX_CHOICES = 25
SUB_COMMAND, SUB_COMMAND_GROUP, STRING = 1, 2, 3
_CHAT_INPUT = 1
_NAME_PUNCTUATION = frozenset("-_'")
#: Interaction context types (guild, bot DM, private channel) and installation types.
_CONTEXTS = frozenset({0, 1, 2})
_INSTALLS = frozenset({0, 1})


def _name_char_ok(ch: str) -> bool:
    if ch in _NAME_PUNCTUATION:
        return True
    if unicodedata.category(ch)[0] in "LN":
        return True
    # \p{sc=Deva} and \p{sc=Thai} (combining vowel signs are Mn/Mc, not letters)
    return 0x0900 <= ord(ch) <= 0x097F or 0x0E00 <= ord(ch) <= 0x0E7F


def _error(code: str, message: str) -> dict[str, Any]:
    return {"_errors": [{"code": code, "message": message}]}


def _length(value: Any, low: int, high: int) -> dict[str, Any] | None:
    if not isinstance(value, str) or not low <= len(value) <= high:
        return _error("BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")
    return None


def _name(value: Any, *, chat_input: bool) -> dict[str, Any] | None:
    bad = _length(value, 1, 32)
    if bad is not None or not chat_input:
        return bad
    if not all(_name_char_ok(ch) for ch in value) or value != value.lower():
        return _error("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    return None


def _put(errors: dict[str, Any], key: str, error: dict[str, Any] | None) -> None:
    if error:
        errors[key] = error


def _choices(choices: list[dict[str, Any]]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    if len(choices) > MAX_CHOICES:
        return _error("BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CHOICES} or fewer in length.")
    for i, choice in enumerate(choices):
        e: dict[str, Any] = {}
        _put(e, "name", _length(choice.get("name"), 1, 100))
        value = choice.get("value")
        if isinstance(value, str):
            _put(e, "value", _length(value, 1, 100))
        _put(errors, str(i), e)
    return errors


def _options(options: list[dict[str, Any]]) -> dict[str, Any]:
    if len(options) > MAX_OPTIONS:
        return _error("BASE_TYPE_MAX_LENGTH", f"Must be {MAX_OPTIONS} or fewer in length.")
    errors: dict[str, Any] = {}
    seen: set[str] = set()
    optional_seen = False
    for i, opt in enumerate(options):
        e: dict[str, Any] = {}
        _put(e, "name", _name(opt.get("name"), chat_input=True))
        _put(e, "description", _length(opt.get("description"), 1, 100))
        if opt.get("name") in seen:
            _put(e, "name", _error("APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS",
                                   "Option name already exists"))
        seen.add(str(opt.get("name")))
        if opt.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
            _put(e, "options", _options(opt.get("options") or []))
        else:
            if opt.get("required") and optional_seen:
                return _error("APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                              "Required options must be placed before non-required options")
            optional_seen = optional_seen or not opt.get("required")
            _put(e, "choices", _choices(opt.get("choices") or []))
        _put(errors, str(i), e)
    return errors


def _longest(node: dict[str, Any], key: str) -> int:
    texts = [str(node.get(key) or "")]
    texts += [str(v) for v in (node.get(f"{key}_localizations") or {}).values()]
    return max(len(t) for t in texts)


def command_size(node: dict[str, Any]) -> int:
    """The characters Discord counts against the 8,000 of one command."""
    size = _longest(node, "name") + _longest(node, "description")
    for opt in node.get("options") or ():
        size += command_size(opt)
    for choice in node.get("choices") or ():
        size += _longest(choice, "name") + len(str(choice.get("value", "")))
    return size


def _command(cmd: dict[str, Any]) -> dict[str, Any]:
    chat_input = int(cmd.get("type", _CHAT_INPUT)) == _CHAT_INPUT
    e: dict[str, Any] = {}
    _put(e, "name", _name(cmd.get("name"), chat_input=chat_input))
    if chat_input:
        _put(e, "description", _length(cmd.get("description"), 1, 100))
        _put(e, "options", _options(cmd.get("options") or []))
    perms = cmd.get("default_member_permissions")
    # Documented as a string; Discord coerces an integer too (discord.py sends one).
    numeric = (isinstance(perms, str) and perms.isdigit()) or (
        isinstance(perms, int) and not isinstance(perms, bool) and perms >= 0)
    if perms is not None and not numeric:
        _put(e, "default_member_permissions", _error("NUMBER_TYPE_COERCE",
                                                     f"Value \"{perms}\" is not snowflake."))
    for key, valid in (("contexts", _CONTEXTS), ("integration_types", _INSTALLS)):
        values = cmd.get(key)
        if values is not None and not (isinstance(values, list) and set(values) <= valid):
            _put(e, key, _error("ENUM_TYPE_COERCE",
                                f"Value must be one of {sorted(valid)}."))
    if not e and command_size(cmd) > MAX_COMMAND_CHARS:
        return _error("APPLICATION_COMMAND_TOO_LARGE",
                      f"Command exceeds maximum size ({MAX_COMMAND_CHARS})")
    return e


def refusal(commands: Any) -> dict[str, Any] | None:
    """Discord's 400 body for a bulk overwrite of ``commands`` it refuses, else None."""
    if not isinstance(commands, list):
        return {"message": "Invalid Form Body", "code": 50035,
                "errors": _error("BASE_TYPE_ARRAY", "Must be an array.")}
    errors: dict[str, Any] = {}
    seen: set[tuple[int, str]] = set()
    for i, cmd in enumerate(commands):
        e = _command(cmd)
        key = (int(cmd.get("type", _CHAT_INPUT)), str(cmd.get("name")))
        if not e and key in seen:
            e = _error("APPLICATION_COMMANDS_DUPLICATE_NAME",
                       f"Application command names must be unique: {key[1]}")
        seen.add(key)
        _put(errors, str(i), e)
    if not errors:
        return None
    return {"message": "Invalid Form Body", "code": 50035, "errors": errors}
