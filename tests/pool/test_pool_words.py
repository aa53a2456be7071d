"""The persona's words: output cleaning, the persona files and their overrides, prompts, and
the offline backend."""

from __future__ import annotations

import time
import types
from pathlib import Path

import pytest

import runtime.pool
from actors.events import ActionRequest
from engine import MOOD_NAMES
from runtime.pool import (
    ACTIONS,
    DISCORD_LIMIT,
    ContextLine,
    FeedItem,
    OfflineBackend,
    PersonaError,
    Prompt,
    build_prompt,
    clean_output,
    load_persona,
)


def _request(action: str, mood: str = "neutral", request_id: int = 1, guild_id: int = 5,
             **kw: object) -> ActionRequest:
    now = time.time()
    return ActionRequest(request_id=request_id, guild_id=guild_id, channel_id=50,
                         action=action, mood=mood, decided_at=now, deadline=now + 60,
                         **kw)  # type: ignore[arg-type]


def test_all_is_honest() -> None:
    """runtime.pool.__all__ names exactly the public names the package exports."""
    public = {name for name, value in vars(runtime.pool).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert set(runtime.pool.__all__) == public
    assert len(runtime.pool.__all__) == len(public)


# -- cleaning -----------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "Miku: hello there",
    "miku:hello there",
    "**Miku**: hello there",
    "**Miku:** hello there",
    "Hatsune Miku - hello there",
    "Hatsune Miku: Miku: hello there",
    "[Miku]: hello there",
    '"hello there"',
    "<think>they want a greeting</think>\nMiku: hello there",
])
def test_speaker_prefixes_and_wrappers_are_removed(raw: str) -> None:
    """A speaker prefix naming her, quotes around the answer and reasoning blocks go."""
    assert clean_output(raw) == "hello there"


@pytest.mark.parametrize("raw", ["Miku-chan is here!", "Mikudayo~", "I love Miku: she sings"])
def test_her_name_inside_the_text_stays(raw: str) -> None:
    """Only a speaker label is stripped, not her name used in a sentence."""
    assert clean_output(raw) == raw


@pytest.mark.parametrize(("raw", "clean"), [
    ("hi <@123> and <@!456>!", "hi and!"),
    ("ping <@&789> role", "ping role"),
    ("hey @everyone and @here", "hey @\u200beveryone and @\u200bhere"),
    ("@EVERYONE look", "@\u200bEVERYONE look"),
])
def test_pings_are_neutralised(raw: str, clean: str) -> None:
    """User and role pings are dropped; @everyone / @here are broken so they ping no one."""
    assert clean_output(raw) == clean


def test_long_output_keeps_the_whole_sentences_that_fit() -> None:
    """More than the limit keeps the whole sentences that fit (never past Discord's 2,000
    characters); a first sentence longer than the limit leaves nothing."""
    text = " ".join(["La la melody."] * 300)
    out = clean_output(text)
    assert len(out) <= DISCORD_LIMIT and out.endswith("melody.")
    assert len(out) > DISCORD_LIMIT - len("La la melody. ")
    assert clean_output("a" * 5000) == ""
    assert clean_output("Short one. " + "b" * 300 + ".", limit=200) == "Short one."


@pytest.mark.parametrize("raw", ["", "   ", "Miku:", "**Miku**: <@1>", "<think>hmm</think>"])
def test_nothing_left_is_empty(raw: str) -> None:
    """An answer with nothing left after cleaning is empty (the pool fails it)."""
    assert clean_output(raw) == ""


# -- persona files ------------------------------------------------------------------------

def test_shipped_persona_is_complete() -> None:
    """The shipped persona has a description for each of the 14 moods, a template for every
    action, and offline lines for every mood × action."""
    persona = load_persona()
    assert persona.name == "Miku"
    assert set(persona.moods) == set(MOOD_NAMES) and len(MOOD_NAMES) == 14
    assert set(persona.actions) == set(ACTIONS)
    for mood in MOOD_NAMES:
        assert set(persona.lines[mood]) == set(ACTIONS)
    assert "Hatsune Miku" in persona.system


def test_override_directory_changes_only_what_it_sets(tmp_path: Path) -> None:
    """A directory override replaces the keys it sets; the rest keep the defaults."""
    (tmp_path / "persona.toml").write_text(
        'name = "Teto"\naliases = ["Kasane Teto", "Teto"]\n'
        '[moods]\nshy = "Very shy."\n'
        '[actions]\nbreak_silence = "Say something, {name}."\n')
    (tmp_path / "system.txt").write_text("You are Kasane Teto.")
    persona = load_persona(tmp_path)
    default = load_persona()
    assert persona.name == "Teto" and persona.system == "You are Kasane Teto."
    assert persona.moods["shy"] == "Very shy."
    assert persona.moods["bubbly"] == default.moods["bubbly"]
    assert persona.actions["break_silence"] == "Say something, {name}."
    assert persona.actions["reply"] == default.actions["reply"]
    assert clean_output("Kasane Teto: hi", names=persona.aliases) == "hi"


def test_override_single_files(tmp_path: Path) -> None:
    """A single .toml (with system and offline lines) or a .txt system prompt also works."""
    toml = tmp_path / "mine.toml"
    toml.write_text('system = "Be brief."\n[lines.shy]\nreply = "um... {author}?"\n')
    persona = load_persona(toml)
    assert persona.system == "Be brief."
    assert persona.lines["shy"]["reply"] == ("um... {author}?",)
    txt = tmp_path / "system.txt"
    txt.write_text("Just the prompt.")
    assert load_persona(txt).system == "Just the prompt."


@pytest.mark.parametrize(("content", "key", "detail"), [
    ('[actions]\nreply = "Answer {usr}"', "actions.reply", "unknown placeholder {usr}"),
    ('[actions]\nreply = "Answer {author"', "actions.reply", "bad template"),
    ('[actions]\ndance = "x"', "actions.dance", "unknown action"),
    ('[moods]\ngrumpy = "x"', "moods.grumpy", "unknown mood"),
    ('[moods]\nshy = ""', "moods.shy", "non-empty string"),
    ('[lines.shy]\nreply = []', "lines.shy.reply", "non-empty list"),
    ('[lines.shy]\nreply = ["hi {item}"]', "lines.shy.reply[0]", "unknown placeholder"),
    ('colour = "teal"', "colour", "unknown key"),
    ("[actions\n", "", "not valid TOML"),
])
def test_bad_override_names_the_file_and_key(tmp_path: Path, content: str, key: str,
                                             detail: str) -> None:
    """A bad override raises PersonaError naming the file and the key."""
    path = tmp_path / "persona.toml"
    path.write_text(content)
    with pytest.raises(PersonaError, match="persona file") as info:
        load_persona(path)
    assert info.value.path == str(path)
    assert info.value.key == key
    assert detail in str(info.value)
    assert str(path) in str(info.value)


def test_missing_override_is_an_error(tmp_path: Path) -> None:
    """A missing path or an empty directory is a clear error, not the defaults."""
    with pytest.raises(PersonaError, match="no such file"):
        load_persona(tmp_path / "nope")
    with pytest.raises(PersonaError, match="holds none of"):
        load_persona(tmp_path)


# -- prompts ------------------------------------------------------------------------------

def test_prompts_carry_only_their_actions_facts() -> None:
    """Join gets the conversation; engage the user and activity; break_silence only the
    mood; share the item. The mood's description is in the system message."""
    persona = load_persona()
    lines = [ContextLine("Rin", "karaoke?"), ContextLine("Miku", "yes!", is_self=True)]
    join = build_prompt(persona, _request("join_conversation", "shy"), context=lines)
    assert "Rin: karaoke?" in join.messages[-1].content
    assert "Miku: yes!" in join.messages[-1].content
    assert join.author == "Rin"
    assert persona.moods["shy"] in join.messages[0].content
    engage = build_prompt(persona, _request("engage_user", target_user_id=3,
                                            target_activity="Osu!"), user="Kaito")
    assert "Kaito" in engage.messages[-1].content and "Osu!" in engage.messages[-1].content
    silence = build_prompt(persona, _request("break_silence", "melancholy"))
    assert persona.moods["melancholy"] in silence.messages[0].content
    assert "karaoke" not in silence.messages[-1].content
    item = FeedItem("x", "Magical Mirai tickets", "https://example.com/mm")
    share = build_prompt(persona, _request("share_tweet"), item=item)
    assert "Magical Mirai tickets" in share.messages[-1].content
    assert share.links == ("https://example.com/mm",)


def test_someone_who_just_joined_is_welcomed_not_asked_about_something() -> None:
    """engage_user without an activity is a member who just joined: the prompt asks for a
    welcome (its example too), and the offline line welcomes them, in every mood; never
    "just started something" or "playing that"."""
    persona = load_persona()
    prompt = build_prompt(persona, _request("engage_user", target_user_id=3), user="Kaito")
    ask = prompt.messages[-1].content
    assert "Kaito just joined the server" in ask and "something" not in ask
    assert "Welcome" in prompt.messages[2].content  # the example answer
    for mood in MOOD_NAMES:
        p = build_prompt(persona, _request("engage_user", mood, target_user_id=3), user="Kaito")
        for seed in range(4):
            line = OfflineBackend(seed=seed).line(p)
            assert "Kaito" in line and "elcome" in line and "that" not in line, (mood, line)


# -- the offline backend ------------------------------------------------------------------

def _prompt(action: str, mood: str, request_id: int = 1) -> Prompt:
    item = FeedItem("i", "Leek festival", "https://example.com/leek")
    lines = [ContextLine("Rin", "hello")]
    persona = load_persona()
    return build_prompt(persona, _request(action, mood, request_id, target_user_id=4,
                                          target_activity="Minecraft"),
                        context=lines if action in {"join_conversation", "fomo_response",
                                                    "reply"} else (),
                        user="Len", item=item if action == "share_tweet" else None)


@pytest.mark.parametrize("mood", MOOD_NAMES)
def test_offline_backend_has_a_line_for_every_action(mood: str) -> None:
    """For every mood × action the offline backend gives a clean, filled, non-empty line."""
    backend = OfflineBackend(seed=7)
    for action in ACTIONS:
        line = backend.line(_prompt(action, mood))
        links = ("https://example.com/leek",)
        assert clean_output(line, links=links) == line.strip() and line.strip(), (mood, action)
        assert "{" not in line, (mood, action, line)
        if action == "share_tweet":
            assert "https://example.com/leek" in line
        if action == "engage_user":
            assert "Len" in line or "Minecraft" in line


def test_offline_backend_is_deterministic_by_seed() -> None:
    """The same seed gives the same line per request; other seeds give other choices."""
    prompts = [_prompt(a, m, i) for i, (a, m) in enumerate(
        (a, m) for a in ACTIONS for m in MOOD_NAMES)]
    first = [OfflineBackend(seed=1).line(p) for p in prompts]
    again = [OfflineBackend(seed=1).line(p) for p in reversed(prompts)][::-1]
    other = [OfflineBackend(seed=2).line(p) for p in prompts]
    assert first == again
    assert first != other


def test_offline_backend_checks_latency() -> None:
    """A latency range must be ordered and non-negative."""
    with pytest.raises(ValueError, match="latency"):
        OfflineBackend(latency=(2.0, 1.0))


def test_an_answer_going_on_with_the_transcript_keeps_only_her_own_words() -> None:
    """A small model continuing the transcript it was shown: other speakers' lines are cut
    off, and an answer that opens as someone else is dropped whole (an empty output)."""
    shown = ("Rin", "Kaito Shion")
    assert clean_output("Ehh? Tell me more!\nRin: I went yesterday\nMiku (you): cool",
                        others=shown) == "Ehh? Tell me more!"
    assert clean_output("Miku: so fun~\n**Kaito Shion**: yes", others=shown) == "so fun~"
    assert clean_output("Rin: I went yesterday", others=shown) == ""
    assert clean_output("Rin: I went\nMiku (you): Ehh, really?\nRin: yes",
                        others=shown) == "Ehh, really?"  # her own line in it is kept
    assert clean_output("**Kaito Shion:** hello", others=shown) == ""
    # Her own lines that merely contain a colon, or a list after one, stay whole.
    listed = "Here is my list:\n- leeks\n- songs"
    assert clean_output(listed) == listed
    assert clean_output("Rin's song: so good!", others=shown) == "Rin's song: so good!"


def test_the_rooms_tone_is_a_short_hint_in_the_system_message() -> None:
    """A sad or tense room (``ActionRequest.tone``) adds one sentence to the system message
    and nothing else: no message text; no tone, no hint. The offline backend speaks a sad
    room's reply in melancholy's lines and a tense one's in serious's."""
    persona = load_persona()
    plain = build_prompt(persona, _request("reply", "bubbly"))
    for tone, voice in (("sad", "melancholy"), ("tense", "serious")):
        p = build_prompt(persona, _request("reply", "bubbly", tone=tone))
        assert p.tone == tone and p.messages[1:] == plain.messages[1:]
        assert p.messages[0].content.startswith(plain.messages[0].content)
        hint = p.messages[0].content[len(plain.messages[0].content):]
        assert tone in hint and len(hint) < 90
        lines = {OfflineBackend(seed=s).line(p) for s in range(20)}
        allowed = {t.replace("{author}", "everyone") for t in persona.lines[voice]["reply"]}
        assert lines <= allowed, lines - allowed
    assert plain.tone is None
    assert build_prompt(persona, _request("reply", tone="cheerful")).tone == "cheerful"
