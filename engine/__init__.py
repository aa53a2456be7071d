"""The pure decision engine: signals, moods, rules, decisions. No I/O, no async, no clock.

Time (``now``, epoch seconds) and the seed are passed in; the same inputs give the same
decision. ``AutonomousEngine`` is the seed's API over this core.

This face exports what the other packages (actors, runtime, ops) use and what ENGINE.md and
docs/CONTRACTS.md promise, nothing else: the helpers stay in their modules (``engine.hours``,
``engine.params``, ...), where the engine's own tests reach them;
``tests/engine/test_engine_api.py`` keeps this honest.
"""

from engine.affinity import familiarity
from engine.chattiness import CHATTINESS_RANGE, CHATTINESS_RULE, check_chattiness
from engine.decision import Decision
from engine.deletions import observe_deletions
from engine.errors import (
    InvalidTimeError,
    SnapshotError,
    SnapshotVersionError,
    UnknownMoodError,
    UnknownTimezoneError,
)
from engine.facade import AutonomousEngine, autonomous_engine
from engine.keywords import is_related
from engine.localtime import in_quiet_hours, zone
from engine.moods import ASLEEP, MOOD_NAMES, MOODS, WAKING_MOODS, MoodProfile, profile_for
from engine.names import ACTIONS, ALL_ACTIONS, POLICY_NAMES, Action, AnyAction, PolicyName
from engine.policy import V1Policy, V2Policy, policy_for
from engine.presence import observe_join, observe_presence, seed_online
from engine.react import REACT
from engine.recent import note_message
from engine.record import (
    NO_ITEM,
    mark_pending,
    record_action,
    record_failure,
    record_result,
    rotate_mood,
)
from engine.rolls import roll
from engine.rules import SHARE_TWEET, decide
from engine.signals import signals
from engine.snapshot import decode_state, encode_state, restore_state
from engine.state import (
    MAX_ACTIONS_PER_DAY,
    MAX_ONLINE,
    GuildConfig,
    GuildState,
    forget_member,
    msgs_5m,
    new_state,
    observe_message,
    observe_messages,
    set_mood,
)
from engine.tone import note_timeout, observe_reaction, tone_label
from engine.v1 import V1_PERIOD_S, decide_v1

__all__ = [
    "ACTIONS",
    "ALL_ACTIONS",
    "ASLEEP",
    "CHATTINESS_RANGE",
    "CHATTINESS_RULE",
    "MAX_ACTIONS_PER_DAY",
    "MAX_ONLINE",
    "MOODS",
    "MOOD_NAMES",
    "NO_ITEM",
    "POLICY_NAMES",
    "REACT",
    "SHARE_TWEET",
    "V1_PERIOD_S",
    "WAKING_MOODS",
    "Action",
    "AnyAction",
    "AutonomousEngine",
    "Decision",
    "GuildConfig",
    "GuildState",
    "InvalidTimeError",
    "MoodProfile",
    "PolicyName",
    "SnapshotError",
    "SnapshotVersionError",
    "UnknownMoodError",
    "UnknownTimezoneError",
    "V1Policy",
    "V2Policy",
    "autonomous_engine",
    "check_chattiness",
    "decide",
    "decide_v1",
    "decode_state",
    "encode_state",
    "familiarity",
    "forget_member",
    "in_quiet_hours",
    "is_related",
    "mark_pending",
    "msgs_5m",
    "new_state",
    "note_message",
    "note_timeout",
    "observe_deletions",
    "observe_join",
    "observe_message",
    "observe_messages",
    "observe_presence",
    "observe_reaction",
    "policy_for",
    "profile_for",
    "record_action",
    "record_failure",
    "record_result",
    "restore_state",
    "roll",
    "rotate_mood",
    "seed_online",
    "set_mood",
    "signals",
    "tone_label",
    "zone",
]
