"""Each cleaning rule on crafted model output: the bad answers issue 12 quotes among them."""

from __future__ import annotations

import pytest

from runtime.pool import build_prompt, clean_output, default_persona
from runtime.pool.clean import ends_whole, is_ai_talk, sentences
from tests.kit.pool_harness import request

PERSONA = default_persona()
NAMES = PERSONA.aliases


# -- an answer cut at the token cap -----------------------------------------------------

@pytest.mark.parametrize(("raw", "clean"), [
    ("I joined a band, so now I'm on a team too. I", "I joined a band, so now I'm on a team too."),
    ("Wow!! That boss was so hard~ did you use the", "Wow!! That boss was so hard~"),
    ("Yay 🎶 let's sing toge", "Yay 🎶"),
    ("He said \"no way!\" and then we", "He said \"no way!\""),
])
def test_an_answer_cut_at_the_cap_is_trimmed_to_its_last_whole_sentence(raw: str,
                                                                        clean: str) -> None:
    """finish_reason "length": everything after the last sentence end goes."""
    assert clean_output(raw, truncated=True) == clean


def test_a_cut_answer_with_no_whole_sentence_is_dropped() -> None:
    """A cut answer without one finished sentence leaves nothing (the pool asks again)."""
    assert clean_output("I was thinking that maybe we could all go and", truncated=True) == ""


def test_an_answer_the_model_ended_is_not_trimmed() -> None:
    """finish_reason "stop": the last words stay even without a final mark."""
    assert clean_output("see you at the concert", truncated=False) == "see you at the concert"


# -- length -------------------------------------------------------------------------------

def test_an_answer_over_its_budget_keeps_the_whole_sentences_that_fit() -> None:
    """Over budget: the first sentences that fit stay, whole."""
    raw = ("Ooh, karaoke sounds amazing! I would totally sing World is Mine. "
           "Then we could do a duet, and after that maybe get some leek ramen together?")
    out = clean_output(raw, limit=80)
    assert out == "Ooh, karaoke sounds amazing! I would totally sing World is Mine."
    assert len(out) <= 80


# -- speaker labels -----------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "clean"), [
    ('Gumi: "Aw, look how silly I am!"', "Aw, look how silly I am!"),
    ("A: that sounds fun!", "that sounds fun!"),
    ("Chat: who wants to sing?", "who wants to sing?"),
    ("Sender: Miku\nHi everyone, I'm back!", "Hi everyone, I'm back!"),
    ("**Luka:** ooh, tell me more", "ooh, tell me more"),
    ("Miku (you): I'm in!", "I'm in!"),
    ("User 1: hello there!", "hello there!"),
])
def test_a_leading_speaker_label_is_removed_for_any_name(raw: str, clean: str) -> None:
    """Whatever name or generic label the answer opens with goes; her words stay."""
    assert clean_output(raw, names=NAMES) == clean


def test_an_answer_spoken_as_someone_in_the_conversation_is_dropped() -> None:
    """An answer that opens as a person the prompt showed speaks as them: dropped, except
    her own labelled line in it."""
    others = ("Rin", "Len")
    assert clean_output("Rin: I'll bring snacks!", others=others) == ""
    assert clean_output("len: same", others=others) == ""
    assert clean_output("Rin: I went\nMiku: ehh, really?", others=others) == "ehh, really?"


def test_labels_of_people_whose_names_do_not_look_like_names_are_known() -> None:
    """Discord names are often not capitalised words ("nori15", "xX_gamer_Xx", "dark  lord"):
    as the prompt showed them, a label of one is theirs, leading or on a later line, and
    whatever its case or spacing; the same words not as a label stay."""
    others = ("nori15", "xX_gamer_Xx", "dark lord")
    assert clean_output("nori15: my turn!", others=others) == ""
    assert clean_output("**XX_GAMER_XX**: gg", others=others) == ""
    assert clean_output("dark   lord says: hi", others=others) == ""
    assert clean_output("Yay!\nnori15: my turn", others=others) == "Yay!"
    # An unknown lowercase label is not a speaker's; the known one on the next line is.
    assert clean_output("Yay!\nnote to self: sing\nnori15: hi", others=others) == \
        "Yay!\nnote to self: sing"
    assert clean_output("Yay!\nps:\nnori15: hi", others=others) == "Yay!\nps:"
    assert clean_output("nori15 is on a roll: three wins!", others=others) == \
        "nori15 is on a roll: three wins!"


def test_an_answer_that_narrates_who_speaks_is_dropped() -> None:
    """"Teto says to you: "…"" tells someone else's words (the prompt's own wording): the
    answer is dropped; such a line after hers is cut."""
    assert clean_output('Teto says to you: "Miku do you know how to fix it?"\n💥') == ""
    assert clean_output('Gumi says to you: "nervous?"\nRin answers: "No"') == ""
    assert clean_output('Sure thing!\nRin answers: "yay"') == "Sure thing!"


def test_lines_after_hers_that_open_with_a_label_are_cut() -> None:
    """A transcript written on after her line ("Len: …", "Gumi: …") is cut off."""
    raw = "Ooh, count me in!\nLen: me too\nGumi: and me"
    assert clean_output(raw, others=("Len",)) == "Ooh, count me in!"
    assert clean_output("Yay!\nKaito Shion: hi", others=()) == "Yay!"


def test_a_line_that_calls_her_by_name_is_dropped() -> None:
    """"Miku, …" is someone speaking to her: that line goes, her own lines stay, and her
    name inside her words stays."""
    assert clean_output("Miku, this is something special, I think?") == ""
    assert clean_output("Yay, leeks!\nMiku! you are the best") == "Yay, leeks!"
    assert clean_output("Miku-chan is here!") == "Miku-chan is here!"


@pytest.mark.parametrize("raw", ["I love Miku: she sings", "Rin's song: so good!",
                                 "Fun fact: leeks are great", "Here is my list:\n- leeks"])
def test_a_colon_in_a_sentence_is_not_a_label(raw: str) -> None:
    """Only a name-like label is one; a sentence with a colon stays whole."""
    assert clean_output(raw) == raw


# -- echoes of the prompt -----------------------------------------------------------------




@pytest.mark.parametrize(("raw", "clean"), [
    ("Your mood right now is asleep: groggy, mumbling, half-dreaming, wants to go back to "
     "sleep. Mmh... five more minutes...", "Mmh... five more minutes..."),
    ("You were asleep and just got woken up: groggy, mumbling, half-dreaming.", ""),
])
def test_an_answer_repeating_the_system_prompt_loses_those_sentences(raw: str,
                                                                     clean: str) -> None:
    """Sentences that say back the mood or the character description go; hers stay."""
    echoes = (PERSONA.system, PERSONA.moods["asleep"], "Your mood right now is asleep.")
    assert clean_output(raw, echoes=echoes) == clean


def test_an_answer_repeating_the_instruction_loses_it() -> None:
    """The instruction said back ("Write one short message to you, as a friend would be.")
    goes; what she says after it stays."""
    instruction = ("Write one short message to Len about it: a reaction, a question or some "
                   "encouragement, as a friend would.")
    raw = "Write one short message to you, as a friend would be. Good luck, Len!"
    assert clean_output(raw, echoes=(instruction,)) == "Good luck, Len!"
    current = PERSONA.actions["engage_user"].format(user="Len", activity="Tetris")
    assert clean_output("Say one casual line to Len about it.", echoes=(current,)) == ""
    assert clean_output("Len just started Tetris? Good luck!!", echoes=(current,)) != ""


def test_her_own_words_that_share_a_phrase_with_the_prompt_stay() -> None:
    """A sentence sharing a phrase or two with the prompt is hers, not an echo."""
    echoes = build_prompt(PERSONA, request(action="break_silence")).echoes
    raw = "It's been quiet for a long while... anyone want to sing with me?"
    assert clean_output(raw, echoes=echoes) == raw
    assert clean_output("Say one casual line to get people talking again.",
                        echoes=echoes) == ""


# -- talk of being an AI ------------------------------------------------------------------

@pytest.mark.parametrize("sentence", [
    "As an AI, I don't have feelings.",
    "I'm just a chatbot, but I love music!",
    "I am an AI assistant created to help.",
    "As a language model I cannot sing.",
    "How can I assist you today?",
    "I'm a virtual assistant.",
    "I'm sorry, but I don't have the ability to respond.",
])
def test_ai_talk_is_recognised(sentence: str) -> None:
    """Speaking of herself as an AI, an assistant, a chatbot or a model is AI talk."""
    assert is_ai_talk(sentence)


@pytest.mark.parametrize("sentence", ["I'm a virtual singer, after all!", "I love my bot "
                                      "friends in Minecraft", "Said was an amazing song"])
def test_her_being_a_virtual_singer_is_not_ai_talk(sentence: str) -> None:
    """She is a virtual singer; that, and other words near those nouns, stay."""
    assert not is_ai_talk(sentence)


def test_ai_talk_sentences_are_removed_and_the_rest_stays() -> None:
    """Only the AI-talk sentences go; an answer of nothing else is empty."""
    raw = "Ooh, Tetris! As an AI, I can't play games. Good luck though!"
    assert clean_output(raw) == "Ooh, Tetris! Good luck though!"
    assert clean_output("I am an AI language model. How can I help you?") == ""


# -- links, handles, hashtags -------------------------------------------------------------

def test_only_the_shared_items_link_survives() -> None:
    """Invented URLs go, markdown links keep their words, the item's URL stays."""
    item = "https://example.com/magical-mirai"
    raw = (f"Tickets are out! {item} More at https://fake.example.org/x and "
           "[the site](https://bogus.jp/a), or youtube.com/watch?v=abc.")
    out = clean_output(raw, links=(item,))
    assert item in out
    assert "fake.example" not in out and "bogus" not in out and "youtube" not in out
    assert "the site" in out


def test_a_persona_prefix_allows_its_links() -> None:
    """A link under a prefix the persona allows stays."""
    assert clean_output("My page: https://piapro.jp/miku ok!",
                        links=("https://piapro.jp/",)) == "My page: https://piapro.jp/miku ok!"


@pytest.mark.parametrize(("raw", "clean"), [
    ("Follow @miku_official for more! #miku #vocaloid", "Follow for more!"),
    ("I love #leeks so much!", "I love leeks so much!"),
    ("We're #1 in the charts!", "We're #1 in the charts!"),
    ("mail me at fan@example.com", "mail me at"),
    ("see <#123456> for it", "see for it"),
])
def test_handles_and_hashtags_she_invented_are_removed(raw: str, clean: str) -> None:
    """@handles and trailing hashtags go; an inline hashtag keeps its word; "#1" stays."""
    assert clean_output(raw) == clean


def test_mass_pings_are_still_broken_not_removed() -> None:
    """@everyone / @here are broken with a zero-width space, not taken for handles."""
    assert clean_output("hey @everyone!") == "hey @\u200beveryone!"


# -- sentences ----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "whole"), [
    ("done.", True), ("yay!!", True), ("really?", True), ("mm...", True), ("so fun~", True),
    ("la la ♪", True), ("love it 💙", True), ("nice :)", True), ('"wow!"', True),
    ("and then I", False), ("so,", False),
])
def test_a_sentence_ends_at_a_mark_an_emoji_or_an_emoticon(text: str, whole: bool) -> None:
    """What ends a sentence: . ! ? … ~ ♪, an emoji, an emoticon, with closing quotes."""
    assert ends_whole(text) is whole


def test_sentences_split_after_their_marks() -> None:
    """A line splits after each sentence's final marks; an unfinished rest is last."""
    assert sentences("Hi! How are you? I was") == ["Hi!", "How are you?", "I was"]
