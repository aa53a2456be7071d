"""A real HTTP server on loopback speaking OpenAI chat completions, with knobs for failures.

Written with anyio sockets, so it runs in the test's own event loop on asyncio and trio, and
tests wait for it by its own signals (``wait_requests``), never by sleeping.

    async with open_fake_server() as server:
        server.plan(Reply.status(503), Reply.ok("hi"))   # the next answers, in order
        server.default = Reply.ok("Hello!", latency=0.05)
        ... OpenAIBackend(server.base_url, "fake") ...

Knobs: latency, a status (429 with Retry-After, 500, 503), a hang (until ``release()`` or the
server closes), malformed JSON, an empty answer, a dropped connection, the finish reason, the
model list at ``GET /v1/models``. It also serves static
files (``server.files["/feed.xml"] = (content_type, body)``) for the feed tests, and its
counters at ``GET /_stats`` (for the benchmark, which runs it as a separate process).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

__all__ = ["FakeServer", "Received", "Reply", "open_fake_server", "refused_url"]

_REASONS = {200: "OK", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
            404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Reply:
    """One answer of the server."""

    kind: str  # ok, status, hang, malformed, empty, drop
    text: str = ""
    status: int = 200
    retry_after: str | None = None
    latency: float | None = None
    finish_reason: str = "stop"

    @classmethod
    def ok(cls, text: str = "Hello!", *, latency: float | None = None,
           finish_reason: str = "stop") -> Reply:
        return cls("ok", text=text, latency=latency, finish_reason=finish_reason)

    @classmethod
    def error(cls, status: int, *, retry_after: str | None = None,
              latency: float | None = None) -> Reply:
        return cls("status", status=status, retry_after=retry_after, latency=latency)

    @classmethod
    def hang(cls) -> Reply:
        return cls("hang")

    @classmethod
    def malformed(cls) -> Reply:
        return cls("malformed")

    @classmethod
    def empty(cls) -> Reply:
        return cls("empty")

    @classmethod
    def drop(cls) -> Reply:
        return cls("drop")


@dataclass
class Received:
    """A request the server read."""

    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeServer:
    """State and knobs of a running fake server."""

    base_url: str = ""
    default: Reply = field(default_factory=Reply.ok)
    #: Seconds every answer waits unless the reply sets its own.
    latency: float = 0.0
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    #: What ``GET /v1/models`` lists, as OpenAI's API does (id, owned_by); None: 404, as a
    #: server without that route answers.
    models: list[dict[str, str]] | None = None
    requests: list[Received] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    connections: int = 0
    _plan: deque[Reply] = field(default_factory=deque)
    _changed: anyio.Event = field(default_factory=anyio.Event)
    _release: anyio.Event = field(default_factory=anyio.Event)

    def plan(self, *replies: Reply) -> None:
        """Queue answers for the next chat requests; after them, ``default``."""
        self._plan.extend(replies)

    def release(self) -> None:
        """End every hang now (they answer 503)."""
        self._release.set()
        self._release = anyio.Event()

    @property
    def chat_requests(self) -> list[Received]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def wait_requests(self, n: int) -> None:
        """Wait until the server has read ``n`` requests in all."""
        while len(self.requests) < n:
            await self._changed.wait()

    async def wait_in_flight(self, n: int) -> None:
        """Wait until exactly ``n`` requests are being answered."""
        while self.in_flight != n:
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def handle(self, stream: SocketStream) -> None:
        self.connections += 1
        reader = BufferedByteReceiveStream(stream)
        async with stream:
            try:
                while await self._one(stream, reader):
                    pass
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError,
                    anyio.ClosedResourceError, anyio.DelimiterNotFound):
                pass

    async def _one(self, stream: SocketStream, reader: BufferedByteReceiveStream) -> bool:
        head = await reader.receive_until(b"\r\n\r\n", 65536)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        raw = await reader.receive_exactly(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.requests.append(Received(anyio.current_time(), method, path, headers, body))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self._notify()
        try:
            if path == "/_stats":
                stats = {"requests": len(self.requests), "max_in_flight": self.max_in_flight}
                await self._respond(stream, 200, json.dumps(stats).encode())
                return True
            if path == "/v1/models" and self.models is not None:
                listing = {"object": "list",
                           "data": [{"object": "model", **m} for m in self.models]}
                await self._respond(stream, 200, json.dumps(listing).encode())
                return True
            if path in self.files:
                ctype, content = self.files[path]
                await self._respond(stream, 200, content, ctype)
                return True
            if not path.endswith("/chat/completions"):
                await self._respond(stream, 404, b'{"error": "not found"}')
                return True
            reply = self._plan.popleft() if self._plan else self.default
            return await self._answer(stream, reply)
        finally:
            self.in_flight -= 1
            self._notify()

    async def _answer(self, stream: SocketStream, reply: Reply) -> bool:
        latency = self.latency if reply.latency is None else reply.latency
        if latency:
            await anyio.sleep(latency)
        if reply.kind == "hang":
            await self._release.wait()
            await self._respond(stream, 503, b'{"error": "released"}')
            return True
        if reply.kind == "drop":
            return False
        if reply.kind == "status":
            extra = {"retry-after": reply.retry_after} if reply.retry_after else {}
            await self._respond(stream, reply.status, b'{"error": {"message": "knob"}}',
                                extra=extra)
            return True
        if reply.kind == "malformed":
            await self._respond(stream, 200, b'{"choices": [{"message": {"content": "hi"')
            return True
        text = "" if reply.kind == "empty" else reply.text
        body = json.dumps({
            "id": "chatcmpl-fake", "object": "chat.completion", "model": "fake",
            "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }).encode()
        await self._respond(stream, 200, body)
        return True

    async def _respond(self, stream: SocketStream, status: int, body: bytes,
                       ctype: str = "application/json", *,
                       extra: dict[str, str] | None = None) -> None:
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
                f"content-type: {ctype}", f"content-length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        await stream.send(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


@asynccontextmanager
async def open_fake_server() -> AsyncIterator[FakeServer]:
    """Start a fake server on 127.0.0.1 (a free port); stop it on leaving."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)
    server = FakeServer(base_url=f"http://127.0.0.1:{port}/v1")
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, server.handle)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()


async def refused_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)
    await listener.aclose()
    return f"http://127.0.0.1:{port}/v1"


async def _serve_forever(latency: float) -> None:
    async with open_fake_server() as server:
        server.latency = latency
        print(server.base_url, flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    # A separate process, as a real inference server is (the benchmark uses it):
    #   python tests/kit/fakeserver.py [latency seconds]  -> prints its base URL
    import sys

    anyio.run(_serve_forever, float(sys.argv[1]) if len(sys.argv) > 1 else 0.0)
