"""One guild's actor: a receive loop with its own tick timer, over the pure engine.

The loop drains everything queued per wake-up, updates the signals through the engine for
each event, asks for one decision after the batch, and sleeps until the engine's "when to
look next" (bounded by a regular tick, jittered per guild). The timer is a single cancel
scope whose deadline is moved only when the answer changes: a timeout around every receive
costs several times the throughput.

A decided action is marked pending and handed to the sink (the LLM pool); its result comes
back as an ``ActionFinished`` event. When a handler raises, the actor stops with
``ActorCrashed`` carrying the event that did it; the supervisor dead-letters the event and
restarts the guild from its last good state.

Written against anyio only: it runs on asyncio and trio alike. It is over 500 lines because
the receive loop, its tick timer and the handlers share one guild's state and hot path:
splitting them would put an indirection on every event (DESIGN.md, "What costs what").
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

import anyio
import msgspec
import structlog

from actors.clock import LoopClock
from actors.contract import (
    DEFAULT_DEADLINES,
    READY,
    SILENT,
    WAITING,
    ActionSink,
    ActorCrashed,
    ActorExit,
    ActorSettings,
    Readiness,
)
from actors.cooldown import ReplyCooldown
from actors.events import (
    ActionFinished,
    ActionRequest,
    ChannelAccess,
    ConfigChanged,
    GuildReady,
    GuildRemoved,
    GuildUnavailable,
    Inspect,
    MemberJoined,
    MemberLeft,
    MemberOptedOut,
    MemberTimedOut,
    MessagesCoalesced,
    MessagesDeleted,
    MessageSeen,
    MoodSet,
    PresenceChanged,
    ReactionChanged,
    SnapshotNow,
    Stop,
)
from actors.explain import reasons, why_not
from actors.mailbox import Mailbox
from actors.wake import passive_wake_at
from engine import (
    Decision,
    GuildConfig,
    GuildState,
    decide,
    decide_v1,
    encode_state,
    familiarity,
    forget_member,
    mark_pending,
    msgs_5m,
    note_message,
    note_timeout,
    observe_deletions,
    observe_join,
    observe_message,
    observe_messages,
    observe_presence,
    observe_reaction,
    record_failure,
    record_result,
    roll,
    rotate_mood,
    seed_online,
    set_mood,
    signals,
    tone_label,
)

__all__ = [
    "DEFAULT_DEADLINES",
    "READY",
    "SILENT",
    "WAITING",
    "ActionSink",
    "ActorCrashed",
    "ActorExit",
    "ActorSettings",
    "GuildActor",
    "Readiness",
    "passive_wake_at",
]

log = structlog.get_logger("actors.actor")

#: A pending mark outlives its request's deadline by this much, so the pool's stale report
#: (sent at the deadline) arrives while the mark still holds and nothing is decided twice.
PENDING_SLACK_S = 30.0
_TICK_SALT = 0x7469636B  # "tick"
_MAX_REPLIES_IN_FLIGHT = 3
_MAX_COOLDOWNS = 512
_DECISIONS_KEPT = 8


#: Events that leave the snapshotted state as it was: a batch of only these does not make
#: the guild dirty (its next snapshot would encode the same bytes again).
_CLEAN_EVENTS: frozenset[type] = frozenset(
    {Inspect, SnapshotNow, Stop, GuildUnavailable, ChannelAccess, ConfigChanged})


def _with_channel(cfg: GuildConfig, channel_id: int | None, may_react: bool = True
                  ) -> GuildConfig:
    """The settings' config as the engine needs it: whether there is a channel, and whether
    her permissions there let her react (what the gateway last said)."""
    has = channel_id is not None
    if cfg.has_channel == has and cfg.may_react == may_react:
        return cfg
    return msgspec.structs.replace(cfg, has_channel=has, may_react=may_react)


class GuildActor:
    """The actor of one guild (slotted, with its rarely used parts made on first use:
    idle actors are most actors, and each byte counts a hundred thousand times).

    Args:
        state: the guild's engine state (fresh or restored).
        settings: its settings.
        clock: epoch time from the loop's clock.
        sink: where action requests go.
        seed: the engine seed.
        request_ids: returns a new request id, unique in the process.
        mailbox: the mailbox the router delivers to (created before the actor is ready,
            so events wait there during a restore).
        on_snapshot: called with the actor when it is asked to snapshot now.
        readiness: the guild's readiness in this process when the actor starts (the
            supervisor keeps it across passivations); ``WAITING`` until a ``GuildReady``.
        restored: the state comes from a snapshot (another process, or a crash): once ready
            the guild waits one minimum gap, and a silence counts from its GuildReady, not
            from a snapshot's old times (nobody watched the channel meanwhile).
        tally: counts decisions by ``(policy, action)`` (the supervisor's statistics).
        woken: started by its wake-up time, not by an event (a passivated guild woken to
            look once): with nothing to do it goes back to sleep at once.
    """

    __slots__ = (
        "_exit",
        "_mood_checked_until",
        "_shadow_seen",
        "cfg",
        "clock",
        "decisions",
        "dirty",
        "events_handled",
        "guild_id",
        "inflight",
        "last_event_at",
        "mailbox",
        "on_snapshot",
        "readiness",
        "replies",
        "reply_cooldowns",
        "request_ids",
        "restored",
        "seed",
        "settings",
        "sink",
        "state",
        "tally",
        "tick_s",
        "woken",
    )

    def __init__(self, state: GuildState, settings: ActorSettings, *, clock: LoopClock,
                 sink: ActionSink, seed: int, request_ids: Callable[[], int],
                 mailbox: Mailbox | None = None,
                 on_snapshot: Callable[[GuildActor], None] | None = None,
                 readiness: Readiness = WAITING, restored: bool = False,
                 tally: dict[tuple[str, str], int] | None = None, woken: bool = False) -> None:
        self.guild_id = state.guild_id
        self.state = state
        self.clock = clock
        self.sink = sink
        self.seed = seed
        self.request_ids = request_ids
        self.mailbox = mailbox if mailbox is not None else Mailbox(state.guild_id)
        self.on_snapshot = on_snapshot
        self.settings = settings
        self.cfg = _with_channel(settings.config, settings.channel_id)
        self.tick_s = settings.tick_s * (0.9 + 0.2 * roll(seed, self.guild_id, _TICK_SALT, 0))
        self.dirty = False
        self.inflight: ActionRequest | None = None
        self.replies: dict[int, ActionRequest] | None = None
        self.reply_cooldowns: ReplyCooldown | None = None
        self.decisions: deque[dict[str, Any]] | None = None
        self.last_event_at = clock.now()
        self.events_handled = 0
        #: Started by its wake-up time, not by an event: with nothing to do it sleeps again.
        self.woken = woken
        self._mood_checked_until = 0.0
        self._shadow_seen: tuple[str | None, int] = (None, -1)
        self._exit: Literal["stopped", "removed"] | None = None
        self.readiness: Readiness = readiness
        self.tally = tally
        self.restored = restored
        if restored and readiness != WAITING:
            # Restarted from its last snapshot in a process where it is ready already (a
            # crash): an action the snapshot had not caught may have just been sent.
            self._restore_gap(self.last_event_at, reset_silence=False)

    # --- the loop -----------------------------------------------------------------------


    @property
    def log(self) -> Any:
        """The logger, with ``guild_id`` bound into this task's context on first use: every
        line below carries it, and an actor that never logs (most are idle) pays nothing.
        The binding lives as long as the task's context, so there is nothing to reset."""
        if structlog.contextvars.get_contextvars().get("guild_id") != self.guild_id:
            structlog.contextvars.bind_contextvars(guild_id=self.guild_id)
        return log

    async def run(self) -> ActorExit:
        """Run until stopped, removed or passivated. Raises ``ActorCrashed``.

        (The loop is this coroutine itself: every idle actor keeps its await chain alive,
        so each extra layer costs a frame per guild.)"""
        clock = self.clock
        mailbox = self.mailbox
        # With events already waiting (a spawn on first sight), the first batch decides.
        next_at = math.inf
        if not len(mailbox):
            next_at = self._consider(clock.now())
            if self.woken and self._idle_now() and self.settings.passivate_after_s > 0:
                # Woken by its timer, it looked, and has nothing to do: back to sleep at once,
                # so many guilds waking together (after a downtime) never all stay live.
                return self._passivate(clock.now())
            self.woken = False
        # Woken with events waiting (its GuildReady after a start): the same, after them.
        back_to_sleep = False
        while True:
            now = clock.now()
            tick_at = now + self.tick_s
            wake = max(min(next_at, tick_at), now + 1.0)
            with anyio.CancelScope(deadline=clock.loop_time(wake)) as timer:
                while True:
                    await mailbox.wait()
                    now = clock.now()
                    self._handle_batch(mailbox.drain(), now)
                    if self._exit is not None:
                        break
                    next_at = self._consider(now)
                    if self.woken:
                        self.woken = False
                        if self._idle_now() and self.settings.passivate_after_s > 0:
                            back_to_sleep = True
                            break
                    # The timer is only ever moved earlier: re-arming it costs more than the
                    # engine's whole decision, and waking early is harmless (it looks again).
                    if next_at < wake:
                        wake = max(next_at, now + 1.0)
                        timer.deadline = clock.loop_time(wake)
            if self._exit is not None:
                return ActorExit(self._exit, encode_state(self.state))
            if back_to_sleep:
                return self._passivate(clock.now())
            now = clock.now()
            next_at = self._consider(now)
            if self._should_passivate(now):
                return self._passivate(now)

    def _handle_batch(self, batch: list[Any], now: float) -> None:
        handle = self._handle
        clean = _CLEAN_EVENTS
        for i, event in enumerate(batch):
            if type(event) not in clean:
                self.dirty = True  # before handling: a SnapshotNow later in the batch saves it
            try:
                handle(event)
            except Exception as exc:
                # What came after the failing event is not lost: the restarted actor gets it.
                self.mailbox.put_back(batch[i + 1:])
                self.events_handled += i
                raise ActorCrashed(self.guild_id, event, exc) from exc
        self.events_handled += len(batch)
        self.last_event_at = now

    def restarted(self, state: GuildState, *, restored: bool = False) -> GuildActor:
        """A new actor for this guild after a crash, on ``state``, keeping the mailbox, the
        request in flight, the replies (their results are still to come) and its readiness.
        ``restored``: ``state`` is the guild's last snapshot, not its live state."""
        actor = GuildActor(state, self.settings, clock=self.clock, sink=self.sink,
                           seed=self.seed, request_ids=self.request_ids, mailbox=self.mailbox,
                           on_snapshot=self.on_snapshot, readiness=self.readiness,
                           restored=restored, tally=self.tally)
        actor.inflight = self.inflight if state.pending_action is not None else None
        actor.replies = self.replies
        actor.reply_cooldowns = self.reply_cooldowns
        actor.decisions = self.decisions
        return actor

    def _idle_now(self) -> bool:
        return (self.state.pending_action is None and not self.replies
                and len(self.mailbox) == 0)

    def _should_passivate(self, now: float) -> bool:
        after = self.settings.passivate_after_s
        return after > 0 and now - self.last_event_at >= after and self._idle_now()

    def _passivate(self, now: float) -> ActorExit:
        data = encode_state(self.state)
        self.mailbox.closed = True
        # A guild that may not act needs no timer: its GuildReady or ChannelAccess wakes it.
        wake = math.inf if self.readiness != READY else passive_wake_at(
            self.state, self.cfg, now, self.seed, self.settings.policy)
        self.log.debug("passivated", wake_at=wake)
        return ActorExit("passivated", data, wake)

    # --- events -------------------------------------------------------------------------

    def _handle(self, event: Any) -> None:
        state = self.state
        kind = type(event)
        if kind is MessageSeen:
            if not event.author_is_bot and not event.is_self:
                # A human's message she may react to (ids only; the router gives an opted-out
                # member's with message_id 0, which is not kept).
                note_message(state, event.at, event.message_id, event.author_id)
            # The author's id feeds the engine's affinity (who answers her); with it off,
            # the engine is given no id, so it keeps nothing about anyone.
            observe_message(state, event.at, event.author_is_bot, event.is_self,
                            event.author_id if self.cfg.affinity else None,
                            event.addresses_self, event.message_id)
            if event.addresses_self and not event.author_is_bot and not event.is_self:
                self._maybe_reply(event)
        elif kind is MessagesCoalesced:
            observe_messages(state, event.count, event.first_at, event.last_at)
        elif kind is PresenceChanged:
            observe_presence(state, event.at, event.user_id, event.status, event.activity,
                             event.is_bot, self.cfg)
        elif kind is MemberJoined:
            observe_join(state, event.at, event.user_id, event.is_bot)
        elif kind is MemberLeft:
            # Nobody to greet (their opportunities go, with what affinity knew of them) and
            # no longer around.
            forget_member(state, event.user_id)
            observe_presence(state, event.at, event.user_id, "offline", None, False, self.cfg)
        elif kind is MessagesDeleted:
            observe_deletions(state, event.at, event.message_ids)
        elif kind is ReactionChanged:
            if self.cfg.tone:  # off: nothing kept about reactions
                key = (event.message_id * 1_000_003) ^ (event.user_id * 31) ^ event.emoji_key
                observe_reaction(state, event.at, key, event.value, event.added)
        elif kind is MemberTimedOut:
            if self.cfg.tone and event.until > event.at:
                note_timeout(state, event.at)
        elif kind is ActionFinished:
            self._finished(event)
        elif kind is MoodSet:
            set_mood(state, event.mood)
            self._mood_checked_until = 0.0  # in quiet hours a hand-set mood goes back to sleep
            self.log.info("mood_set", mood=event.mood)
        elif kind is GuildReady:
            seed_online(state, event.online_user_ids)
            self._ready(event)
        elif kind is GuildUnavailable:
            if self.readiness != WAITING:
                self.log.info("guild_unavailable")
            self.readiness = WAITING
        elif kind is ChannelAccess:
            self._access(event)
        elif kind is ConfigChanged:
            self.settings = event.settings
            self.cfg = _with_channel(event.settings.config, event.settings.channel_id,
                                     self.cfg.may_react)
            self._mood_checked_until = 0.0
            if self.reply_cooldowns is not None:
                self.reply_cooldowns.cooldown_s = float(event.settings.reply_cooldown_s)
        elif kind is MemberOptedOut:
            forget_member(state, event.user_id)
        elif kind is SnapshotNow:
            if self.on_snapshot is not None:
                self.on_snapshot(self)
        elif kind is Inspect:
            event.reply(self.inspect())
        elif kind is Stop:
            self._exit = "stopped"
        elif kind is GuildRemoved:
            self._exit = "removed"
        else:
            raise TypeError(f"not an actor event: {kind.__name__}")

    def _tone(self, now: float) -> str | None:
        return tone_label(self.state, now) if self.cfg.tone else None

    def _ready(self, event: GuildReady) -> None:
        if self.restored:
            self.restored = False
            self._restore_gap(event.at, reset_silence=True)
        self.readiness = READY if event.can_speak else SILENT
        if not event.can_speak:
            self.log.info("guild_silent", missing=event.missing)
        self._may_react(event.can_react)

    def _may_react(self, can: bool) -> None:
        if can != self.cfg.may_react:
            self.cfg = _with_channel(self.cfg, self.settings.channel_id, can)
            self.log.info("react_access", may_react=can)

    def _access(self, event: ChannelAccess) -> None:
        if self.readiness == WAITING:
            return  # the GuildReady to come says it again
        self._may_react(event.can_react)
        now_ready = READY if event.can_speak else SILENT
        if now_ready != self.readiness:
            self.readiness = now_ready
            self.log.info("channel_access", can_speak=event.can_speak, missing=event.missing)

    def _restore_gap(self, at: float, *, reset_silence: bool) -> None:
        """A restored guild waits one minimum gap once ready. After a downtime a silence
        counts from the moment she sees the channel again: the snapshot's times say nothing
        of what was said while no process was watching."""
        state = self.state
        state.grace_until = max(state.grace_until, at + self.cfg.min_gap_s)
        if reset_silence:
            state.observed_since = max(state.observed_since, at)

    def _maybe_reply(self, event: MessageSeen) -> None:
        now = self.clock.now()
        cooldowns = self.reply_cooldowns
        if cooldowns is None:
            cooldowns = self.reply_cooldowns = ReplyCooldown(self.settings.reply_cooldown_s,
                                                             max_users=_MAX_COOLDOWNS)
        replies = self.replies
        if replies is None:
            replies = self.replies = {}
        # Every mention she does not answer says why, at info: "she ignored me" is the first
        # thing an owner asks about.
        if self.readiness != READY:
            reason = "not ready" if self.readiness == WAITING else "cannot speak here"
            self.log.info("reply_dropped", reason=reason, user_id=event.author_id,
                          message_id=event.message_id)
            return
        if not cooldowns.ready(event.author_id, now):
            self.log.info("reply_dropped", reason="per-user cooldown", user_id=event.author_id,
                          message_id=event.message_id,
                          cooldown_s=self.settings.reply_cooldown_s)
            return
        if self.settings.channel_id is None:
            self.log.info("reply_dropped", reason="no autonomous channel",
                          user_id=event.author_id, message_id=event.message_id)
            return
        if len(replies) >= _MAX_REPLIES_IN_FLIGHT:
            self.log.info("reply_dropped", reason="too many replies in flight",
                          user_id=event.author_id, message_id=event.message_id,
                          in_flight=len(replies))
            return
        # The channel the message came in: the autonomous channel or a thread under it.
        request = ActionRequest(
            request_id=self.request_ids(), guild_id=self.guild_id,
            channel_id=event.channel_id, action="reply", mood=self.state.mood,
            decided_at=now, deadline=now + self.settings.deadlines.get("reply", 60.0),
            priority=0, target_user_id=event.author_id, reply_to_message_id=event.message_id,
            tone=self._tone(now),
        )
        try:
            self.sink.submit(request)
        except RuntimeError as exc:
            self.log.warning("reply_rejected", reason=str(exc))
            return
        cooldowns.try_acquire(event.author_id, now)
        replies[request.request_id] = request
        if self.tally is not None:
            key = (self.settings.policy, "reply")
            self.tally[key] = self.tally.get(key, 0) + 1

    def _finished(self, event: ActionFinished) -> None:
        reply = self.replies.pop(event.request_id, None) if self.replies else None
        if reply is not None:
            if event.outcome == "sent":
                observe_message(self.state, event.at, is_self=True)  # an appearance
            self.log.info("reply_finished", outcome=event.outcome, reason=event.reason)
            return
        req = self.inflight
        target_user = target_activity = None
        if req is not None and req.request_id == event.request_id:
            self.inflight = None
            target_user, target_activity = req.target_user_id, req.target_activity
        matched = record_result(self.state, event.at, event.action, event.outcome, event.reason,
                                event.request_id, target_user, target_activity,
                                affinity=self.cfg.affinity)
        self.log.info("action_finished", action=event.action, outcome=event.outcome,
                 reason=event.reason, request_id=event.request_id, matched=matched)

    # --- decisions ----------------------------------------------------------------------

    def _consider(self, now: float) -> float:
        """Rotate the mood if due, decide, act; return when to look next (epoch)."""
        state, cfg = self.state, self.cfg
        if cfg.rotate_moods and now >= self._mood_checked_until:
            new = rotate_mood(state, cfg, now, self.seed)
            if new is not None:
                self.log.info("mood_rotated", mood=new)
            # Nothing about the mood can change before the next rotation or the next quarter
            # hour (quiet hours start on local whole hours; every UTC offset is a multiple of
            # 15 minutes), so a busy guild does not work out its local time on every event.
            self._mood_checked_until = min(state.next_rotation_at, (now // 900.0 + 1) * 900.0)
        if self.readiness != READY:
            return math.inf  # observing only: its GuildReady or ChannelAccess says when
        policy = self.settings.policy
        if policy == "v2":
            d = decide(state, cfg, now, self.seed)
        else:
            d = decide_v1(state, cfg, now, self.seed)
            if policy == "shadow":
                self._shadow(now)
        if d.action is not None:
            self._act(d, now)
        elif self.settings.explain_idle:
            self._why_not(d, now)
        return d.next_at

    def _why_not(self, d: Decision, now: float) -> None:
        """At debug: the gate, or each rule's first failed condition, that held it back."""
        explained = decide(self.state, self.cfg, now, self.seed, explain=True) \
            if d.policy == "v2" else d
        self.log.debug("no_decision", policy=d.policy, blocked_by=d.blocked_by,
                       next_at=d.next_at, why_not=why_not(explained))

    def _shadow(self, now: float) -> None:
        would = decide(self.state, self.cfg, now, self.seed)
        key = (would.action, int(now // 60))
        if would.action is not None and key != self._shadow_seen:
            self._shadow_seen = key
            explained = decide(self.state, self.cfg, now, self.seed, explain=True)
            self.log.info("shadow_decision", policy="v2", action=would.action,
                     reasons=reasons(explained))

    def _act(self, d: Decision, now: float) -> None:
        state = self.state
        action = d.action
        assert action is not None
        explained = decide(state, self.cfg, now, self.seed, explain=True) \
            if d.policy == "v2" else d
        request = ActionRequest(
            request_id=self.request_ids(), guild_id=self.guild_id,
            channel_id=self.settings.channel_id or 0, action=action, mood=state.mood,
            decided_at=now, deadline=now + self.settings.deadlines.get(action, 600.0),
            target_user_id=d.target_user_id, target_activity=d.target_activity,
            target_message_id=d.target_message_id,
            familiarity=familiarity(state.affinity, d.target_user_id, now)
            if action == "engage_user" and d.target_user_id is not None and self.cfg.affinity
            else None,
            tone=self._tone(now),
        )
        record = {"at": now, "action": action, "policy": d.policy,
                  "request_id": request.request_id, "target_user_id": d.target_user_id,
                  "target_activity": d.target_activity, "reasons": reasons(explained)}
        if d.target_message_id is not None:
            record["target_message_id"] = d.target_message_id
        if self.decisions is None:
            self.decisions = deque(maxlen=_DECISIONS_KEPT)
        self.decisions.append(record)
        try:
            self.sink.submit(request)
        except RuntimeError as exc:
            record_failure(state, now, action, f"rejected: {exc}")
            self.dirty = True
            self.log.warning("decision_rejected", action=action, reason=str(exc))
            return
        mark_pending(state, action, request.request_id, request.deadline + PENDING_SLACK_S)
        self.inflight = request
        self.dirty = True
        if self.tally is not None:
            key = (d.policy, action)
            self.tally[key] = self.tally.get(key, 0) + 1
        self.log.info("decision", action=action, policy=d.policy, mood=state.mood,
                 request_id=request.request_id, target_user_id=d.target_user_id,
                 target_activity=d.target_activity, reasons=record["reasons"])

    # --- inspection ---------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """One row of the guild table."""
        st = self.mailbox.statistics()
        state = self.state
        return {"guild_id": self.guild_id, "mood": state.mood, "live": True,
                "mailbox_depth": st.depth, "overflow": st.overflowed,
                "last_action": state.last_action, "last_action_at": state.last_action_at or None,
                "momentum": min(1.0, msgs_5m(state, self.clock.now()) / 20),
                "pending": state.pending_action,
                "policy": self.settings.policy, "readiness": self.readiness}

    def inspect(self) -> dict[str, Any]:
        """The guild in full: state, signals, pending action, the last decisions, and why it
        would or would not act right now."""
        now = self.clock.now()
        explained = decide(self.state, self.cfg, now, self.seed, explain=True)
        return {
            **self.summary(),
            "state": msgspec.to_builtins(self.state),
            "signals": msgspec.to_builtins(signals(self.state, self.cfg, now)),
            "pending": None if self.inflight is None else msgspec.to_builtins(self.inflight),
            "decisions": list(self.decisions or ()),
            "now": msgspec.to_builtins(explained),
            "mailbox": msgspec.to_builtins(self.mailbox.statistics()),
            "events_handled": self.events_handled,
        }
