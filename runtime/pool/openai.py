"""An OpenAI-compatible chat-completions backend over HTTP (llama.cpp's server, llama-swap,
Ollama, vLLM all speak it), with httpx, which runs on asyncio and trio alike.

Every failure becomes a ``BackendError`` with a short reason and whether a retry may help:

    connection refused / reset, time-outs, 5xx, 408  retryable, the server's fault
    429                                               retryable (Retry-After honoured), alive
    401 / 403 / other 4xx                             not retryable
    malformed JSON, no choices                        not retryable, the server's fault
    empty answer                                      not retryable ("empty output")
"""

from __future__ import annotations

import email.utils
import math
import os
import time

import anyio
import httpx
import msgspec
import structlog

from runtime.pool.errors import BackendError
from runtime.pool.models import Answer, ChatMessage, Prompt

__all__ = ["OpenAIBackend", "Timeouts", "parse_retry_after"]

log = structlog.get_logger()


class Timeouts(msgspec.Struct, frozen=True):
    """Seconds: to connect, to the first byte of the answer (httpx's read time-out: the gap
    between bytes, which for a non-streamed answer is the wait for the first one), and for
    the whole attempt."""

    connect: float = 5.0
    first_byte: float = 60.0
    total: float = 90.0


class _Request(msgspec.Struct, omit_defaults=True):
    model: str
    messages: tuple[ChatMessage, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    stream: bool = False


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message
    finish_reason: str | None = None


class _Completion(msgspec.Struct):
    choices: list[_Choice]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Completion)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Returns None when absent or unreadable; never negative.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class OpenAIBackend:
    """Chat completions at ``{base_url}/chat/completions``.

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:8080/v1``.
        model: the model name the server answers to.
        api_key_env: the environment variable holding the API key (read at each request, never
            logged); None or unset sends no Authorization header (local servers need none).
        timeouts: connect / first byte / total, in seconds.
        max_tokens: the answer's length cap (a Discord message is short).
        temperature: sampling temperature, or None for the server's default.
        client: an ``httpx.AsyncClient`` to share (the feed fetcher uses the same one); None
            makes one, closed by ``aclose()`` / ``async with``.
    """

    def __init__(self, base_url: str, model: str, *, api_key_env: str | None = "OPENAI_API_KEY",
                 timeouts: Timeouts | None = None, max_tokens: int | None = 300,
                 temperature: float | None = 0.9, top_p: float | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.timeouts = timeouts or Timeouts()
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self._owns_client = client is None
        t = self.timeouts
        # Per request too: a shared client may have been made with other time-outs.
        self._timeout = httpx.Timeout(connect=t.connect, read=t.first_byte, write=t.connect,
                                      pool=t.total)
        self.client = client or httpx.AsyncClient(timeout=self._timeout)

    async def aclose(self) -> None:
        """Close the HTTP client if the backend made it."""
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> OpenAIBackend:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["authorization"] = f"Bearer {key}"
        return headers

    async def generate(self, prompt: Prompt) -> str:
        """One attempt: post the prompt, return the answer's text.

        Raises:
            BackendError: the attempt failed (see the module's table).
        """
        return (await self.complete(prompt)).text

    def _body(self, prompt: Prompt) -> bytes:
        cap = self.max_tokens
        if prompt.max_tokens is not None:
            cap = prompt.max_tokens if cap is None else min(cap, prompt.max_tokens)
        temperature = self.temperature if prompt.temperature is None else prompt.temperature
        return _encoder.encode(_Request(self.model, prompt.messages, cap, temperature,
                                        self.top_p, prompt.stop or None, prompt.seed))

    async def complete(self, prompt: Prompt) -> Answer:
        """One attempt: post the prompt (its token cap, stop sequences and sampling), return
        the answer and why it ended (``finish_reason``: "stop" or "length").

        Raises:
            BackendError: the attempt failed (see the module's table).
        """
        body = self._body(prompt)
        try:
            with anyio.fail_after(self.timeouts.total):
                response = await self.client.post(self.url, content=body,
                                                  headers=self._headers(),
                                                  timeout=self._timeout)
        except TimeoutError:
            raise BackendError("timeout (total)", retryable=True, server_fault=True) from None
        except httpx.ConnectTimeout:
            raise BackendError("connect timeout", retryable=True, server_fault=True) from None
        except httpx.ConnectError:
            raise BackendError("connect error", retryable=True, server_fault=True) from None
        except httpx.ReadTimeout:
            raise BackendError("timeout (first byte)", retryable=True,
                               server_fault=True) from None
        except httpx.TimeoutException:
            raise BackendError("timeout", retryable=True, server_fault=True) from None
        except httpx.TransportError as exc:
            raise BackendError(f"connection lost ({type(exc).__name__})", retryable=True,
                               server_fault=True) from None
        return self._read(response)

    def _read(self, response: httpx.Response) -> Answer:
        status = response.status_code
        if status != 200:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if status == 429:
                raise BackendError("http 429", retryable=True, retry_after=retry_after)
            if status >= 500 or status == 408:
                raise BackendError(f"http {status}", retryable=True, server_fault=True,
                                   retry_after=retry_after)
            if status in (401, 403):
                hint = f"; check ${self.api_key_env}" if self.api_key_env else ""
                raise BackendError(f"http {status}{hint}", retryable=False)
            raise BackendError(f"http {status}", retryable=False)
        try:
            completion = _decoder.decode(response.content)
        except msgspec.DecodeError as exc:
            # The reason must not quote the body: it may hold the persona's words.
            log.warning("pool.malformed_response", detail=str(exc)[:120])
            raise BackendError("malformed response", retryable=False,
                               server_fault=True) from None
        if not completion.choices:
            raise BackendError("malformed response (no choices)", retryable=False,
                               server_fault=True)
        choice = completion.choices[0]
        text = choice.message.content
        if not text or not text.strip():
            raise BackendError("empty output", retryable=False)
        return Answer(text, choice.finish_reason)
