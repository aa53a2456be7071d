"""The traffic model: calibrated, pure, day-and-night shaped, and free of content."""

from __future__ import annotations

import math

import msgspec
import pytest

from actors.events import GuildReady, MemberJoined, MessageSeen, PresenceChanged, encode_event
from runtime.simulate.traffic import (
    GRID_S,
    LocalClock,
    generate_guild,
    generate_traffic,
    is_related,
)


@pytest.fixture(scope="module")
def day_of_200() -> object:
    return generate_traffic(seed=11, guilds=200, hours=24)


def test_a_guild_day_averages_500_human_messages_and_200_presence_changes(day_of_200: object
                                                                          ) -> None:
    """Over 200 guild-days the means sit near the calibration targets (500 and 200)."""
    traffic = day_of_200
    humans = presence = 0
    for g in traffic.guilds:  # type: ignore[attr-defined]
        for e in g.events:
            if type(e) is MessageSeen and not e.author_is_bot:
                humans += 1
            elif type(e) is PresenceChanged:
                presence += 1
    assert 440 <= humans / 200 <= 560
    assert 175 <= presence / 200 <= 225


def test_guilds_differ_and_some_games_are_related(day_of_200: object) -> None:
    """Sizes vary (some quiet guilds, some busy ones); a minority of games is related."""
    per_guild = sorted(sum(1 for e in g.events if type(e) is MessageSeen)
                       for g in day_of_200.guilds)  # type: ignore[attr-defined]
    assert per_guild[20] < 300 < 800 < per_guild[-20]
    games = [e.activity for g in day_of_200.guilds for e in g.events  # type: ignore[attr-defined]
             if type(e) is PresenceChanged and e.activity]
    related = sum(1 for a in games if is_related(a))
    assert 0.05 < related / len(games) < 0.3
    assert any(type(e) is MemberJoined for g in day_of_200.guilds  # type: ignore[attr-defined]
               for e in g.events)
    assert any(type(e) is MessageSeen and e.author_is_bot
               for g in day_of_200.guilds for e in g.events)  # type: ignore[attr-defined]


def test_people_chat_mostly_by_day_in_their_own_time_zone(day_of_200: object) -> None:
    """Local 8:00-24:00 carries most human messages; 2:00-7:00 very few."""
    day = night = total = 0
    for g in day_of_200.guilds:  # type: ignore[attr-defined]
        local = LocalClock(g.plan.timezone)
        for e in g.events:
            if type(e) is MessageSeen and not e.author_is_bot:
                h = local.hour(e.at)
                total += 1
                day += 8 <= h < 24
                night += 2 <= h < 7
    assert day / total > 0.85
    assert night / total < 0.04


def test_the_same_seed_gives_the_same_events_and_another_seed_others() -> None:
    """Traffic is a pure function of (seed, guild, window)."""
    a = generate_guild(5, 3, 1_772_409_600.0, 1_772_409_600.0 + 6 * 3600)
    b = generate_guild(5, 3, 1_772_409_600.0, 1_772_409_600.0 + 6 * 3600)
    c = generate_guild(6, 3, 1_772_409_600.0, 1_772_409_600.0 + 6 * 3600)
    assert msgspec.json.encode(a) == msgspec.json.encode(b)
    assert msgspec.json.encode(a.events) != msgspec.json.encode(c.events)


def test_events_are_sorted_on_the_grid_never_on_a_whole_second_and_in_the_window() -> None:
    """Event times are exact against an integer clock offset and never tie with a timer
    the runtime sets on whole seconds."""
    traffic = generate_traffic(seed=2, guilds=10, hours=12)
    for g in traffic.guilds:
        times = [e.at for e in g.events]
        assert times == sorted(times)
        for t in times:
            assert traffic.start <= t < traffic.end
            assert t != math.floor(t)
            assert (t - traffic.start) / GRID_S == math.floor((t - traffic.start) / GRID_S)
    merged = [e.at for e in traffic.merged()]
    assert merged == sorted(merged) and len(merged) == traffic.event_count


def test_events_are_actor_events_without_content() -> None:
    """Every event is an actors.events struct that encodes as an external event; the
    opening state says who was online."""
    traffic = generate_traffic(seed=1, guilds=8, hours=3)
    assert any(g.ready.online_user_ids for g in traffic.guilds)
    for g in traffic.guilds:
        assert isinstance(g.ready, GuildReady)
        assert set(g.ready.online_user_ids) <= set(g.plan.humans)
        for e in g.events:
            assert type(e) in (MessageSeen, PresenceChanged, MemberJoined)
            assert e.guild_id == g.plan.guild_id
            data = encode_event(e)
            assert b"content" not in data and b"text" not in data


def test_bad_sizes_are_refused() -> None:
    """No guilds or no time is a ValueError that says which."""
    with pytest.raises(ValueError, match="guilds"):
        generate_traffic(1, 0, 1)
    with pytest.raises(ValueError, match="hours"):
        generate_traffic(1, 1, 0)
