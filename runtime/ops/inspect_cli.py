"""Dump actor state: live through the control socket, or offline from the snapshot store.

``python -m runtime inspect`` (and its thin entry point ``ops/inspect.py``)::

    python ops/inspect.py --socket PATH            a table of every guild the process knows
    python ops/inspect.py --socket PATH GUILD_ID   one guild in full: state, signals, pending
                                                   action, the last decisions with reasons
    python ops/inspect.py --store PATH [GUILD_ID]  the same from a snapshot file (or a
                                                   postgresql:// URL), offline
    ... --json                                     {"guilds": [...]} or {"guild": {...}}

Offline, what only a running process knows (mailbox, restarts, quarantine, decisions) shows
as '-' (null in JSON); momentum is computed at the time the snapshot was saved.
Exit status: 0, or 2 with a one-line error (no socket, no store, unknown guild).
"""

import argparse
import datetime as dt
import math
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

import engine
from runtime.ops.control import ControlError, request
from runtime.store import (
    StoredSnapshot,
    StoreError,
    iter_snapshots,
    read_dead_letters,
    read_put_aside,
    read_snapshots,
)

#: The table's columns: (key in a guild's summary, heading).
COLUMNS = [
    ("guild_id", "guild"),
    ("mood", "mood"),
    ("live", "state"),
    ("mailbox_depth", "mailbox"),
    ("overflow", "overflow"),
    ("restarts", "restarts"),
    ("quarantined", "quarantined"),
    ("last_action", "last action"),
    ("momentum", "momentum"),
]
_TIME_SUFFIXES = ("_at", "_until", "_since", "deadline")
#: Keys holding an index of whole periods since the epoch, not seconds: (seconds a period,
#: what to call it). The learned hours count into epoch hour ``hours_at`` and note the
#: 10-minute slot ``hours_slot`` (engine/state.py).
_INDEX_KEYS = {"hours_at": (3600, "epoch hour"), "hours_slot": (600, "epoch 10-min slot")}
#: Collections longer than this are summarised in text output (JSON has them whole).
_SHOW_ITEMS = 8


class InspectError(Exception):
    """A failure to report in one line, with exit status 2."""


# --- reading -----------------------------------------------------------------------------

def _momentum_at(state: engine.GuildState, at: float) -> float:
    return engine.signals(state, engine.GuildConfig(), at).momentum


def _row_problem(row: StoredSnapshot) -> str | None:
    """What is wrong with a row's columns (a row written by hand, or by a broken version),
    or None: such a row is reported, never a traceback."""
    if not isinstance(row.data, bytes | bytearray | memoryview):
        return f"bad row: data is {type(row.data).__name__}, expected bytes"
    for name in ("saved_at", "wake_at"):
        value = getattr(row, name)
        if value is None and name == "wake_at":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or (not math.isfinite(value) and not (name == "wake_at" and value == math.inf)):
            return f"bad row: {name} is {value!r}, expected epoch seconds"
    return None


def _decode(row: StoredSnapshot) -> tuple[engine.GuildState | None, str | None]:
    if getattr(row, "error", None) is not None:  # the reader found wrong column types
        return None, row.error
    problem = _row_problem(row)
    if problem is not None:
        return None, problem
    try:
        return engine.decode_state(bytes(row.data)), None
    except (engine.SnapshotError, ValueError, TypeError) as exc:
        return None, str(exc) or type(exc).__name__


def _store_row(row: StoredSnapshot) -> dict[str, Any]:
    state, error = _decode(row)
    out: dict[str, Any] = {key: None for key, _ in COLUMNS}
    out.update(guild_id=row.guild_id, saved_at=row.saved_at, wake_at=row.wake_at,
               passivated=row.wake_at is not None)
    if row.removed_at is not None:  # kept for inspection: she was removed from the guild
        out["removed_at"] = row.removed_at
    if state is None:
        out.update(mood="?", error=error)
        return out
    out.update(mood=state.mood, last_action=state.last_action)
    try:
        out["momentum"] = _momentum_at(state, row.saved_at)
    except Exception as exc:  # a state the engine refuses (a time past its range ...)
        out["error"] = f"signals: {exc}"
    return out


def store_table(path: str) -> list[dict[str, Any]]:
    """Every guild of the store file, as table rows."""
    return [_store_row(r) for r in iter_snapshots(path)]


def store_guild(path: str, guild_id: int) -> dict[str, Any]:
    """One guild of the store file in full. Raises InspectError for an unknown guild."""
    rows = read_snapshots(path, guild_id)
    dead = read_dead_letters(path, guild_id)
    aside = read_put_aside(path, guild_id)
    if not (rows or dead or aside):
        raise InspectError(f"unknown guild {guild_id} (not in store {path})")
    out: dict[str, Any] = {"guild_id": guild_id, "source": "store", "saved_at": None,
                           "wake_at": None, "state": None, "signals": None, "pending": None,
                           "decisions": None}
    if rows:
        row = rows[0]
        out.update(saved_at=row.saved_at, wake_at=row.wake_at)
        state, error = _decode(row)
        if state is None:
            out["error"] = error
        else:
            out["state"] = msgspec.to_builtins(state)
            try:
                out["signals"] = msgspec.to_builtins(
                    engine.signals(state, engine.GuildConfig(), row.saved_at))
            except Exception as exc:
                out["error"] = f"signals: {exc}"
            if state.pending_action is not None:
                out["pending"] = {"action": state.pending_action,
                                  "request_id": state.pending_request_id,
                                  "deadline": state.pending_deadline}
    out["dead_letters"] = [{"at": d.at, "event_type": d.event_type, "traceback": d.traceback}
                           for d in dead]
    out["put_aside"] = [{"at": p.at, "error": p.error, "bytes": len(p.data)} for p in aside]
    return out


def live_table(path: str, timeout: float) -> list[dict[str, Any]]:
    """Every guild the running process knows, from its control socket."""
    result = request(path, {"type": "list"}, timeout)
    if not isinstance(result, list):
        raise InspectError(f"unexpected reply to 'list': {type(result).__name__}")
    return result


def live_guild(path: str, guild_id: int, timeout: float) -> dict[str, Any]:
    """One guild of the running process in full. Raises InspectError for an unknown guild."""
    result = request(path, {"type": "guild", "guild_id": guild_id}, timeout)
    if result is None:
        raise InspectError(f"unknown guild {guild_id}")
    if not isinstance(result, dict):
        raise InspectError(f"unexpected reply to 'guild': {type(result).__name__}")
    return result


# --- text --------------------------------------------------------------------------------

def _time_key(key: str) -> bool:
    return key == "at" or key.endswith(_TIME_SUFFIXES)


def _utc(value: float) -> str:
    when = dt.datetime.fromtimestamp(value, dt.UTC).isoformat(timespec="seconds")
    return when.replace("+00:00", "Z")


def fmt(key: str, value: Any) -> str:
    """One value for a human: times as UTC, floats short, long collections summarised."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key in _INDEX_KEYS and isinstance(value, int):
        period, name = _INDEX_KEYS[key]
        if value < 0:
            return "never"
        return f"{_utc(value * period)} ({name} {value})"
    # Epoch seconds: a time-named key, or any float of that size (ids are ints).
    if (_time_key(key) and isinstance(value, int | float) and 0 <= value < 1e11) or (
            isinstance(value, float) and 1e9 <= value < 1e11):
        if value == 0:
            return "never"
        return _utc(value)
    if isinstance(value, float):
        return "never" if math.isinf(value) else f"{value:.3g}" if abs(value) < 1000 \
            else f"{value:.0f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt(k, v)}" for k, v in value.items()) or "{}"
    if isinstance(value, list | tuple | set):
        items = list(value)
        shown = ", ".join(fmt(key, v) for v in items[:_SHOW_ITEMS])
        if len(items) > _SHOW_ITEMS:
            return f"{len(items)} items: {shown}, ..."
        return f"[{shown}]"
    return str(value)


def _state_word(row: dict[str, Any]) -> str:
    """live / passivated; offline, a guild saved while live is "saved"."""
    live = row.get("live")
    if isinstance(live, str):
        return live
    if row.get("removed_at") is not None:
        return "removed"
    if live is True:
        return "live"
    if "passivated" in row:
        if row["passivated"]:
            return "passivated"
        return "not live" if live is False else "saved"
    return "passivated" if live is False else "-"


def render_table(rows: Sequence[dict[str, Any]]) -> str:
    known = {k for k, _ in COLUMNS} | {"saved_at", "wake_at", "passivated"}
    extra: list[str] = []
    for row in rows:
        extra.extend(k for k in row if k not in known and k not in extra)
    columns = [*COLUMNS, *((k, k.replace("_", " ")) for k in extra)]
    table = [[heading for _, heading in columns]]
    for row in rows:
        table.append([_state_word(row) if key == "live" else fmt(key, row.get(key))
                      for key, _ in columns])
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in table]
    lines.append(f"{len(rows)} guild{'s' if len(rows) != 1 else ''}")
    return "\n".join(lines)


def _section(title: str, mapping: dict[str, Any] | None, out: list[str]) -> None:
    if mapping is None:
        out.append(f"{title}: -")
        return
    out.append(f"{title}:")
    width = max((len(k) for k in mapping), default=0)
    out.extend(f"  {k.ljust(width)}  {fmt(k, v)}" for k, v in mapping.items())


def _conditions(conds: Iterable[dict[str, Any]], only_failed: bool = False) -> str:
    return "; ".join(
        f"{c.get('name')}={fmt(str(c.get('name', '')), c.get('value'))} (need {c.get('need')})"
        for c in conds if isinstance(c, dict) and not (only_failed and c.get("ok")))


def _rule_reasons(rules: dict[str, Any], fired: bool) -> list[str]:
    """``{"action": {"condition": [value, need, ok]}}``, the supervisor's compact reasons."""
    lines = []
    for action, conds in rules.items():
        if not isinstance(conds, dict):
            lines.append(f"      {action}: {fmt(action, conds)}")
            continue
        parts = []
        for name, v in conds.items():
            if isinstance(v, list | tuple) and len(v) == 3:
                value, need, ok = v
                if fired or not ok:
                    parts.append(f"{name}={fmt(name, value)} (need {need})")
            else:
                parts.append(f"{name}={fmt(name, v)}")
        lines.append(f"      {'why' if fired else 'not'} {action}: {'; '.join(parts)}")
    return lines


def render_decision(d: dict[str, Any]) -> list[str]:
    """A decision: when, what (or why nothing), and the conditions that made it. Reads the
    engine's explained ``Decision`` and the supervisor's records (``reasons``) alike."""
    action = d.get("action")
    head = f"  {fmt('at', d.get('at'))}  {action or 'no action'}"
    reasons = d.get("reasons")
    blocked = d.get("blocked_by") or (reasons.get("blocked_by")
                                      if isinstance(reasons, dict) else None)
    if blocked:
        head += f"  (blocked by {blocked})"
    if d.get("target_user_id") is not None:
        head += f"  -> user {d['target_user_id']}"
        if d.get("target_activity"):
            head += f" ({d['target_activity']})"
    lines = [head]
    if isinstance(reasons, dict):
        if isinstance(reasons.get("rules"), dict):
            lines.extend(_rule_reasons(reasons["rules"], fired=action is not None))
        if isinstance(reasons.get("signals"), dict):
            sig = reasons["signals"]
            keys = [k for k in ("msgs_5m", "msgs_1h", "momentum", "quiet_for", "online")
                    if k in sig] or list(sig)
            lines.append("      signals: " + ", ".join(f"{k}={fmt(k, sig[k])}" for k in keys))
        for k, v in reasons.items():
            if k not in ("rules", "signals", "blocked_by") and v is not None:
                lines.append(f"      {k}: {fmt(k, v)}")
    elif reasons:
        for r in reasons if isinstance(reasons, list) else [reasons]:
            lines.append(f"      reason: {fmt('reason', r)}")
    checks = [c for c in d.get("checks") or () if isinstance(c, dict)]
    for c in checks:
        if action is not None and c.get("fired"):
            lines.append(f"      why {c.get('action')}: {_conditions(c.get('conditions') or ())}")
        elif action is None:
            failed = _conditions(c.get("conditions") or (), only_failed=True)
            if failed:
                lines.append(f"      not {c.get('action')}: {failed}")
    failed_gates = _conditions(d.get("gates") or (), only_failed=True)
    if failed_gates:
        lines.append(f"      gates: {failed_gates}")
    shown = {"action", "at", "blocked_by", "target_user_id", "target_activity", "reasons",
             "checks", "gates", "signals"}
    for k, v in d.items():
        if k not in shown and v not in (None, (), []):
            lines.append(f"      {k}: {fmt(k, v)}")
    return lines


def render_guild(g: dict[str, Any]) -> str:
    source = "from the store" if g.get("source") == "store" else "live"
    out = [f"guild {g.get('guild_id')} ({source})"]
    summary = [f"{heading} {_state_word(g) if key == 'live' else fmt(key, g[key])}"
               for key, heading in COLUMNS[1:] if key in g and key != "live"]
    if summary:
        out.append("  " + ", ".join(summary))
    for key in ("saved_at", "wake_at", "error"):
        if g.get(key) is not None:
            out.append(f"  {key.replace('_', ' ')}: {fmt(key, g[key])}")
    _section("state", g.get("state"), out)
    _section("signals", g.get("signals"), out)
    pending = g.get("pending")
    out.append(f"pending: {fmt('pending', pending) if pending else 'none'}")
    decisions = g.get("decisions")
    if decisions is None:
        out.append("decisions: - (known to the running process only)")
    else:
        out.append(f"decisions ({len(decisions)}, oldest first):" if decisions
                   else "decisions: none yet")
        for d in decisions:
            out.extend(render_decision(d) if isinstance(d, dict) else [f"  {fmt('', d)}"])
    for d in g.get("dead_letters") or ():
        tb = str(d.get("traceback", "")).strip().splitlines()
        out.append(f"dead letter: {fmt('at', d.get('at'))} {d.get('event_type')}: "
                   f"{tb[-1] if tb else ''}")
    now = g.get("now")
    if isinstance(now, dict) and "action" in now:  # the supervisor's "what would it do now"
        out.append("right now:")
        out.extend(render_decision(now))
    for p in g.get("put_aside") or ():
        out.append(f"put aside: {fmt('at', p.get('at'))} {p.get('bytes')} bytes: {p.get('error')}")
    shown = {"guild_id", "source", "saved_at", "wake_at", "error", "state", "signals",
             "pending", "decisions", "dead_letters", "put_aside", "now", "live", "passivated",
             *(key for key, _ in COLUMNS)}
    rest = {k: v for k, v in g.items() if k not in shown}
    if rest:
        _section("other", rest, out)
    return "\n".join(out)


# --- the command -------------------------------------------------------------------------

def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description="Dump actor state, live or from the snapshot store.")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", metavar="PATH", help="the running process's control socket")
    where.add_argument("--store", metavar="PATH_OR_URL",
                       help="a snapshot store file, or a postgresql:// URL (offline)")
    p.add_argument("guild_id", nargs="?", type=int, metavar="GUILD_ID",
                   help="show this guild in full")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the socket")
    return p


def run(args: argparse.Namespace) -> str:
    if args.guild_id is None:
        rows = (live_table(args.socket, args.timeout) if args.socket
                else store_table(args.store))
        return _json({"guilds": rows}) if args.json else render_table(rows)
    guild = (live_guild(args.socket, args.guild_id, args.timeout) if args.socket
             else store_guild(args.store, args.guild_id))
    return _json({"guild": guild}) if args.json else render_guild(guild)


def _json(obj: object) -> str:
    return msgspec.json.format(msgspec.json.encode(obj), indent=2).decode()


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m runtime inspect") -> int:
    """Run the command on ``argv``; returns the exit status (0, or 2 with one line on stderr)."""
    args = _parser(prog).parse_args(argv)
    try:
        text = run(args)
    except (InspectError, ControlError, StoreError) as exc:
        print(f"inspect: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a store row no reader expected: one line, never a traceback
        where = args.store or args.socket
        print(f"inspect: cannot read {where}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    try:
        print(text)
    except BrokenPipeError:  # piped into head: not an error, and no second traceback at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0

