"""The names the layers share, defined once: the actions and the policies.

An action name travels from the engine's decision through the actor's request to the pool's
prompt and the log line; a policy name from the config file to the actor. Each is a
``Literal`` here so that a misspelt name is a type error wherever it is written, and the
tuples are derived from the ``Literal`` so the two can never disagree.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "ACTIONS",
    "ALL_ACTIONS",
    "POLICY_NAMES",
    "Action",
    "AnyAction",
    "PolicyName",
]

#: What the V2 rules decide, in the order they are checked (ENGINE.md, "Actions").
Action = Literal["join_conversation", "react", "engage_user", "fomo_response",
                 "break_silence", "share_tweet"]
#: Every action the runtime carries out: the rules' six (``react`` is an emoji reaction, no
#: words), V1's timer post ``general``, and ``reply`` (she was spoken to).
AnyAction = Action | Literal["general", "reply"]
#: What a guild's ``policy`` setting may say (``shadow``: V1 acts, V2 only logs).
PolicyName = Literal["v2", "v1", "shadow"]

ACTIONS: tuple[Action, ...] = get_args(Action)
ALL_ACTIONS: tuple[AnyAction, ...] = (*ACTIONS, "general", "reply")
POLICY_NAMES: tuple[PolicyName, ...] = get_args(PolicyName)
