"""What happens to the state after a decision: pending, sent, failed, stale; mood rotation.

Failures back off exponentially (1, 2, 4 … 30 min) so a dead LLM server does not make every
guild retry each minute; a share with no item backs sharing off for two hours; a stale result
(the words came too late) just clears the pending mark. An action recorded is an appearance
(but a ``react``: see ``engine.react``);
an unprompted one (break_silence, share_tweet) also starts the no-monologue wait, and every
autonomous one counts toward ``max_actions_per_day`` (the last day's times, at most 1,000).
"""

from __future__ import annotations

from engine.affinity import note_engaged
from engine.gates import DAY_S
from engine.localtime import in_quiet_hours, local_index, next_local_boundary
from engine.moods import ASLEEP, next_mood
from engine.presence import clean_activity, close_opportunity
from engine.react import REACT
from engine.recent import note_reacted
from engine.rules import ENGAGE_USER, SHARE_TWEET, UNPROMPTED
from engine.state import MAX_ACTIONS_PER_DAY, GuildConfig, GuildState, check_time

__all__ = [
    "FAILURE_BACKOFF_MAX_S",
    "NO_ITEM",
    "SHARE_BACKOFF_S",
    "clear_pending",
    "mark_pending",
    "record_action",
    "record_failure",
    "record_result",
    "rotate_mood",
]

FAILURE_BACKOFF_BASE_S = 60.0
FAILURE_BACKOFF_MAX_S = 1800.0
SHARE_BACKOFF_S = 7200.0
_MAX_REPLAYED = 24
#: The reason a share fails with when the runtime has no item to share.
NO_ITEM = "no item"


def mark_pending(state: GuildState, action: str, request_id: int, deadline: float) -> None:
    """The action was decided and handed on: no second decision until it finishes or
    ``deadline`` passes."""
    check_time(deadline, "deadline")
    state.pending_action = action
    state.pending_request_id = request_id
    state.pending_deadline = deadline


def clear_pending(state: GuildState) -> None:
    """Forget the pending action (it finished, or went stale)."""
    state.pending_action = None
    state.pending_deadline = 0.0


def record_action(state: GuildState, now: float, action: str,
                  target_user_id: int | None = None, target_activity: str | None = None,
                  *, affinity: bool = True) -> None:
    """The persona acted at ``now``: an appearance, and the target (if any) is engaged
    (with ``affinity``, its answer window opens: ``engine.affinity``).

    Raises:
        InvalidTimeError: ``now`` is not a valid time.
    """
    check_time(now)
    clear_pending(state)
    state.latest_at = max(state.latest_at, now)
    state.last_action_at = max(state.last_action_at, now)
    state.last_action = action
    if action == REACT:
        # A reaction is an action (gap, cooldowns, daily cap) but not an appearance: the
        # conversation's count goes on, and the burst has had its one reaction.
        note_reacted(state, now)
    else:
        state.last_appearance_at = max(state.last_appearance_at, now)
        state.messages_since_appearance = 0
    state.failures_in_row = 0
    state.backoff_until = 0.0
    if action in UNPROMPTED:
        state.unprompted_at = max(state.unprompted_at, now)
    day = state.day_actions
    sec = int(now)
    if day and day[0] <= sec - DAY_S:
        day[:] = [t for t in day if t > sec - DAY_S]
    day.append(sec)
    if len(day) > 1 and day[-2] > sec:  # a late result: keep them in order
        day.sort()
    if len(day) > MAX_ACTIONS_PER_DAY:
        del day[0]
    if action == ENGAGE_USER and target_user_id is not None:
        close_opportunity(state, target_user_id,
                          clean_activity(target_activity) if target_activity else None, now)
        if affinity:
            note_engaged(state.affinity, target_user_id, now)


def record_failure(state: GuildState, now: float, action: str, reason: str) -> None:
    """The action failed: back off (sharing with no item backs off sharing only; a reaction
    does not back off, it only ends the burst's reaction)."""
    check_time(now)
    clear_pending(state)
    state.latest_at = max(state.latest_at, now)
    if action == REACT:
        # A reaction Discord refused (a permission, the message gone) is not tried again in
        # this burst, and it holds back no words: no back-off.
        note_reacted(state, now)
        return
    if action == SHARE_TWEET and reason == NO_ITEM:
        state.share_backoff_until = now + SHARE_BACKOFF_S
        return
    state.failures_in_row += 1
    delay = min(FAILURE_BACKOFF_MAX_S,
                FAILURE_BACKOFF_BASE_S * 2.0 ** min(state.failures_in_row - 1, 16))
    state.backoff_until = now + delay


def record_result(state: GuildState, now: float, action: str, outcome: str, reason: str = "",
                  request_id: int | None = None, target_user_id: int | None = None,
                  target_activity: str | None = None, *, affinity: bool = True) -> bool:
    """Apply an action's result (``affinity`` as ``record_action``). A result for another
    request than the pending one (a late answer after a restart, say) still counts what
    happened but does not clear a newer pending mark.

    Returns:
        True if the result matched the pending request.
    """
    matches = request_id is None or request_id == state.pending_request_id
    pending = (state.pending_action, state.pending_deadline, state.pending_request_id)
    if outcome == "sent":
        record_action(state, now, action, target_user_id, target_activity,
                      affinity=affinity)
    elif outcome == "failed":
        record_failure(state, now, action, reason)
    elif outcome == "stale":
        check_time(now)
        clear_pending(state)
        if action == REACT:
            note_reacted(state, now)  # the message was gone: not again in this burst
    else:
        raise ValueError(f"unknown outcome {outcome!r}; valid: sent, failed, stale")
    if not matches:
        state.pending_action, state.pending_deadline, state.pending_request_id = pending
    return matches


def rotate_mood(state: GuildState, cfg: GuildConfig, now: float, seed: int) -> str | None:
    """Rotate the mood if its time has come (hourly by default).

    Rotations fall on the guild's local period boundaries (local hours by default, so a
    +5:30 zone wakes right after its quiet hours). The first call only schedules the next
    rotation. Inside quiet hours an awake guild falls asleep at once (quiet hours need not
    start on a rotation); a mood set by hand otherwise holds until the next rotation.
    Rotations missed while a guild was passivated are replayed in order (up to a day of
    them), so a guild's mood sequence does not depend on whether it was live: the supervisor
    predicts wake-up times from the same sequence.

    Returns:
        The new mood, or None if it did not change.
    """
    check_time(now)
    if not cfg.rotate_moods:
        return None
    period = cfg.rotation_period_s
    before = state.mood
    if state.next_rotation_at <= 0 or state.next_rotation_at > now + 2 * period:
        # Not scheduled yet (or scheduled by a clock that has since stepped back).
        state.next_rotation_at = next_local_boundary(cfg, now, period)
    elif now >= state.next_rotation_at:
        at = state.next_rotation_at
        if now - at > _MAX_REPLAYED * period:  # too long asleep: replay only the last day
            at = next_local_boundary(cfg, now - _MAX_REPLAYED * period, period)
        while at <= now:
            quiet, _ = in_quiet_hours(cfg, at)
            state.mood = next_mood(state.mood, hour_index=local_index(cfg, at, period),
                                   in_quiet_hours=quiet, seed=seed, guild_id=state.guild_id)
            at = next_local_boundary(cfg, at, period)
        state.next_rotation_at = at
    if state.mood != ASLEEP and in_quiet_hours(cfg, now)[0]:
        state.mood = ASLEEP
    return None if state.mood == before else state.mood
