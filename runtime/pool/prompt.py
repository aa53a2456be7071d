"""Building the prompt for one request, for models small and large.

What a small model does with a prompt decides what the pool has to clean, so the prompt is
written against its habits:

- The instruction is short and comes last, after the facts; it says what to do, never what
  not to do (a 135M model told "never say you are an AI" talks about being an AI).
- One example exchange in the persona's voice for this action and mood (her offline line,
  from the persona file) shows the shape of an answer: one line, hers, no label.
- A reply ends with the message that spoke to her and names its author: that is who she
  answers, whoever posted after them.
- How the room feels (``ActionRequest.tone``, from reactions, deletions and timeouts; never
  from its words) adds one short sentence to the system message (``TONE_HINTS``).
- The answer's length follows the action and the mood (``budget``): a Discord line, shorter
  in a quiet mood; ``max_tokens`` follows the budget, and stop sequences end the answer where
  a model would start writing the next speaker's line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from actors.events import ActionRequest
from runtime.pool.models import ChatMessage, ContextLine, FeedItem, Prompt
from runtime.pool.persona import Persona, fill

__all__ = ["BUDGETS", "CHARS_PER_TOKEN", "FAMILIARITY_HINTS", "QUIET_MOODS", "TONE_HINTS",
           "budget_for", "build_prompt"]

#: The hint each room tone adds to the system message (engine.tone's labels).
TONE_HINTS: dict[str, str] = {
    "sad": "The room feels sad right now: be gentle and warm, no jokes.",
    "tense": "The room feels tense right now: stay calm and kind, no teasing.",
    "cheerful": "The room feels cheerful right now.",
}

#: The instruction and the offline lines for engaging a member who just joined (an
#: ``engage_user`` with no activity): the persona's ``engage_user`` speaks of an activity.
WELCOME_TEMPLATE = """{user} just joined the server.

Welcome {user} in one casual line."""
WELCOME_LINES = ("Welcome, {user}! Make yourself at home~",
                 "Oh, hi {user}! Welcome in, I'm glad you're here!")
#: The one-line hint an engage gets about how well she knows the person (the request's
#: ``familiarity``: a label from ids and times, never a quote of anything they said). A
#: newcomer's welcome needs no "new" hint: joining says it.
FAMILIARITY_HINTS = {
    "familiar": "You know {user}: they often chat with you.",
    "new": "You have not talked with {user} before.",
}
#: The offline backend's warmer lines for someone familiar (an activity, a welcome back).
FAMILIAR_LINES = ("Hey {user}, good to see you again! {activity}, nice~",
                  "{user}! Always happy when you're around. Have fun with {activity}!")
FAMILIAR_WELCOME_LINES = ("Welcome back, {user}! Missed you~",)

#: Characters per action: a reply or a join is a Discord line; a share is a line plus its
#: link (the link not counted).
BUDGETS: dict[str, int] = {
    "reply": 200,
    "join_conversation": 200,
    "fomo_response": 200,
    "engage_user": 200,
    "break_silence": 220,
    "general": 220,
    "share_tweet": 200,
}
#: Moods that speak less: their budget is ``QUIET_SHARE`` of the action's.
QUIET_MOODS = frozenset({"shy", "sleepy", "melancholy", "asleep"})
QUIET_SHARE = 0.6
#: Characters a token holds, on the low side for chat English with emoji (~4 is typical), so
#: the cap lets a sentence that runs a little over the budget finish, and the cleaning cuts it
#: back to the sentences that fit.
CHARS_PER_TOKEN = 3.0
#: At most this many stop sequences (OpenAI's own API takes four).
MAX_STOPS = 4

# The facts of the example exchange: not the request's, so the model sees the shape of an
# answer without a line to copy into this conversation.
_EXAMPLE = {
    "author": "Kaito",
    "conversation": "Kaito: finally beat the boss I was stuck on all week!!",
    "message": "what do you do when you're stuck on something?",
    "user": "Kaito",
    "activity": "Minecraft",
    "item_title": "A rhythm game where you play with leeks",
    "item_url": "",
}


def budget_for(action: str, mood: str) -> tuple[int, int]:
    """(characters, max_tokens) for an answer to ``action`` in ``mood``."""
    chars = BUDGETS.get(action, 200)
    if mood in QUIET_MOODS:
        chars = int(chars * QUIET_SHARE)
    return chars, math.ceil(chars / CHARS_PER_TOKEN)


def _conversation(lines: Sequence[ContextLine], name: str) -> str:
    out = []
    for line in lines:
        who = name if line.is_self else line.author
        out.append(f"{who}: {' '.join(line.text.split())}")
    return "\n".join(out) if out else "(nothing yet)"


def _target(request: ActionRequest, lines: Sequence[ContextLine]
            ) -> tuple[list[ContextLine], ContextLine | None]:
    """The conversation before the message she answers, and that message (a reply), or the
    conversation and its last line by someone else."""
    wanted = request.reply_to_message_id if request.action == "reply" else None
    if wanted:
        for i in range(len(lines) - 1, -1, -1):
            if lines[i].message_id == wanted and not lines[i].is_self:
                return list(lines[:i]), lines[i]
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i].is_self:
            if request.action == "reply":
                return list(lines[:i]), lines[i]
            return list(lines), lines[i]
    return list(lines), None


def _instruction(text: str) -> str:
    """The last paragraph of a filled template: what it asks for."""
    return text.strip().rsplit("\n\n", 1)[-1]


def _stops(name: str, lines: Sequence[ContextLine], author: str | None) -> tuple[str, ...]:
    stops = [f"\n{name}"]
    recent = [author] if author else []
    recent += [line.author for line in reversed(lines) if not line.is_self]
    for who in recent:
        stop = f"\n{who}:"
        if who and who != name and stop not in stops and len(stops) < MAX_STOPS:
            stops.append(stop)
    return tuple(stops)


def _familiarity_hint(request: ActionRequest, values: dict[str, str], welcome: bool) -> str:
    """The engage's one-line hint of how well she knows the person, or ""."""
    if request.action != "engage_user" or request.familiarity is None:
        return ""
    if welcome and request.familiarity == "new":
        return ""
    template = FAMILIARITY_HINTS.get(request.familiarity)
    return fill(template, values) if template else ""


def build_prompt(persona: Persona, request: ActionRequest, *,
                 context: Sequence[ContextLine] = (), user: str | None = None,
                 item: FeedItem | None = None) -> Prompt:
    """Build the chat messages, the length and the cleaning facts for one request.

    Each action gets only its own facts: the conversation for join / FOMO / reply (a reply:
    the conversation up to the message with id ``request.reply_to_message_id``, which it
    ends with), the user and activity for engage, the item for share, the mood alone for the
    rest.

    Raises:
        KeyError: the action has no template (the pool refuses such requests at submit).
    """
    action = request.action
    template = persona.actions[action]
    mood = request.mood if request.mood in persona.moods else "neutral"
    # engage_user for someone who just joined (no activity) is a welcome, not "started
    # something".
    welcome = action == "engage_user" and not request.target_activity
    if welcome:
        template = WELCOME_TEMPLATE
    before, target = _target(request, context)
    author = target.author if target is not None else None
    if action != "reply":
        before = list(context)
    values = {
        "name": persona.name,
        "mood": mood,
        "mood_description": persona.moods[mood],
        "conversation": _conversation(before, persona.name),
        "author": author or "everyone",
        "message": " ".join(target.text.split()) if target is not None else "",
        "user": user or "a friend",
        "activity": request.target_activity or "something",
        "item_title": item.title if item else "",
        "item_url": item.url if item else "",
    }
    system = f"{persona.system}\n\n{persona.moods[mood]}"
    tone_hint = TONE_HINTS.get(request.tone or "")
    if tone_hint:
        system = f"{system}\n{tone_hint}"
    instruction = fill(template, values)
    known_hint = _familiarity_hint(request, values, welcome)
    if known_hint:
        instruction = f"{known_hint}\n\n{instruction}"
    example_values = {**values, **_EXAMPLE}
    example_ask = fill(template, example_values)
    example_line = fill(WELCOME_LINES[0] if welcome else persona.lines[mood][action][0],
                        example_values).strip()
    messages = (ChatMessage("system", system),
                ChatMessage("user", example_ask), ChatMessage("assistant", example_line),
                ChatMessage("user", instruction))
    # The prompt's own words, for the echo rule: the instruction (the template's last
    # paragraph), not the facts before it, which she may well restate.
    bare = _instruction(fill(template, {**values, "conversation": "", "message": ""}))
    chars, max_tokens = budget_for(action, mood)
    others = {line.author for line in context if not line.is_self and line.author}
    if user:
        others.add(user)
    links = (*persona.links, *((item.url,) if item and item.url else ()))
    return Prompt(guild_id=request.guild_id, request_id=request.request_id,
                  action=action, mood=mood, messages=messages, decided_at=request.decided_at,
                  user=user,
                  familiarity=request.familiarity if action == "engage_user" else None,
                  activity=request.target_activity, item=item, author=author,
                  budget=chars, max_tokens=max_tokens,
                  stop=_stops(persona.name, before, author),
                  others=tuple(sorted(others - set(persona.aliases))),
                  echoes=(persona.system, persona.moods[mood], bare,
                          _instruction(example_ask),
                          *((known_hint,) if known_hint else ())),
                  links=links, tone=request.tone if tone_hint else None)


