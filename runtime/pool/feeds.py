"""What she shares: feed items from RSS/Atom URLs and a local file, never twice in a guild.

``FeedItems.pick(guild_id)`` hands out the newest item that guild has not had and remembers
it (a bounded memory of ids per guild); the pool calls ``release`` when the share was not sent,
so the item stays available. RSS/Atom feeds are fetched with the pool's httpx client and parsed
with feedparser; ``run()`` refreshes them periodically.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import anyio
import feedparser
import httpx
import msgspec
import structlog

from runtime.pool.errors import ItemsFileError
from runtime.pool.models import FeedItem

__all__ = ["FeedItems", "load_items", "parse_feed"]

log = structlog.get_logger()


def _item(data: Any, path: str, line: int) -> FeedItem:
    if not isinstance(data, dict):
        raise ItemsFileError(path, line, f"expected a table with id, title, url; got "
                             f"{type(data).__name__}")
    try:
        item = msgspec.convert(data, FeedItem)
    except msgspec.ValidationError as exc:
        raise ItemsFileError(path, line, str(exc)) from None
    if not item.id or not item.title:
        raise ItemsFileError(path, line, "id and title must not be empty")
    return item


def load_items(path: str | PathLike[str]) -> list[FeedItem]:
    """Read a local file of items, newest first as written.

    ``.toml``: an array of tables ``[[items]]`` with ``id``, ``title``, ``url``. Anything else
    is JSON: an array of objects, or one object per line (blank lines and ``#`` lines skipped).

    Raises:
        ItemsFileError: unreadable, or an item is wrong; names the file and the line (the
            item's index for TOML and JSON arrays).
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ItemsFileError(where, 0, f"cannot read: {exc}") from None
    if where.endswith(".toml"):
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ItemsFileError(where, 0, f"not valid TOML: {exc}") from None
        entries = data.get("items", [])
        if not isinstance(entries, list):
            raise ItemsFileError(where, 0, "items must be an array of tables ([[items]])")
        return [_item(e, where, i + 1) for i, e in enumerate(entries)]
    if text.lstrip().startswith("["):
        try:
            entries = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ItemsFileError(where, exc.lineno, f"not valid JSON: {exc.msg}") from None
        return [_item(e, where, i + 1) for i, e in enumerate(entries)]
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ItemsFileError(where, number, f"not valid JSON: {exc.msg}") from None
        items.append(_item(data, where, number))
    return items


def parse_feed(data: bytes | str, source: str = "") -> list[FeedItem]:
    """Parse an RSS or Atom document into items, in the feed's order (newest first, usually).

    An entry without a title is skipped; its id is the entry's id, else its link, else a hash
    of source and title.
    """
    parsed = feedparser.parse(data)
    items = []
    for entry in parsed.entries:
        title = " ".join(str(entry.get("title", "")).split())
        if not title:
            continue
        url = str(entry.get("link", ""))
        ident = str(entry.get("id") or url or "")
        if not ident:
            ident = hashlib.sha1(f"{source}\n{title}".encode()).hexdigest()
        items.append(FeedItem(id=ident, title=title, url=url))
    return items


class FeedItems:
    """An item source for ``share_tweet``.

    Args:
        items: items known from the start (the local file, the simulator's own).
        urls: RSS/Atom feeds to fetch with ``refresh()`` / ``run()``.
        client: the httpx client to fetch with (share the pool backend's); required with urls.
        refresh_s: seconds between fetches in ``run()``.
        max_items: how many items to keep (the newest).
        remember: how many shared ids to remember per guild (the oldest are forgotten).
    """

    def __init__(self, items: Iterable[FeedItem] = (), *, urls: Sequence[str] = (),
                 client: httpx.AsyncClient | None = None, refresh_s: float = 1800.0,
                 max_items: int = 500, remember: int = 1000) -> None:
        if urls and client is None:
            raise ValueError("FeedItems needs an httpx client to fetch feed urls")
        self.urls = tuple(urls)
        self.client = client
        self.refresh_s = refresh_s
        self.max_items = max_items
        self.remember = remember
        #: Newest first.
        self._items: OrderedDict[str, FeedItem] = OrderedDict()
        self._shared: dict[int, OrderedDict[str, None]] = {}
        self._validators: dict[str, dict[str, str]] = {}
        self.fetch_errors = 0
        self.add(items)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, items: Iterable[FeedItem]) -> int:
        """Add items (given newest first); known ids are skipped. Returns how many were new."""
        new = [i for i in items if i.id not in self._items]
        for item in reversed(new):
            self._items[item.id] = item
            self._items.move_to_end(item.id, last=False)
        while len(self._items) > self.max_items:
            self._items.popitem(last=True)
        return len(new)

    def pick(self, guild_id: int) -> FeedItem | None:
        """The newest item ``guild_id`` has not had, now remembered as shared; None if none."""
        shared = self._shared.setdefault(guild_id, OrderedDict())
        for ident, item in self._items.items():
            if ident not in shared:
                shared[ident] = None
                while len(shared) > self.remember:
                    shared.popitem(last=False)
                return item
        return None

    def release(self, guild_id: int, item_id: str) -> None:
        """The share of ``item_id`` was not sent: the guild may have it again."""
        shared = self._shared.get(guild_id)
        if shared is not None:
            shared.pop(item_id, None)

    async def refresh(self) -> int:
        """Fetch every feed once (conditional GET). Returns how many new items arrived.

        A feed that fails is logged and counted (``fetch_errors``), never raised.
        """
        assert self.client is not None or not self.urls
        new = 0
        for url in self.urls:
            headers = self._validators.get(url, {})
            try:
                response = await self.client.get(url, headers=headers)  # type: ignore[union-attr]
            except httpx.HTTPError as exc:
                self.fetch_errors += 1
                log.warning("feeds.fetch_failed", url=url, error=type(exc).__name__)
                continue
            if response.status_code == 304:
                continue
            if response.status_code != 200:
                self.fetch_errors += 1
                log.warning("feeds.fetch_failed", url=url, status=response.status_code)
                continue
            validators = {}
            if etag := response.headers.get("etag"):
                validators["if-none-match"] = etag
            if modified := response.headers.get("last-modified"):
                validators["if-modified-since"] = modified
            self._validators[url] = validators
            added = self.add(parse_feed(response.content, url))
            log.info("feeds.fetched", url=url, new=added)
            new += added
        return new

    async def run(self) -> None:
        """Refresh every ``refresh_s`` seconds, forever (run it in the pool's task group)."""
        while True:
            await self.refresh()
            await anyio.sleep(self.refresh_s)
