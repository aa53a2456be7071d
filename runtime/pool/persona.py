"""The persona's words: loading the files, and building a prompt for one request.

The defaults ship as package data under ``runtime/persona/``: ``system.txt`` (her character),
``persona.toml`` (name, a description per mood, a template per action) and ``offline.toml``
(lines for the offline backend). An override from config is a directory holding any of those
three files, or a single ``.toml`` file with the same keys (``system`` included) or a ``.txt``
system prompt; what it does not set keeps the default.
"""

from __future__ import annotations

import os
import string
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from engine import MOOD_NAMES
from runtime.pool.errors import PersonaError
from runtime.pool.models import ACTIONS

__all__ = [
    "LINE_FIELDS",
    "TEMPLATE_FIELDS",
    "Persona",
    "default_persona",
    "fill",
    "load_persona",
]

#: Placeholders an action template may use.
TEMPLATE_FIELDS = frozenset({"name", "mood", "mood_description", "conversation", "author",
                             "message", "user", "activity", "item_title", "item_url"})
#: Placeholders an offline line may use.
LINE_FIELDS = frozenset({"name", "author", "user", "activity", "item_title", "item_url"})

_TOP_KEYS = frozenset({"name", "aliases", "system", "links", "moods", "actions", "lines"})
_formatter = string.Formatter()


class Persona(msgspec.Struct, frozen=True):
    """Everything the persona says, loaded and checked.

    ``lines[mood][action]`` are the offline backend's lines (at least one each); the first
    is also the prompt's example answer for that mood and action. ``links`` are the URLs she
    may post besides a shared item's (exact, or prefixes ending with ``/``).
    """

    name: str
    aliases: tuple[str, ...]
    system: str
    moods: dict[str, str]
    actions: dict[str, str]
    lines: dict[str, dict[str, tuple[str, ...]]]
    links: tuple[str, ...] = ()


def _check_template(path: str, key: str, text: Any, allowed: frozenset[str]) -> str:
    if not isinstance(text, str) or not text.strip():
        raise PersonaError(path, key, f"expected a non-empty string, got {text!r:.60}")
    try:
        fields = {f for _, f, _, _ in _formatter.parse(text) if f is not None}
    except ValueError as exc:
        raise PersonaError(path, key, f"bad template ({exc}); write {{{{ and }}}} for braces") \
            from None
    unknown = fields - allowed
    if unknown:
        raise PersonaError(path, key, f"unknown placeholder {{{sorted(unknown)[0]}}}; "
                           f"known: {', '.join(sorted(allowed))}")
    return text


def _check_names(path: str, section: str, table: Any, known: Sequence[str],
                 noun: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise PersonaError(path, section, f"expected a table, got {type(table).__name__}")
    for key in table:
        if key not in known:
            raise PersonaError(path, f"{section}.{key}",
                               f"unknown {noun}; known: {', '.join(known)}")
    return table


def _merge(data: dict[str, Any], path: str, into: dict[str, Any]) -> None:
    """Check ``data`` (one file's keys) and merge it into ``into``."""
    for key in data:
        if key not in _TOP_KEYS:
            raise PersonaError(path, key, f"unknown key; known: {', '.join(sorted(_TOP_KEYS))}")
    if "name" in data:
        if not isinstance(data["name"], str) or not data["name"].strip():
            raise PersonaError(path, "name", "expected a non-empty string")
        into["name"] = data["name"].strip()
    if "aliases" in data:
        aliases = data["aliases"]
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
            raise PersonaError(path, "aliases", "expected a list of non-empty strings")
        into["aliases"] = tuple(aliases)
    if "links" in data:
        links = data["links"]
        if not isinstance(links, list) or not all(
                isinstance(u, str) and u.startswith(("http://", "https://")) for u in links):
            raise PersonaError(path, "links", "expected a list of http:// or https:// URLs")
        into["links"] = tuple(links)
    if "system" in data:
        if not isinstance(data["system"], str) or not data["system"].strip():
            raise PersonaError(path, "system", "expected a non-empty string")
        into["system"] = data["system"].strip()
    for mood, text in _check_names(path, "moods", data.get("moods", {}), MOOD_NAMES,
                                   "mood").items():
        if not isinstance(text, str) or not text.strip():
            raise PersonaError(path, f"moods.{mood}", "expected a non-empty string")
        into["moods"][mood] = text.strip()
    for action, text in _check_names(path, "actions", data.get("actions", {}), ACTIONS,
                                     "action").items():
        into["actions"][action] = _check_template(path, f"actions.{action}", text,
                                                  TEMPLATE_FIELDS).strip()
    for mood, per_action in _check_names(path, "lines", data.get("lines", {}),
                                         MOOD_NAMES, "mood").items():
        table = _check_names(path, f"lines.{mood}", per_action, ACTIONS, "action")
        for action, lines in table.items():
            key = f"lines.{mood}.{action}"
            if isinstance(lines, str):
                lines = [lines]
            if not isinstance(lines, list) or not lines:
                raise PersonaError(path, key, "expected a non-empty list of strings")
            into["lines"].setdefault(mood, {})[action] = tuple(
                _check_template(path, f"{key}[{i}]", line, LINE_FIELDS)
                for i, line in enumerate(lines))


def _read_toml(path: str, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PersonaError(path, "", f"not valid TOML: {exc}") from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PersonaError(path, "", f"cannot read: {exc}") from None


def _apply_file(path: Path, into: dict[str, Any]) -> None:
    if path.suffix == ".txt":
        _merge({"system": _read(path)}, str(path), into)
    elif path.suffix == ".toml":
        _merge(_read_toml(str(path), _read(path)), str(path), into)
    else:
        raise PersonaError(path, "", "expected a directory, a .toml or a .txt file")


_FILES = ("persona.toml", "offline.toml", "system.txt")
_PERSONA_DIR = Path(__file__).resolve().parent.parent / "persona"


def _defaults() -> dict[str, Any]:
    into: dict[str, Any] = {"name": "", "aliases": (), "system": "", "links": (), "moods": {},
                            "actions": {}, "lines": {}}
    # Next to this package, installed or not (an editable install may make ``runtime`` a
    # namespace package, which importlib.resources cannot read from).
    base = _PERSONA_DIR
    for name in _FILES:
        text = (base / name).read_text(encoding="utf-8")
        where = f"runtime/persona/{name}"
        if name.endswith(".txt"):
            _merge({"system": text}, where, into)
        else:
            _merge(_read_toml(where, text), where, into)
    return into


def _complete(into: dict[str, Any], where: str) -> Persona:
    for mood in MOOD_NAMES:
        if mood not in into["moods"]:
            raise PersonaError(where, f"moods.{mood}", "missing")
        for action in ACTIONS:
            if action not in into["lines"].get(mood, {}):
                raise PersonaError(where, f"lines.{mood}.{action}", "missing")
    for action in ACTIONS:
        if action not in into["actions"]:
            raise PersonaError(where, f"actions.{action}", "missing")
    aliases = tuple(into["aliases"]) or (into["name"],)
    if into["name"] not in aliases:
        aliases = (*aliases, into["name"])
    return Persona(name=into["name"], aliases=aliases, system=into["system"],
                   moods=into["moods"], actions=into["actions"], lines=into["lines"],
                   links=into["links"])


_default: Persona | None = None


def default_persona() -> Persona:
    """The shipped persona (Miku), loaded once."""
    global _default
    if _default is None:
        _default = _complete(_defaults(), "runtime/persona")
    return _default


def load_persona(override: str | os.PathLike[str] | None = None) -> Persona:
    """Load the persona: the shipped files, with ``override`` applied on top.

    Args:
        override: None for the defaults; a directory holding any of ``persona.toml``,
            ``offline.toml``, ``system.txt``; or one ``.toml`` file (keys ``name``,
            ``aliases``, ``system``, ``links``, ``[moods]``, ``[actions]``,
            ``[lines.<mood>]``) or one ``.txt`` file (the system prompt).

    Returns:
        The checked persona: a description for each of the 14 moods, a template for each
        action, offline lines for each mood × action.

    Raises:
        PersonaError: the override is missing or unreadable, or a key in it is unknown or
            has a bad value; the message names the file and the key
            (``persona file /etc/miku/persona.toml: actions.reply: unknown placeholder``).
    """
    if override is None:
        return default_persona()
    into = _defaults()
    path = Path(override)
    if path.is_dir():
        found = [path / n for n in _FILES if (path / n).is_file()]
        if not found:
            raise PersonaError(path, "", f"the directory holds none of {', '.join(_FILES)}")
        for file in found:
            _apply_file(file, into)
    elif path.is_file():
        _apply_file(path, into)
    else:
        raise PersonaError(path, "", "no such file or directory")
    return _complete(into, str(path))


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def fill(template: str, values: Mapping[str, str]) -> str:
    """Fill a checked template; a placeholder without a value becomes empty."""
    return template.format_map(_Blank(values))
