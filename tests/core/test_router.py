"""The router: the one way an event reaches an actor, bound for as long as the runtime
serves; refused (and counted) outside that span, screened by the settings inside it."""

from __future__ import annotations

from typing import Any

import pytest

from actors.events import MessageSeen
from runtime.router import Router


class _Settings:
    """The settings' side the router asks: drops user 66's events, knows guild 1's channel,
    excludes user 77."""

    def screen(self, event: Any) -> Any:
        return None if event.author_id == 66 else event

    def channel_of(self, guild_id: int) -> int | None:
        return 10 if guild_id == 1 else None

    def excluded(self, guild_id: int, user_id: int) -> bool:
        return user_id == 77


class _Supervisor:
    def __init__(self) -> None:
        self.got: list[Any] = []

    def deliver(self, event: Any) -> bool:
        self.got.append(event)
        return True


def test_the_router_serves_only_while_the_runtime_does() -> None:
    """Before ``serving`` and after it, events are refused and counted and the gateway is
    told of no channel; inside it, screened events reach the supervisor; a second runtime
    cannot take a router that serves."""
    router, sup = Router(), _Supervisor()
    event, ignored = MessageSeen(1, 10, 5, 0.0), MessageSeen(1, 10, 66, 0.0)
    assert router.deliver(event) is False and router.refused == 1
    assert router.channel_of(1) is None and router.excluded(1, 77) is False
    with router.serving(_Settings(), sup):  # type: ignore[arg-type]
        assert router.serving_now
        assert router.deliver(event) is True
        assert router.deliver(ignored) is False  # screened out: not a refusal
        assert router.channel_of(1) == 10 and router.excluded(1, 77)
        with pytest.raises(RuntimeError, match="already serves"), \
                router.serving(_Settings(), sup):  # type: ignore[arg-type]
            pass
    assert sup.got == [event]
    assert router.deliver(event) is False and router.refused == 2
    assert not router.serving_now and router.channel_of(1) is None
