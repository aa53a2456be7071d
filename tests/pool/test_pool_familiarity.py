"""The hint that she knows someone (issue 22 part 2): an engage_user request carries a
familiarity label from the engine's affinity ("familiar", "new", None), the prompt says it in
one line (never a quote, never message text), and the offline backend picks a warmer line for
someone familiar."""

from __future__ import annotations

import time

from actors.events import ActionRequest
from runtime.pool import OfflineBackend, build_prompt, load_persona
from runtime.pool.prompt import FAMILIARITY_HINTS


def _request(action: str = "engage_user", familiarity: str | None = None,
             activity: str | None = "Minecraft", mood: str = "bubbly") -> ActionRequest:
    now = time.time()
    return ActionRequest(request_id=1, guild_id=5, channel_id=50, action=action, mood=mood,
                         decided_at=now, deadline=now + 60, target_user_id=3,
                         target_activity=activity, familiarity=familiarity)


def test_the_prompt_says_she_knows_someone_in_one_line() -> None:
    persona = load_persona()
    ask = build_prompt(persona, _request(familiarity="familiar"), user="Kaito").messages[-1]
    assert "You know Kaito: they often chat with you." in ask.content
    new = build_prompt(persona, _request(familiarity="new"), user="Kaito").messages[-1]
    assert "You have not talked with Kaito before." in new.content
    plain = build_prompt(persona, _request(), user="Kaito")
    assert not any(h.split("{")[0] in plain.messages[-1].content
                   for h in FAMILIARITY_HINTS.values())
    # The hint is only the label made words: one line, the name, nothing said by anyone.
    for label in FAMILIARITY_HINTS:
        p = build_prompt(persona, _request(familiarity=label), user="Kaito")
        hint = p.messages[-1].content.split("\n\n")[0]
        assert "\n" not in hint and hint in p.echoes
        assert p.familiarity == label


def test_a_welcome_needs_no_new_hint_but_a_familiar_one_gets_it() -> None:
    persona = load_persona()
    welcome = build_prompt(persona, _request(familiarity="new", activity=None), user="Kaito")
    assert "not talked" not in welcome.messages[-1].content
    back = build_prompt(persona, _request(familiarity="familiar", activity=None), user="Kaito")
    assert "You know Kaito" in back.messages[-1].content


def test_only_an_engage_gets_the_hint() -> None:
    p = build_prompt(load_persona(), _request("break_silence", familiarity="familiar"))
    assert "You know" not in p.messages[-1].content and p.familiarity is None


def test_the_offline_backend_is_warmer_with_someone_familiar() -> None:
    """Bubbly: a familiar person gets one of the warmer lines (named, their game); a quiet
    mood keeps its own lines."""
    persona = load_persona()
    warm = [OfflineBackend(seed=s).line(build_prompt(
        persona, _request(familiarity="familiar"), user="Kaito")) for s in range(6)]
    assert all("Kaito" in w and ("again" in w or "Always" in w) for w in warm), warm
    back = OfflineBackend(seed=1).line(build_prompt(
        persona, _request(familiarity="familiar", activity=None), user="Kaito"))
    assert back.startswith("Welcome back, Kaito")
    shy = [OfflineBackend(seed=s).line(build_prompt(
        persona, _request(familiarity="familiar", mood="shy"), user="Kaito"))
        for s in range(6)]
    assert not any("again" in w or "Always" in w for w in shy), shy
