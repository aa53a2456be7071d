"""From a request to the words she sends: the context a prompt may see, and a model's answer
made fit to send. The pool calls these; the attempts and deadlines stay with the pool.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from actors.events import ActionRequest
from engine import REACT
from runtime.pool.clean import clean_output
from runtime.pool.clean.length import fit
from runtime.pool.models import Answer, ContextFn, ContextLine, ExcludeFn, Prompt

__all__ = ["accepts_upto", "fetch_context", "finish"]


def accepts_upto(context: ContextFn | None) -> bool:
    """Whether ``context`` takes the ``upto_message_id`` keyword (older ones do not: a reply
    then finds the message that spoke to her in the window, if it is there)."""
    if context is None:
        return False
    try:
        params = inspect.signature(context).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "upto_message_id" or p.kind is inspect.Parameter.VAR_KEYWORD
               for p in params)


async def fetch_context(context: ContextFn, request: ActionRequest, limit: int, *,
                        upto: bool, exclude: ExcludeFn | None) -> list[ContextLine]:
    """The channel's last ``limit`` messages for ``request``, without excluded users' lines.

    A reply asks for the messages up to the one that spoke to her
    (``upto_message_id=request.reply_to_message_id``), a react (with ``limit`` 1) for the
    message it goes on (``request.target_message_id``), when ``upto`` says the callable
    takes it; nothing else is ever called with it.

    Raises:
        Exception: whatever ``context`` or ``exclude`` raise (the pool fails the request).
    """
    action = request.action
    wanted = request.reply_to_message_id if action == "reply" \
        else request.target_message_id if action == REACT else None
    if wanted and upto:
        lines = await context(request.guild_id, request.channel_id, limit,
                              upto_message_id=wanted)
    else:
        lines = await context(request.guild_id, request.channel_id, limit)
    if exclude is not None:
        gid = request.guild_id
        lines = [line for line in lines
                 if line.is_self or not line.author_id or not exclude(gid, line.author_id)]
    return list(lines)


def finish(prompt: Prompt, answer: Answer | str, names: Sequence[str]) -> str:
    """The words to send for ``answer``: cleaned by every rule, within the prompt's budget,
    and a share's link after her line when she did not write it.

    Returns:
        The text; ``""`` when nothing fit to send is left.
    """
    if isinstance(answer, str):
        answer = Answer(answer, None)
    url = prompt.item.url if prompt.item is not None else ""
    title = prompt.item.title if prompt.item is not None else ""
    # The link, and the item's title when she quotes it, are the item's words, not hers.
    budget = prompt.budget + (len(title) if title and title in answer.text else 0)
    limit = budget + (len(url) + 1 if url else 0)
    text = clean_output(answer.text, names=names, limit=limit, others=prompt.others,
                        echoes=prompt.echoes, links=prompt.links, truncated=answer.truncated)
    if url and text and url not in text:
        line = fit(text, budget)
        text = f"{line}\n{url}" if line else ""
    if url and not text.replace(url, "").strip():
        return ""  # the link alone is not a message from her
    return text
