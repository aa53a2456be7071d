"""Tone episodes in the simulated traffic (``--tone-episodes``, ``--compare-tone``): drawn
from the seed apart from the base traffic, the same for every run; people answer less in
them; the report counts her playful posts and joins during them, tone on beside off."""

from __future__ import annotations

from actors.events import MemberTimedOut, MessagesDeleted, MessageSeen, ReactionChanged
from runtime.simulate.people import GuildPeople
from runtime.simulate.text import format_report
from runtime.simulate.tone import add_tone_episodes, in_episode
from runtime.simulate.traffic import START_EPOCH, generate_traffic
from tests.kit.simulate import run, without_timing

_SIGNALS = (ReactionChanged, MessagesDeleted, MemberTimedOut)


def test_episodes_add_signals_and_leave_the_base_traffic_as_it_was() -> None:
    """The base events are kept, in order; the episodes' signals are reactions, deletions
    (of messages of the traffic) and timeouts inside their episode; the same seed gives the
    same episodes."""
    base = generate_traffic(4, 12, 96)
    toned = add_tone_episodes(base)
    again = add_tone_episodes(generate_traffic(4, 12, 96))
    eps = [e for g in toned.guilds for e in g.episodes]
    assert eps and eps == [e for g in again.guilds for e in g.episodes]
    assert {e.kind for e in eps} == {"sad", "argument"}
    for g0, g in zip(base.guilds, toned.guilds, strict=True):
        assert [e for e in g.events if not isinstance(e, _SIGNALS)] == g0.events
        ids = {e.message_id for e in g0.events if isinstance(e, MessageSeen)}
        for e in g.events:
            if isinstance(e, _SIGNALS):
                assert in_episode(g.episodes, e.at)
            if isinstance(e, MessagesDeleted):
                assert set(e.message_ids) <= ids
            if isinstance(e, ReactionChanged):
                assert -1.0 <= e.value <= 1.0 and e.added
        assert [e.at for e in g.events] == sorted(e.at for e in g.events)


def test_people_answer_less_in_an_episode_and_a_playful_post_least() -> None:
    """The same action at the same moment draws fewer answers inside an episode."""
    toned = add_tone_episodes(generate_traffic(4, 12, 96))
    g = next(g for g in toned.guilds if g.episodes)
    e = g.episodes[0]
    t = (e.start + e.end) / 2

    def answers(episodes: bool, action: str) -> int:
        people = GuildPeople(g, 4)
        if not episodes:
            people.episodes = []
        return sum(len(people.on_action(action, t + k * 0.001, None, None))
                   for k in range(300))

    assert answers(True, "join_conversation") < answers(False, "join_conversation")
    assert answers(True, "share_tweet") < answers(True, "join_conversation") or \
        answers(True, "share_tweet") == 0


def test_the_report_compares_tone_on_and_off() -> None:
    """``--compare-tone``: the report's ``tone`` has V2, V2 with tone off and V1, each with
    playful posts and joins during episodes and the answered shares; the text says it; the
    same seed gives the same report."""
    args = ("--guilds", "8", "--hours", "48", "--seed", "2", "--processes", "1",
            "--reactive", "--compare-tone")
    report = run(*args)
    tone = report["tone"]
    assert tone["episodes"] > 0 and tone["v1"] is not None
    for key in ("v2", "v2_tone_off", "v1"):
        assert set(tone[key]) >= {"playful_in_episodes", "joins_in_episodes",
                                  "answered_30m_share"}
    assert tone["v2"]["playful_in_episodes"] <= tone["v2_tone_off"]["playful_in_episodes"]
    assert "Tone episodes" in format_report(report)
    assert without_timing(run(*args)) == without_timing(report)
    assert START_EPOCH == report["params"]["start"]


def test_the_html_page_shows_the_tone_figure() -> None:
    """The page gets a figure of her posts during episodes, a bar per run."""
    from runtime.simulate.html import _tone_plot

    tone = {"episodes": 3, "v2": {"playful_in_episodes": 0, "joins_in_episodes": 1},
            "v2_tone_off": {"playful_in_episodes": 2, "joins_in_episodes": 5}, "v1": None}
    svg = _tone_plot(tone)
    assert 'id="tone-v2-joins_in_episodes"' in svg
    assert 'id="tone-v2-tone-off-playful_in_episodes"' in svg


def test_compare_tone_puts_the_run_with_tone_on_under_v2_whatever_the_config(
        tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A config that turns tone off: ``--compare-tone`` still reports the tone-on run as
    ``v2`` and the tone-off run beside it (before, both columns were tone off), the same
    figures as with a config that turns it on."""
    on, off = tmp_path / "on.toml", tmp_path / "off.toml"
    on.write_text("[defaults]\ntone = true\n")
    off.write_text("[defaults]\ntone = false\n")
    args = ("--guilds", "8", "--hours", "48", "--seed", "2", "--processes", "1",
            "--reactive", "--compare-tone", "--no-v1")
    with_on = run(*args, "--config", str(on))["tone"]
    with_off = run(*args, "--config", str(off))["tone"]
    assert with_off["v2"] == with_on["v2"]
    assert with_off["v2_tone_off"] == with_on["v2_tone_off"]
    assert with_off["v2"]["playful_in_episodes"] <= with_off["v2_tone_off"]["playful_in_episodes"]
    assert with_off["v2"]["joins_in_episodes"] < with_off["v2_tone_off"]["joins_in_episodes"]
