"""The pool's edges: check_server against a real loopback server, a reply built around the
message that spoke to her, excluded users, the typing indicator, on_finished, the length and
stop sequences a request carries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from runtime.pool import ContextLine, budget_for, check_server
from tests.kit.fakeserver import Reply, open_fake_server, refused_url
from tests.kit.pool_harness import Recorder, request, running_pool

pytestmark = pytest.mark.anyio


# -- check_server -------------------------------------------------------------------------

async def test_check_server_is_quiet_when_the_model_is_served() -> None:
    """A server that lists the model: no problem."""
    async with open_fake_server() as server:
        server.models = [{"id": "smollm2", "owned_by": "me"}]
        assert await check_server(server.base_url, "smollm2") is None
        assert [r.path for r in server.requests] == ["/v1/models"]


async def test_check_server_says_a_missing_v1_is_the_likely_mistake() -> None:
    """Without /v1 the server answers 404 on /models (llama.cpp, Ollama, vLLM do): the line
    says so and asks about /v1."""
    async with open_fake_server() as server:
        server.models = [{"id": "smollm2", "owned_by": "me"}]
        root = server.base_url.removesuffix("/v1")
        problem = await check_server(root, "smollm2")
        assert problem == f"no OpenAI API at {root} (404 on /models): did you forget /v1?"
        server.models = None
        problem = await check_server(server.base_url, "smollm2")
        assert problem == f"no OpenAI API at {server.base_url} (404 on /models)"


async def test_check_server_says_the_server_is_down() -> None:
    """Nothing listening: "server down: connection refused"."""
    url = await refused_url()
    assert await check_server(url, "x") == f"server down: connection refused at {url}"


async def test_check_server_names_what_is_served_instead() -> None:
    """A model name the server does not serve: the line lists what it serves."""
    async with open_fake_server() as server:
        server.models = [{"id": "qwen2.5", "owned_by": "o"}, {"id": "llama3:latest",
                                                              "owned_by": "o"}]
        assert await check_server(server.base_url, "smollm2") == (
            "model 'smollm2' is not served; it serves: llama3:latest, qwen2.5")
        # Ollama answers to a name without its ":latest" tag.
        assert await check_server(server.base_url, "llama3") is None


async def test_check_server_knows_llama_server_takes_any_name() -> None:
    """llama.cpp's llama-server serves its one model whatever the request names."""
    async with open_fake_server() as server:
        server.models = [{"id": "/models/x.gguf", "owned_by": "llamacpp"}]
        assert await check_server(server.base_url, "anything") is None


async def test_check_server_says_when_models_is_no_model_list() -> None:
    """A 200 on /models that is not a model list: not an OpenAI API."""
    async with open_fake_server() as server:
        server.files["/v1/models"] = ("application/json", b"{}")
        assert "did not answer a model list" in (await check_server(server.base_url, "m") or "")


# -- a reply answers the one who spoke to her ---------------------------------------------

RIN, LEN, GUMI = 101, 102, 103
#: Rin asks her; two others post after Rin before the reply is written.
CRAFTED = [
    ContextLine("Len", "anyone seen my headphones", author_id=LEN, message_id=498),
    ContextLine("Rin", "Miku, what's your favourite song?", author_id=RIN, message_id=500),
    ContextLine("Len", "found them lol", author_id=LEN, message_id=501),
    ContextLine("Gumi", "brb dinner", author_id=GUMI, message_id=502),
]


@asynccontextmanager
async def _served(recorder: Recorder, **kw: object) -> AsyncIterator[list[dict]]:
    async with open_fake_server() as server, running_pool(server.base_url, recorder,
                                                          **kw) as pool:
        bodies: list[dict] = []
        yield bodies
        del pool
        bodies.extend(r.body for r in server.chat_requests)


async def test_a_reply_answers_the_asker_not_the_last_speaker(recorder: Recorder) -> None:
    """With two others posting after the asker, the prompt ends with the asker's message and
    names the asker: the context is asked for up to that message, and nothing after it."""
    calls: list[int | None] = []

    async def context(guild_id: int, channel_id: int, limit: int, *,
                      upto_message_id: int | None = None) -> list[ContextLine]:
        calls.append(upto_message_id)
        lines = CRAFTED
        if upto_message_id is not None:
            end = next(i for i, line in enumerate(lines) if line.message_id == upto_message_id)
            lines = lines[:end + 1]
        return list(lines)

    async with open_fake_server() as server, running_pool(server.base_url, recorder,
                                                          context=context) as pool:
        reply = request(action="reply", reply_to_message_id=500, target_user_id=RIN)
        join = request(2, "join_conversation")
        pool.submit(reply)
        pool.submit(join)
        await recorder.wait(2)
    bodies = {r.body["messages"][-1]["content"]: r.body for r in server.chat_requests}
    reply_prompt = next(p for p in bodies if "says to you" in p)
    assert reply_prompt.rstrip().endswith("Answer Rin in one casual line.")
    assert 'Rin says to you: "Miku, what\'s your favourite song?"' in reply_prompt
    assert "Gumi" not in reply_prompt and "found them" not in reply_prompt
    assert "\nRin:" in bodies[reply_prompt]["stop"]
    # Only the reply asks for the messages up to one; the join asks as before.
    assert sorted(calls, key=str) == [500, None]


async def test_an_older_context_callable_still_serves_a_reply(recorder: Recorder) -> None:
    """A context callable without ``upto_message_id`` is called as before; the reply still
    finds the message that spoke to her in the window by its id."""
    recorder.context = list(CRAFTED)
    async with open_fake_server() as server, running_pool(server.base_url, recorder) as pool:
        pool.submit(request(action="reply", reply_to_message_id=500))
        await recorder.wait(1)
    (body,) = [r.body for r in server.chat_requests]
    prompt = body["messages"][-1]["content"]
    assert prompt.rstrip().endswith("Answer Rin in one casual line.")
    assert recorder.context_calls == [(1, 10, 20)]
    assert recorder.outcome(recorder.sent[0][0]) == ("sent", "")


async def test_excluded_users_are_left_out_of_every_prompt(recorder: Recorder) -> None:
    """Lines of users ``exclude_user`` names never reach a prompt."""
    recorder.context = list(CRAFTED)
    asked: list[tuple[int, int]] = []

    def exclude(guild_id: int, user_id: int) -> bool:
        asked.append((guild_id, user_id))
        return user_id == LEN

    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, exclude_user=exclude) as pool:
        pool.submit(request(action="join_conversation"))
        await recorder.wait(1)
    prompt = server.chat_requests[0].body["messages"][-1]["content"]
    assert "headphones" not in prompt and "found them" not in prompt
    assert "brb dinner" in prompt and "favourite song" in prompt
    assert (1, LEN) in asked


# -- typing, on_finished ------------------------------------------------------------------

async def test_typing_is_held_while_the_words_are_written(recorder: Recorder) -> None:
    """The typing indicator is entered before the server is asked and left after; one that
    fails never fails the request."""
    events: list[str] = []

    @asynccontextmanager
    async def typing(req: object) -> AsyncIterator[None]:
        events.append("enter")
        try:
            yield
        finally:
            events.append("exit")

    async with open_fake_server() as server, running_pool(server.base_url, recorder,
                                                          typing=typing) as pool:
        server.default = Reply.ok("Hi!", latency=0.05)
        pool.submit(request())
        await server.wait_requests(1)
        assert events == ["enter"]
        await recorder.wait(1)
    assert events == ["enter", "exit"]
    assert recorder.results[0].outcome == "sent"

    def broken(req: object) -> object:
        raise RuntimeError("no channel")

    other = Recorder()
    async with open_fake_server() as server, running_pool(server.base_url, other,
                                                          typing=broken) as pool:
        pool.submit(request())
        await other.wait(1)
    assert other.results[0].outcome == "sent"


async def test_on_finished_is_called_once_per_request(recorder: Recorder) -> None:
    """``on_finished(action, outcome, seconds)`` follows every result, sent or failed."""
    seen: list[tuple[str, str, float]] = []
    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, on_finished=lambda *a: seen.append(a)) as pool:
        server.plan(Reply.ok("Hi!"), Reply.error(400))
        pool.submit(request(1))
        await recorder.wait(1)
        pool.submit(request(2, "general"))
        await recorder.wait(2)
    assert [(a, o) for a, o, _ in seen] == [("break_silence", "sent"), ("general", "failed")]
    assert all(s >= 0 for _, _, s in seen)


# -- length and stop sequences ------------------------------------------------------------

async def test_the_request_carries_the_budgets_token_cap_and_stop_sequences(
        recorder: Recorder) -> None:
    """max_tokens follows the action's and mood's budget (quiet moods get less); stop
    sequences hold her own label and the people shown."""
    recorder.context = list(CRAFTED)
    async with open_fake_server() as server, running_pool(server.base_url, recorder) as pool:
        pool.submit(request(1, "join_conversation", mood="bubbly"))
        pool.submit(request(2, "join_conversation", mood="sleepy"))
        await recorder.wait(2)
    by_mood = {("sleepy" if r.body["max_tokens"] < budget_for("join_conversation", "bubbly")[1]
                else "bubbly"): r.body for r in server.chat_requests}
    assert by_mood["bubbly"]["max_tokens"] == budget_for("join_conversation", "bubbly")[1]
    assert by_mood["sleepy"]["max_tokens"] == budget_for("join_conversation", "sleepy")[1]
    assert budget_for("join_conversation", "sleepy")[0] < budget_for("join_conversation",
                                                                     "bubbly")[0]
    stop = by_mood["bubbly"]["stop"]
    assert stop[0] == "\nMiku" and "\nGumi:" in stop and len(stop) <= 4


async def test_an_answer_cut_at_the_cap_is_sent_trimmed(recorder: Recorder) -> None:
    """finish_reason "length" from the server: she sends the answer up to its last whole
    sentence."""
    async with open_fake_server() as server, running_pool(server.base_url, recorder) as pool:
        server.default = Reply.ok("Ooh, what a day! I joined a band, so now I'm on a team "
                                  "too. I", finish_reason="length")
        pool.submit(request())
        await recorder.wait(1)
    assert [t for _, t in recorder.sent] == ["Ooh, what a day! I joined a band, so now I'm "
                                             "on a team too."]
