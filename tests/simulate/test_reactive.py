"""``--reactive``: simulated people who answer her. The model's factors each move the chance
the way docs/BENCHMARKS.md says, the answers are fed into the V2 run at their times (the
virtual clock's ``insert``), V1 and V2 see the same base traffic and the same people, and
the same seed gives the same answers."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from actors.events import MessageSeen, PresenceChanged
from runtime.__main__ import main
from runtime.simulate import people as model
from runtime.simulate.people import GuildPeople
from runtime.simulate.text import format_report
from runtime.simulate.traffic import START_EPOCH, GuildTraffic, generate_guild
from runtime.simulate.virtual import VirtualClock
from tests.kit.simulate import run, without_timing

ARGS = ("--guilds", "6", "--hours", "30", "--seed", "3", "--processes", "1")


class _At:
    def __init__(self, at: float, name: str) -> None:
        self.at, self.name = at, name


def test_inserted_events_are_handed_over_in_time_order_with_the_feed() -> None:
    """Events inserted while a feed runs (before the feed's next event, between two, and
    after its last) are handed over at their times, in order with the feed's own."""
    seen: list[tuple[str, float]] = []

    async def main_() -> None:
        clock = trio.lowlevel.current_clock()
        assert isinstance(clock, VirtualClock)
        clock.held -= 1
        clock.feed(iter([_At(1.0, "a"), _At(5.0, "b"), _At(9.0, "c")]),
                   lambda e: seen.append((e.name, trio.current_time())))
        await trio.sleep_until(2.0)
        clock.insert(_At(3.0, "x"))   # before the feed's next (b at 5)
        clock.insert(_At(7.0, "y"))   # between b and c
        clock.insert(_At(4.0, "z"))   # before x's successor, inserted later
        await trio.sleep_until(9.5)
        clock.insert(_At(12.0, "w"))  # after the feed's last event
        await clock.sleep_until(20.0)
        with pytest.raises(ValueError, match="before now"):
            clock.insert(_At(1.0, "late"))
        clock.cancel_feed()
        with pytest.raises(RuntimeError, match="no feed is running"):
            clock.insert(_At(30.0, "v"))

    trio.run(main_, clock=VirtualClock())
    assert seen == [("a", 1.0), ("x", 3.0), ("z", 4.0), ("b", 5.0), ("y", 7.0),
                    ("c", 9.0), ("w", 12.0)]


def _guild() -> GuildTraffic:
    return generate_guild(5, 0, START_EPOCH, START_EPOCH + 2 * 86400.0)


def _someone(people: GuildPeople, disposition: str, t: float) -> int | None:
    """A person of ``disposition`` who is online at ``t`` and wrote nothing in the 10 min
    before it, or None."""
    for uid, p in sorted(people.people.items()):
        if p.disposition == disposition and people.around(uid, t) == "online" \
                and not p.wrote_since(t, t - model.RECENT_S):
            return uid
    return None


def _moment(people: GuildPeople) -> tuple[float, int, int]:
    """The first quarter hour of the second day with a casual and a never person online
    and quiet."""
    for k in range(96):
        t = START_EPOCH + 86400.0 + k * 900.0 + 0.5
        chatty, never = _someone(people, "casual", t), _someone(people, "never", t)
        if chatty is not None and never is not None:
            return t, chatty, never
    raise AssertionError("no moment with a casual and a never person online")


def test_each_factor_of_the_model_moves_the_chance_as_documented() -> None:
    """Never-people never answer; named beats a post to the room; writing just now
    (mid-conversation) and a related game raise it; each earlier address of the day lowers
    it (the third greeting lands worse than the first); offline is 0."""
    g = _guild()
    people = GuildPeople(g, 5)
    t, chatty, never = _moment(people)
    assert people.chance(never, t, addressed=True, related=True) == 0.0
    named = people.chance(chatty, t, addressed=True, related=False)
    room = people.chance(chatty, t, addressed=False, related=False)
    assert named > room > 0
    assert people.chance(chatty, t, addressed=True, related=True) > named
    people.people[chatty].wrote.append(t - 60.0)
    people.people[chatty].wrote.sort()
    assert people.chance(chatty, t, addressed=False, related=False) > room
    people.people[chatty].wrote.remove(t - 60.0)
    first = people.chance(chatty, t, addressed=True, related=False)
    people.people[chatty].addressed_at += [t - 7200.0, t - 3600.0]
    third = people.chance(chatty, t, addressed=True, related=False)
    assert third == pytest.approx(first * model.FATIGUE ** 2)
    offline = [u for u in people.people if people.around(u, t) is None]
    assert offline and all(people.chance(u, t, addressed=True, related=True) == 0.0
                           for u in offline)


def test_the_same_action_at_the_same_moment_draws_the_same_answer() -> None:
    """Draws are a function of (seed, guild, person, moment): two runs acting alike get the
    same answers whatever else they did before (V1 and V2 compared on common numbers); a
    different seed draws differently."""
    g = _guild()
    t0 = START_EPOCH + 86400.0 + 0.25
    times = [t0 + k * 1800.0 for k in range(48)]

    def answers(seed: int, before: bool) -> list[tuple[int, float]]:
        people = GuildPeople(g, seed)
        if before:  # a different history: a room post a day earlier
            people.on_action("break_silence", t0 - 86400.0, None, None)
        return [(m.author_id, m.at) for t in times
                for m in people.on_action("share_tweet", t, None, None)]

    a = answers(5, False)
    assert a and a == answers(5, True)
    assert a != answers(6, False)


def test_answers_are_messages_in_her_channel_after_the_action() -> None:
    """An answer is a human message in the guild's channel, after the action, within the
    longest delay, with a message id no base message has."""
    g = _guild()
    people = GuildPeople(g, 5)
    base_ids = {e.message_id for e in g.events if type(e) is MessageSeen}
    t0 = START_EPOCH + 86400.0 + 0.75
    out = [m for k in range(96) for m in people.on_action("join_conversation",
                                                           t0 + k * 900.0, None, None)]
    assert out
    for m, a in zip(out, people.answers, strict=True):
        assert (m.guild_id, m.channel_id) == (g.plan.guild_id, g.plan.channel_id)
        assert not m.author_is_bot and not m.is_self and m.message_id not in base_ids
        assert 0 < m.at - a.action_at <= model.MAX_DELAY_S and m.author_id == a.user_id


@pytest.fixture(scope="module")
def reactive() -> dict[str, Any]:
    return run(*ARGS, "--reactive")


@pytest.fixture(scope="module")
def plain() -> dict[str, Any]:
    return run(*ARGS)


def test_the_flag_reports_answered_shares_v1_beside_v2(reactive: dict[str, Any]) -> None:
    """With --reactive the report gives, for V1 and V2, the share of actions answered within
    10 and 30 minutes, by action, and pestering; the text shows them side by side."""
    r = reactive["reactive"]
    for run_ in (r["v2"], r["v1"]):
        assert run_["actions"] > 0 and run_["answers"] > 0
        assert 0 < run_["answered_10m"] <= run_["answered_30m"] <= run_["actions"]
        assert sum(x["actions"] for x in run_["by_action"].values()) == run_["actions"]
        assert 0 <= run_["pestering"] <= run_["addressed"]
    assert r["v2"]["actions"] == reactive["v2"]["actions"]
    text = format_report(reactive)
    assert "Answered by a simulated person within 10 / 30 min" in text
    assert "Pestering" in text


def test_without_the_flag_nothing_answers_and_the_report_is_as_before(
        plain: dict[str, Any], reactive: dict[str, Any]) -> None:
    """The default run has no answers and no reactive part; both runs see the same base
    traffic; V1, blind to the channel, acts the same; V2 hears the answers (its runtime is
    handed more events), so what it does may change."""
    assert "reactive" not in plain and "reactive" not in plain["params"]
    assert plain["traffic"] == reactive["traffic"]
    assert plain["v1"] == reactive["v1"]
    # A reaction back to her reaction is an answer but no message (a react draws one answer
    # at most, so each is its reaction's first).
    answers = (reactive["reactive"]["v2"]["answers"]
               - reactive["reactive"]["reactions"]["answered_by_reaction"])
    assert reactive["runtime"]["traffic_events"] == plain["runtime"]["traffic_events"] + answers


def test_same_seed_same_answers_and_split_runs_agree(reactive: dict[str, Any]) -> None:
    """The same seed gives the same report, in one process or two."""
    again = run(*ARGS[:-2], "--processes", "2", "--reactive")
    a, b = without_timing(reactive), without_timing(again)
    a["params"].pop("processes")
    b["params"].pop("processes")
    a["runtime"].pop("snapshot_batches")
    b["runtime"].pop("snapshot_batches")
    assert a == b


def test_answers_come_from_the_model(monkeypatch: pytest.MonkeyPatch,
                                     reactive: dict[str, Any]) -> None:
    """With every disposition set to never answer, nobody answers (in V1 and V2), and V2's
    run is the default one's."""
    monkeypatch.setattr(model, "BASE", dict.fromkeys(model.BASE, 0.0))
    silent = run(*ARGS, "--reactive")
    assert silent["reactive"]["v2"]["answers"] == silent["reactive"]["v1"]["answers"] == 0
    assert silent["reactive"]["v2"]["answered_30m"] == 0
    assert reactive["reactive"]["v2"]["answers"] > 0


def test_reactive_needs_virtual_time(capsys: pytest.CaptureFixture[str]) -> None:
    """--reactive with --realtime is one line naming both."""
    assert main(["simulate", "--reactive", "--realtime", "--hours", "0.01"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--reactive needs virtual time" in err


def test_presence_drives_who_is_around() -> None:
    """Someone whose presence says idle is around as idle; offline and silent, not around."""
    g = _guild()
    people = GuildPeople(g, 5)
    idle = next(e for e in g.events if type(e) is PresenceChanged and e.status == "idle"
                and not e.is_bot)
    t = idle.at + 1e-3
    p = people.people[idle.user_id]
    if not p.wrote_since(t, t - model.RECENT_S):
        assert people.around(idle.user_id, t) == "idle"


def test_the_html_page_shows_the_answered_shares(tmp_path: Any) -> None:
    """--html with --reactive adds a figure of the answered shares by action, a bar per run,
    action and window; without --reactive the page has no such figure."""
    path = tmp_path / "report.html"
    report = run("--guilds", "4", "--hours", "24", "--seed", "3", "--processes", "1",
                 "--reactive", "--html", str(path))
    text = path.read_text(encoding="utf-8")
    assert 'id="figure-reactive"' in text
    for action in report["reactive"]["v2"]["by_action"]:
        for w in ("10m", "30m"):
            assert f'id="reactive-v2-{action}-{w}"' in text
    plain = tmp_path / "plain.html"
    run("--guilds", "4", "--hours", "24", "--seed", "3", "--processes", "1",
        "--html", str(plain))
    assert 'id="figure-reactive"' not in plain.read_text(encoding="utf-8")
