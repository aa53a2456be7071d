"""The emoji of a react: the offline backend picks from her mood's set, deterministically; a
model picks from the one message it is shown, and anything but one emoji of the set falls
back to the offline pick; the message is read alone (limit 1, up to it)."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from actors.events import ActionFinished, ActionRequest
from engine import MOOD_NAMES
from runtime.pool import LLMPool, OfflineBackend
from runtime.pool.models import ContextLine, Prompt
from runtime.pool.react import MOOD_EMOJI, emoji_set, offline_emoji, parse_emoji

pytestmark = pytest.mark.anyio

MID = 777


def request(mood: str = "excited", **kw: Any) -> ActionRequest:
    fields: dict[str, Any] = dict(request_id=1, guild_id=5, channel_id=6, action="react",
                                  mood=mood, decided_at=time.time(), deadline=10**10,
                                  target_user_id=11, target_message_id=MID)
    fields.update(kw)
    return ActionRequest(**fields)


def test_every_mood_has_a_set_and_the_offline_pick_is_from_it_and_fixed() -> None:
    assert set(MOOD_EMOJI) == set(MOOD_NAMES)
    for mood in MOOD_NAMES:
        picks = {offline_emoji(request(mood, decided_at=t)) for t in range(40)}
        assert picks <= set(emoji_set(mood))
        fixed = request(mood)
        assert offline_emoji(fixed) == offline_emoji(fixed)
    assert len({offline_emoji(request("bubbly", decided_at=t)) for t in range(40)}) > 1


@pytest.mark.parametrize(("answer", "expected"), [
    ("🎉", "🎉"), (" '🎉'. ", "🎉"), ("**🔥**", "🔥"), ("🎉🎉", None), ("yay 🎉", None),
    ("👽", None), ("", None), ("✨\ufe0f", "✨"),
])
def test_the_models_answer_is_one_emoji_of_the_set(answer: str, expected: str | None) -> None:
    assert parse_emoji(answer, emoji_set("excited")) == expected


class Results(list[ActionFinished]):
    """The pool's ``deliver``: keeps the results; ``wait`` returns at the first."""

    def __init__(self) -> None:
        super().__init__()
        self.came = anyio.Event()

    def __call__(self, event: ActionFinished) -> None:
        self.append(event)
        self.came.set()

    async def wait(self) -> None:
        with anyio.fail_after(5):
            await self.came.wait()


class Scripted:
    """A model that answers ``text`` and keeps the prompts it was given."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.prompts: list[Prompt] = []

    async def generate(self, prompt: Prompt) -> str:
        self.prompts.append(prompt)
        return self.text


async def _react(backend: Any, req: ActionRequest,
                 lines: list[ContextLine] | None = None) -> tuple[list[str], list[Any],
                                                                 Results]:
    sent: list[str] = []
    asked: list[Any] = []
    done = Results()

    async def sender(r: ActionRequest, text: str) -> None:
        sent.append(text)

    async def context(gid: int, cid: int, limit: int, *,
                      upto_message_id: int | None = None) -> list[ContextLine]:
        asked.append((limit, upto_message_id))
        return list(lines or [])

    async with LLMPool(backend, deliver=done, sender=sender, context=context) as pool:
        pool.submit(req)
        await done.wait()
    return sent, asked, done


LINE = ContextLine(author="alice", text="we won the finals!!", author_id=11, message_id=MID)


async def test_the_model_picks_from_the_one_message_and_the_moods_set() -> None:
    model = Scripted("🔥")
    sent, asked, done = await _react(model, request(), [LINE])
    assert sent == ["🔥"] and done[0].outcome == "sent"
    assert asked == [(1, MID)]  # the one message, nothing before it
    ask = model.prompts[0].messages[-1].content
    assert "we won the finals!!" in ask and " ".join(emoji_set("excited")) in ask


async def test_an_answer_outside_the_set_falls_back_to_the_offline_pick() -> None:
    req = request()
    sent, _, _ = await _react(Scripted("What a game! 🎮"), req, [LINE])
    assert sent == [offline_emoji(req)]


async def test_offline_reads_nothing() -> None:
    req = request("shy")
    sent, asked, done = await _react(OfflineBackend(), req, [LINE])
    assert sent == [offline_emoji(req)] and asked == [] and done[0].outcome == "sent"


async def test_a_message_gone_or_excluded_is_not_reacted_to() -> None:
    req = request()
    sent, _, _ = await _react(Scripted("🔥"), req, [])  # not in the lines it read
    assert sent == [offline_emoji(req)]  # not excluded: the emoji needs no words
    excluded = Results()

    async def sender(r: ActionRequest, text: str) -> None:
        raise AssertionError("sent")

    async def context(gid: int, cid: int, limit: int, *,
                      upto_message_id: int | None = None) -> list[ContextLine]:
        return [LINE]

    async with LLMPool(Scripted("🔥"), deliver=excluded, sender=sender,
                       context=context, exclude_user=lambda g, u: u == 11) as pool:
        pool.submit(request())
        await excluded.wait()
    assert excluded[0].outcome == "failed" and "opted out" in excluded[0].reason
