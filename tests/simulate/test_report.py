"""The report's definitions, on hand-made traffic and sends: empty rooms, lively
conversations joined, quiet hours, time to greet a new game, per guild-day figures."""

from __future__ import annotations

from actors.events import GuildReady, MemberJoined, MessageSeen, PresenceChanged
from runtime.simulate.channel import SentRecord
from runtime.simulate.report import policy_report, traffic_summary
from runtime.simulate.setup import RunResult
from runtime.simulate.text import format_report
from runtime.simulate.traffic import START_EPOCH, GuildPlan, GuildTraffic, Traffic

GID = 42
H = 3600.0
T0 = START_EPOCH  # 00:00 UTC = 00:00 in London (quiet hours 1-7)


def _traffic() -> Traffic:
    plan = GuildPlan(index=0, guild_id=GID, channel_id=1, timezone="Europe/London", size=1.0,
                     chat=1.0, humans=(1, 2, 3), bots=(9,))
    events: list[object] = [PresenceChanged(GID, 1, T0 + 0.5 * H + 0.5, "offline")]
    # 02:00-05:00: nobody online, nobody writes (a bot does, which does not count).
    events.append(MessageSeen(GID, 1, 9, T0 + 2.5 * H + 0.5, author_is_bot=True))
    # 09:00: a lively conversation, 20 messages 10 s apart.
    events += [MessageSeen(GID, 1, 2 + i % 2, T0 + 9 * H + 10.0 * i + 0.5) for i in range(20)]
    # 12:00: two messages only: a conversation, not a lively one.
    events += [MessageSeen(GID, 1, 2, T0 + 12 * H + 0.5), MessageSeen(GID, 1, 3, T0 + 12 * H
                                                                          + 60.5)]
    # 15:00: user 3 starts a related game, user 2 an unrelated one; 16:00 someone joins.
    events.append(PresenceChanged(GID, 3, T0 + 15 * H + 0.5, "online", "Project DIVA Mega Mix"))
    events.append(PresenceChanged(GID, 2, T0 + 15 * H + 1.5, "online", "Minecraft"))
    events += [PresenceChanged(GID, u, T0 + 15.5 * H + u, "offline") for u in (2, 3)]
    events.append(MemberJoined(GID, 77, T0 + 16 * H + 0.5))
    events.sort(key=lambda e: e.at)  # type: ignore[attr-defined]
    return Traffic(1, T0, T0 + 24 * H, [GuildTraffic(plan, GuildReady(GID, T0, (1,)), events)])


def _sent(*records: tuple[str, float, str, int | None]) -> RunResult:
    return RunResult("v2", "virtual", [SentRecord(GID, a, t, m, 10, 1, u) for a, t, m, u in
                                       records], {"traffic_events": 0}, 0.0)


def test_the_traffic_summary_counts_humans_apart_from_bots() -> None:
    """Human messages, presence changes, games, joins and lively conversations."""
    t = traffic_summary(_traffic())
    assert t["human_messages"] == 22 and t["bot_messages"] == 1
    assert t["presence_changes"] == 5 and t["game_starts"] == 2
    assert t["related_game_starts"] == 1 and t["member_joins"] == 1
    assert t["conversations"] == 2 and t["lively_conversations"] == 1
    assert t["human_messages_per_guild_day"] == 22.0


def test_empty_rooms_quiet_hours_joins_and_greetings_follow_their_definitions() -> None:
    """A send at 03:00 with nobody around is into an empty room and in quiet hours; one
    during the lively chat joins it; a greeting 90 s after a related game start counts."""
    result = _sent(
        ("general", T0 + 3 * H, "neutral", None),             # empty room, quiet hours
        ("break_silence", T0 + 0.25 * H, "neutral", None),    # user 1 online: not empty
        ("join_conversation", T0 + 9 * H + 100.0, "bubbly", None),  # joins the lively one
        ("break_silence", T0 + 12 * H + 120.0, "bubbly", None),  # the quiet one: no count
        ("engage_user", T0 + 15 * H + 90.5, "bubbly", 3),     # greets the related game
        ("engage_user", T0 + 15 * H + 120.0, "bubbly", 2),    # the unrelated game
        ("general", T0 + 16 * H + 1800.0, "bubbly", None),    # joined 30 min ago: not empty
        ("general", T0 + 17 * H + 1800.0, "bubbly", None),    # 90 min ago: empty
    )
    result.sent.append(SentRecord(GID, "reply", T0 + 9 * H, "bubbly", 5, 0, 2))
    p = policy_report(_traffic(), result)
    assert p["actions"] == 8 and p["replies"] == 1
    assert p["empty_room_actions"] == 2
    assert p["quiet_hour_actions"] == 1  # 03:00; 00:15 is before the quiet hours (1-7)
    assert p["lively_conversations"] == 1 and p["conversations_joined"] == 1
    assert (p["related_game_starts"], p["games_greeted"]) == (1, 1)
    assert p["time_to_greet_median_s"] == 90.0
    assert p["by_action"]["engage_user"] == {"count": 2, "per_guild_day": 2.0}
    assert p["by_mood"]["bubbly"]["count"] == 6


def test_a_send_after_the_conversation_ended_does_not_join_it() -> None:
    """Speaking more than two minutes after the last message is not joining."""
    p = policy_report(_traffic(), _sent(("general", T0 + 9 * H + 190.5 + 121.0, "neutral",
                                         None)))
    assert p["conversations_joined"] == 0


def test_the_text_report_has_the_comparison_table() -> None:
    """The printed report shows both policies and the runtime line."""
    traffic = _traffic()
    v2 = _sent(("general", T0 + 3 * H, "neutral", None))
    v2.runtime = {k: 0 for k in (
        "traffic_events", "events_delivered", "actors_spawned", "passivations", "restarts",
        "snapshots_written", "snapshot_batches", "pool_sent", "pool_stale", "pool_failed",
        "pool_rejected", "mailbox_overflow")}
    from runtime.simulate.report import build_report

    report = build_report(traffic, v2, v2, {"guilds": 1, "hours": 24.0, "seed": 1,
                                            "clock": "virtual", "llm": "offline"})
    text = format_report(report)
    assert "V2 (rules)" in text and "V1 (timer)" in text and "into empty rooms" in text
    assert "Runtime (V2)" in text


def test_an_unprompted_post_counts_as_answered_when_a_human_writes_within_30_minutes(
        ) -> None:
    """A silence-breaker 20 min before the 09:00 chat is answered; one at 12:02 (the next
    message is hours later) is not; V1's general post counts as unprompted, a join does
    not."""
    result = _sent(
        ("break_silence", T0 + 9 * H - 1200.0, "bubbly", None),   # answered at 09:00
        ("share_tweet", T0 + 12 * H + 120.0, "curious", None),    # nobody after: no
        ("general", T0 + 11.75 * H, "neutral", None),             # 12:00 is 15 min later
        ("join_conversation", T0 + 9 * H + 100.0, "bubbly", None),  # not unprompted
    )
    p = policy_report(_traffic(), result)
    assert (p["unprompted_posts"], p["unprompted_answered"]) == (3, 2)
    assert p["unprompted_answered_share"] == round(2 / 3, 4)


def test_the_restart_figure_counts_guilds_that_acted_in_the_first_two_minutes() -> None:
    """Two actions of one guild in the first 2 minutes count one guild; one at 2:01 and
    a reply (not autonomous) count none."""
    from runtime.simulate.report import restart_report

    result = _sent(("break_silence", T0 + 5.0, "bubbly", None),
                   ("share_tweet", T0 + 90.0, "curious", None),
                   ("break_silence", T0 + 121.0, "bubbly", None))
    result.sent.append(SentRecord(GID, "reply", T0 + 3.0, "bubbly", 5, 0, 2))
    r = restart_report(_traffic(), result)
    assert (r["guilds"], r["guilds_acted"], r["actions"]) == (1, 1, 2)
    assert r["by_action"] == {"break_silence": 1, "share_tweet": 1}
    assert r["first_action_after_s"] == 5.0


def test_the_report_shows_three_examples_of_different_actions_first() -> None:
    """The examples take one of each action in the report's order before a second of any."""
    from runtime.simulate.report import build_report

    v2 = _sent(("general", T0 + 3 * H, "neutral", None))
    v2.runtime = {k: 0 for k in (
        "traffic_events", "events_delivered", "actors_spawned", "passivations", "restarts",
        "snapshots_written", "snapshot_batches", "pool_sent", "pool_stale", "pool_failed",
        "pool_rejected", "mailbox_overflow")}

    def line(action: str, i: int) -> dict[str, object]:
        return {"guild_id": GID, "action": action, "mood": "shy", "sim_time": "t",
                "text": f"{action} {i}"}

    v2.examples = {"reply": [line("reply", 0), line("reply", 1)],
                   "break_silence": [line("break_silence", 0)]}
    report = build_report(_traffic(), v2, None, {"guilds": 1, "hours": 24.0, "seed": 1,
                                                  "clock": "virtual", "llm": "offline"})
    assert [e["text"] for e in report["examples"]] == ["reply 0", "break_silence 0",
                                                       "reply 1"]
    assert "[reply, shy, t] reply 0" in format_report(report)


def test_a_policy_that_counted_posts_but_not_their_answers_prints_a_dash() -> None:
    """A report whose posts were counted but not their answers (``unprompted_answered``
    None, as a hand-made or older report may have) prints ``-/n``, not a TypeError from
    ``100.0 * None``."""
    from runtime.simulate.report import build_report

    traffic = _traffic()
    v2 = _sent(("break_silence", T0 + 12 * H + 120.0, "bubbly", None))
    v2.runtime = {k: 0 for k in (
        "traffic_events", "events_delivered", "actors_spawned", "passivations", "restarts",
        "snapshots_written", "snapshot_batches", "pool_sent", "pool_stale", "pool_failed",
        "pool_rejected", "mailbox_overflow")}
    report = build_report(traffic, v2, v2, {"guilds": 1, "hours": 24.0, "seed": 1,
                                            "clock": "virtual", "llm": "offline"},
                          learning={True: v2})
    report["v1"]["unprompted_answered"] = None
    text = format_report(report)
    row = next(line for line in text.splitlines() if "answered in 30 min" in line)
    assert row.rstrip().endswith("-/1")
    assert "V1 -/1" in text
