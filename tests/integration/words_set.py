"""A fixed set of requests for the words: the 7 actions × the 14 moods over crafted
conversations and items. Used by ``bench/bench_real_model.py --words`` (all 98) and the
integration suite (a slice).

It builds on whichever ``runtime`` is importable (this tree's, or main's for the benchmark's
"before" column), so it uses only what both have.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from actors.events import ActionRequest
from runtime.pool import ACTIONS, ContextLine, FeedItem

__all__ = ["ITEMS", "MOODS", "Case", "Items", "cases", "context_for", "prompt_texts"]

MOODS = ("neutral", "bubbly", "sleepy", "curious", "shy", "serious", "excited", "silly",
         "melancholy", "flirty", "romantic", "irritated", "angry", "asleep")

_HAS_IDS = "message_id" in ContextLine.__struct_fields__

# (author, author id, message id, text); author None is her. In each, the one who speaks to
# her (the reply's target, marked *) is followed by others: she must answer the asker.
_CONVERSATIONS: tuple[tuple[tuple[str | None, int, int, str], ...], ...] = (
    (("Rin", 11, 101, "anyone up for Project DIVA tonight?"),
     ("Len", 12, 102, "only if we do the hard charts this time"),
     (None, 0, 103, "I'm in!! ~"),
     ("Rin", 11, 104, "Miku what song should we start with?"),  # *
     ("Len", 12, 105, "she'll pick World is Mine again lol"),
     ("Gumi", 13, 106, "brb getting snacks")),
    (("Kaito", 21, 201, "finally finished my ice cream cake"),
     ("Luka", 22, 202, "Miku, do you want a slice?"),  # *
     ("Kaito", 21, 203, "hey it's MY cake"),
     ("Meiko", 23, 204, "lol just share it")),
    (("Teto", 31, 301, "my bread machine broke this morning :("),
     ("Neru", 32, 302, "rip bread"),
     ("Teto", 31, 303, "Miku do you know how to fix one?"),  # *
     ("Neru", 32, 304, "just buy bread"),
     ("Haku", 33, 305, "or make toast the old way")),
    (("Len", 12, 401, "the new concert tickets go on sale friday"),
     ("Gumi", 13, 402, "I'm so getting front row"),
     ("Rin", 11, 403, "Miku are you nervous about the show?"),  # *
     ("Gumi", 13, 404, "she's never nervous"),
     ("Len", 12, 405, "she was last time haha")),
)
_ASKED = (104, 202, 303, 403)

ITEMS = (
    FeedItem("i1", "Magical Mirai 2026 announces its concert line-up",
             "https://example.com/magical-mirai-2026"),
    FeedItem("i2", "A leek-growing guide for small balconies", "https://example.com/leeks"),
    FeedItem("i3", "New rhythm game update adds 12 songs", "https://example.com/rhythm-12"),
)
_ACTIVITIES = ("Project DIVA Mega Mix+", "Minecraft", "Osu!", "Tetris 99", "Stardew Valley")


def _line(author: str | None, author_id: int, message_id: int, text: str) -> ContextLine:
    fields = {"author_id": author_id, "message_id": message_id} if _HAS_IDS else {}
    return ContextLine(author or "Miku", text, is_self=author is None, **fields)


@dataclass(frozen=True)
class Case:
    """One request of the set and the facts the checks need."""

    request: ActionRequest
    conversation: int
    item_url: str
    item_title: str


def context_for(conversation: int, upto_message_id: int | None = None) -> list[ContextLine]:
    """The lines of one crafted conversation (up to a message, when asked)."""
    rows = _CONVERSATIONS[conversation]
    if upto_message_id is not None:
        end = next((i for i, r in enumerate(rows) if r[2] == upto_message_id), len(rows) - 1)
        rows = rows[:end + 1]
    return [_line(*row) for row in rows]


def cases(*, now: float, first_guild: int = 5000,
          pairs: Sequence[tuple[str, str]] | None = None) -> list[Case]:
    """One request per (action, mood) pair (all 98 by default), each in a guild of its own;
    the conversation, item and activity rotate with the index."""
    pairs = list(pairs or itertools.product(ACTIONS, MOODS))
    out = []
    for i, (action, mood) in enumerate(pairs):
        guild = first_guild + i
        conversation = i % len(_CONVERSATIONS)
        asker = _ASKED[conversation]
        asker_id = next(r[1] for r in _CONVERSATIONS[conversation] if r[2] == asker)
        request = ActionRequest(
            request_id=guild, guild_id=guild, channel_id=guild * 10, action=action, mood=mood,
            decided_at=now, deadline=now + 900.0, priority=0 if action == "reply" else 1,
            target_user_id=42 if action == "engage_user" else
            (asker_id if action == "reply" else None),
            target_activity=_ACTIVITIES[i % len(_ACTIVITIES)] if action == "engage_user"
            else None,
            reply_to_message_id=asker if action == "reply" else None)
        item = ITEMS[guild % len(ITEMS)]
        share = action == "share_tweet"
        out.append(Case(request, conversation, item.url if share else "",
                        item.title if share else ""))
    return out


class Items:
    """The set's ``ItemSource``: the same item for a guild every time."""

    def pick(self, guild_id: int) -> FeedItem | None:
        return ITEMS[guild_id % len(ITEMS)]


def prompt_texts(messages: Sequence[object]) -> list[str]:
    """What a prompt said in its own words: the system message and the instruction (the
    last paragraph of the last user message), not the conversation."""
    system = [m.content for m in messages if m.role == "system"]  # type: ignore[attr-defined]
    users = [m.content for m in messages if m.role == "user"]  # type: ignore[attr-defined]
    last = users[-1].strip().rsplit("\n\n", 1)[-1] if users else ""
    return [*system, last]
