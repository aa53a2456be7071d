"""The engine's public surface: ``__all__`` kept honest, the seed's API as ENGINE.md lists it,
and the purity rules (no I/O, no async, no clock, no global randomness outside the facade)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import engine
from engine import ACTIONS, AutonomousEngine, GuildConfig, autonomous_engine, in_quiet_hours
from tests.kit.enginekit import GID, T0, FakeClock

ENGINE_DIR = Path(engine.__file__).parent
MODULES = sorted(m.name for m in pkgutil.iter_modules([str(ENGINE_DIR)]))


def test_every_exported_name_exists_and_is_listed_once() -> None:
    """Every name in ``engine.__all__`` exists, none is listed twice, and none is private."""
    names = engine.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(engine, name), name
        assert not name.startswith("_"), name


def test_every_exported_name_comes_from_one_module() -> None:
    """Each name ``engine`` exports is defined by exactly one engine module's ``__all__``, as
    the same object (trio's rule: one place for every export)."""
    homes: dict[str, list[str]] = {}
    for name in MODULES:
        module = importlib.import_module(f"engine.{name}")
        assert hasattr(module, "__all__"), name
        for attr in module.__all__:
            assert hasattr(module, attr), (name, attr)
            homes.setdefault(attr, []).append(name)
    for attr in engine.__all__:
        assert len(homes.get(attr, [])) == 1, (attr, homes.get(attr))
        module = importlib.import_module(f"engine.{homes[attr][0]}")
        assert getattr(engine, attr) is getattr(module, attr), attr


def _imports_from_engine() -> tuple[set[str], list[str]]:
    """Names other packages import from ``engine``, and their imports of engine's modules."""
    root = ENGINE_DIR.parent
    names: set[str] = set()
    deep: list[str] = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if rel.parts[0] in ("engine", ".venv") or rel.parts[:2] == ("tests", "engine"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "engine":
                    names |= {a.name for a in node.names}
                elif node.module.startswith("engine."):
                    deep.append(f"{rel}: from {node.module}")
    return names, deep


def test_other_packages_use_only_the_face_and_the_face_only_what_they_use() -> None:
    """Outside the engine (its own tests aside) code imports from ``engine`` only, never from
    its modules; and ``engine`` exports what that code uses plus what ENGINE.md and
    CONTRACTS.md promise, no helper besides."""
    used, deep = _imports_from_engine()
    assert deep == []
    assert used <= set(engine.__all__), used - set(engine.__all__)
    promised = {"AutonomousEngine", "autonomous_engine", "Action", "AnyAction", "PolicyName",
                "ALL_ACTIONS", "POLICY_NAMES", "decide", "Decision", "observe_message",
                "observe_messages", "observe_presence", "observe_join", "record_action",
                "record_failure", "record_result", "mark_pending", "rotate_mood",
                "restore_state", "encode_state", "decode_state", "GuildConfig", "GuildState",
                "ACTIONS", "NO_ITEM", "MOODS", "MOOD_NAMES", "UnknownMoodError",
                "InvalidTimeError", "SnapshotError", "SnapshotVersionError", "policy_for",
                "V1Policy", "V2Policy", "decide_v1"}
    # ``import engine`` users (ops) read attributes: those count as used too.
    attribute_users = {"signals", "GuildState", "decode_state"}
    assert set(engine.__all__) <= used | promised | attribute_users, (
        set(engine.__all__) - used - promised - attribute_users)


def test_the_names_other_parts_depend_on_are_exported() -> None:
    """The names CONTRACTS.md and ENGINE.md promise are all there."""
    promised = {
        "AutonomousEngine", "autonomous_engine", "decide", "Decision", "observe_message",
        "observe_messages", "observe_presence", "observe_join", "record_action",
        "record_failure", "record_result", "mark_pending", "rotate_mood", "restore_state",
        "encode_state", "decode_state", "GuildConfig", "GuildState", "ACTIONS", "NO_ITEM",
        "MOODS", "MOOD_NAMES", "UnknownMoodError", "InvalidTimeError", "SnapshotError",
        "SnapshotVersionError", "policy_for", "V1Policy", "V2Policy", "decide_v1",
    }
    assert promised <= set(engine.__all__)
    assert ACTIONS == ("join_conversation", "react", "engage_user", "fomo_response",
                       "break_silence", "share_tweet")
    assert set(engine.Decision.__struct_fields__) >= {
        "action", "at", "next_at", "blocked_by", "target_user_id", "target_activity"}


def test_public_functions_and_classes_have_docstrings() -> None:
    """Every exported function and class says what it is for."""
    for name in engine.__all__:
        obj = getattr(engine, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__, name


def test_the_seed_api_signatures_are_kept() -> None:
    """``AutonomousEngine``'s methods take the arguments the seed's callers pass."""
    sig = inspect.signature
    assert list(sig(AutonomousEngine).parameters)[:3] == ["clock", "seed", "startup_grace_s"]
    assert sig(AutonomousEngine).parameters["startup_grace_s"].default == 120.0
    assert list(sig(AutonomousEngine.update_mood).parameters) == ["self", "guild_id", "mood"]
    track = sig(AutonomousEngine.track_message).parameters
    assert list(track) == ["self", "guild_id", "author_is_bot", "is_self", "author_id"]
    assert track["is_self"].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(sig(AutonomousEngine.track_presence).parameters) == [
        "self", "guild_id", "user_id", "status", "activity", "is_bot"]
    assert list(sig(AutonomousEngine.track_member_join).parameters) == [
        "self", "guild_id", "user_id", "is_bot"]
    assert list(sig(AutonomousEngine.record_action).parameters) == ["self", "guild_id",
                                                                   "action"]
    assert list(sig(AutonomousEngine.should_take_action).parameters) == ["self", "guild_id"]
    assert list(sig(AutonomousEngine.explain).parameters) == ["self", "guild_id"]


def test_the_seed_api_works_as_the_seed_uses_it() -> None:
    """The seed's own snippet runs: two messages, a mood, a decision, an explanation."""
    clock = FakeClock()
    eng = AutonomousEngine(clock=clock, seed=7)
    assert eng.explain(GID) is None
    eng.track_message(GID, author_is_bot=False)
    eng.track_message(GID, author_is_bot=False)
    eng.update_mood(GID, "bubbly")
    assert eng.should_take_action(GID) is None
    why = eng.explain(GID)
    assert why is not None and why["blocked_by"] == "startup_grace"
    assert {"signals", "gates", "checks", "next_at", "target_user_id"} <= set(why)
    eng.track_presence(GID, user_id=1, status="online", activity=None, is_bot=False)
    eng.track_member_join(GID, user_id=2, is_bot=False)
    eng.record_action(GID, "join_conversation")
    assert eng.state(GID).messages_since_appearance == 0


def test_the_default_instance_is_on_the_wall_clock_and_unseeded() -> None:
    """``autonomous_engine`` exists for the seed's callers: wall clock, a random seed."""
    assert isinstance(autonomous_engine, AutonomousEngine)
    assert autonomous_engine.started_at > T0 - 10 * 365 * 86400
    assert AutonomousEngine().seed != AutonomousEngine().seed


# hashlib: a keyed digest of (user, activity) names is pure arithmetic, stable across processes.
# unicodedata: the Unicode database of the running Python (keywords' word boundaries).
PURE_IMPORTS = {"__future__", "math", "msgspec", "functools", "zoneinfo", "datetime",
                "typing", "collections", "collections.abc", "itertools", "engine", "hashlib",
                "bisect", "operator", "unicodedata"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_core_is_pure_and_modules_stay_small() -> None:
    """Only the facade may read the wall clock or draw a random seed; no module imports I/O,
    async or randomness libraries; no module is over about 500 lines."""
    for name in MODULES:
        path = ENGINE_DIR / f"{name}.py"
        allowed = PURE_IMPORTS | ({"time", "random"} if name == "facade" else set())
        bad = {m for m in _imports(path)
               if m not in allowed and m.split(".")[0] not in allowed}
        assert not bad, (name, bad)
        assert len(path.read_text().splitlines()) <= 520, name
        assert "async def" not in path.read_text(), name


def test_the_seed_api_rotates_moods_only_when_its_config_asks() -> None:
    """By default the seed API keeps the mood it was given; with a rotating config the mood
    changes hourly and she sleeps through the quiet hours."""
    clock = FakeClock()
    fixed = AutonomousEngine(clock=clock, seed=1)
    rotating = AutonomousEngine(clock=clock, seed=1, config=GuildConfig(quiet_hours=(1, 7)))
    for eng in (fixed, rotating):
        eng.update_mood(GID, "shy")
    moods = set()
    for _ in range(24):
        clock.advance(3600)
        fixed.should_take_action(GID)
        rotating.should_take_action(GID)
        moods.add(rotating.state(GID).mood)
        if in_quiet_hours(rotating.config, clock.t)[0]:
            assert rotating.state(GID).mood == "asleep"
    assert fixed.state(GID).mood == "shy"
    assert len(moods) > 5 and "asleep" in moods
