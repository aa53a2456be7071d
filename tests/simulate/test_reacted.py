"""Her emoji reactions in the simulator: only the author of the message answers, less often
than she would answer a greeting, by a message or a reaction back; the report gives the
reactions per guild-day and the share that drew an answer; the channel refuses a reaction
to a message it does not have, like Discord."""

from __future__ import annotations

from typing import Any

import pytest

from actors.events import ActionRequest, MessageSeen
from runtime.errors import SendRejected
from runtime.simulate import people as model
from runtime.simulate.channel import SimDiscord
from runtime.simulate.people import GuildPeople
from runtime.simulate.text import format_report
from tests.simulate.test_reactive import _guild, _moment, reactive  # noqa: F401 (fixture)


def test_only_the_author_answers_a_reaction_and_less_often_than_a_greeting() -> None:
    g = _guild()
    people = GuildPeople(g, 5)
    t, someone, _ = _moment(people)
    named = people.chance(someone, t, addressed=True, related=False)
    drawn: list[tuple[int, str]] = []
    for k in range(400):
        at = t + k * 7.0
        before = len(people.answers)
        out = people.on_action("react", at, someone, None)
        for a in people.answers[before:]:
            assert a.user_id == someone and a.action == "react" and a.addressed
            drawn.append((a.user_id, a.kind))
        assert all(m.author_id == someone for m in out)
        assert len(out) == sum(1 for a in people.answers[before:] if a.kind == "message")
    kinds = {k for _, k in drawn}
    assert kinds == {"message", "reaction"}
    # Roughly the chance of a greeting times REACTED (the chance falls a little as the
    # person's answers make them mid-conversation more often, so only bounds are checked).
    assert 0 < len(drawn) / 400 < named
    assert people.on_action("react", t, None, None) == []


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


async def _send(sim: SimDiscord, **kw: Any) -> None:
    fields: dict[str, Any] = dict(request_id=1, guild_id=1, channel_id=2, action="react",
                                  mood="shy", decided_at=99.0, deadline=200.0,
                                  target_user_id=11, target_message_id=500)
    fields.update(kw)
    await sim.send(ActionRequest(**fields), "😊")


@pytest.mark.anyio
async def test_the_channel_refuses_a_reaction_to_a_message_it_does_not_have() -> None:
    sim = SimDiscord(_Clock(100.0), {1: 2})
    sim._events = {1: [MessageSeen(1, 2, 11, 50.0, message_id=500),
                       MessageSeen(1, 2, 13, 60.0, author_is_bot=True, message_id=501),
                       MessageSeen(1, 2, 11, 150.0, message_id=502)]}
    await _send(sim)
    assert [(r.action, r.target_user_id) for r in sim.sent] == [("react", 11)]
    for kw in ({"target_message_id": 499}, {"target_message_id": 501, "target_user_id": 13},
               {"target_message_id": 502}, {"target_user_id": 12}):
        with pytest.raises(SendRejected) as caught:
            await _send(sim, **kw)
        assert caught.value.status == 404


def test_the_report_gives_reactions_per_guild_day_and_what_they_drew(
        reactive: dict[str, Any]) -> None:  # noqa: F811 (the fixture)
    rx = reactive["reactive"]["reactions"]
    assert rx["reactions"] == reactive["v2"]["by_action"]["react"]["count"] > 0
    assert rx["per_guild_day"] == reactive["v2"]["by_action"]["react"]["per_guild_day"]
    assert 0 <= rx["answered_10m_share"] <= rx["answered_30m_share"] <= 1
    assert rx["answered_by_message"] + rx["answered_by_reaction"] > 0
    by = reactive["reactive"]["v2"]["by_action"]["react"]
    assert by["answered_30m_share"] == rx["answered_30m_share"]
    assert "Her emoji reactions (V2)" in format_report(reactive)
    assert model.REACTED < 1.0 and model.MODEL["reacted"] == model.REACTED
