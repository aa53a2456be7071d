"""Test doubles at the actors' edges: a recording action sink."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from actors.events import ActionFinished, ActionRequest


class RecordingSink:
    """Records every submitted request with the loop time; can refuse, or finish requests
    through ``deliver`` (the router) when told to."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.requests: list[ActionRequest] = []
        self.times: list[float] = []
        self.refuse = refuse
        self.deliver: Callable[[Any], Any] | None = None
        self.auto_outcome: str | None = None
        self.submitted = anyio.Event()

    def submit(self, request: ActionRequest) -> None:
        if self.refuse:
            raise RuntimeError("pool refused: test")
        self.requests.append(request)
        self.times.append(anyio.current_time())
        self.submitted.set()
        self.submitted = anyio.Event()
        if self.auto_outcome is not None and self.deliver is not None:
            self.deliver(ActionFinished(request.guild_id, request.request_id, request.action,
                                        self.auto_outcome, request.decided_at))  # type: ignore[arg-type]

    def finish(self, request: ActionRequest, outcome: str = "sent", at: float | None = None,
               reason: str = "") -> ActionFinished:
        return ActionFinished(request.guild_id, request.request_id, request.action,
                              outcome, request.decided_at if at is None else at,  # type: ignore[arg-type]
                              reason)
