"""Asking an OpenAI-compatible server, once, whether it is there and serves the model.

Without it a wrong ``base_url`` shows as every request failing with "http 404", a server that
is down as "connect error", a model name the server does not know as "http 400" or "404", and
nothing says which. ``check_server`` turns each into one line an operator can act on.
"""

from __future__ import annotations

import os
import socket

import httpx
import msgspec

__all__ = ["check_server"]


class _Model(msgspec.Struct):
    id: str
    owned_by: str | None = None


class _Models(msgspec.Struct):
    data: list[_Model]


_decoder = msgspec.json.Decoder(_Models)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, through exception groups (trio's connect raises one)."""
    out: list[BaseException] = []
    todo = [exc]
    while todo and len(out) < 32:
        e = todo.pop()
        out.append(e)
        todo.extend(getattr(e, "exceptions", ()))
        for cause in (e.__cause__, e.__context__):
            if cause is not None and cause not in out:
                todo.append(cause)
    return out


def _served(model: str, served: list[_Model]) -> bool:
    ids = {m.id for m in served}
    if model in ids:
        return True
    # Ollama lists "llama3:latest" and answers to "llama3".
    if ":" not in model and f"{model}:latest" in ids:
        return True
    # llama.cpp's llama-server serves its one model whatever name a request gives.
    return len(served) == 1 and served[0].owned_by == "llamacpp"


async def check_server(base_url: str, model: str, *, api_key_env: str | None = None,
                       # The contract's name; it sets httpx's own time-outs.
                       timeout: float = 5.0,  # noqa: ASYNC109
                       ) -> str | None:
    """Ask ``GET {base_url}/models`` once whether the server is there and serves ``model``.

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:8080/v1``.
        model: the model name requests will ask for.
        api_key_env: the environment variable holding the API key, if the server needs one.
        timeout: seconds for the whole check.

    Returns:
        None when the server answers and serves the model; else one line saying what is
        wrong, e.g. ``no OpenAI API at http://x:8080 (404 on /models): did you forget /v1?``,
        ``server down: connection refused at http://x:8080/v1``, ``model 'x' is not served;
        it serves: a, b``. Never raises for what the network or the server does.
    """
    root = base_url.rstrip("/")
    url = f"{root}/models"
    headers = {}
    key = os.environ.get(api_key_env) if api_key_env else None
    if key:
        headers["authorization"] = f"Bearer {key}"
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url, headers=headers)
    except httpx.ConnectTimeout:
        return f"server down: no answer from {root} within {timeout:g} s"
    except httpx.ConnectError as exc:
        causes = _causes(exc)
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return f"server down: connection refused at {root}"
        if any(isinstance(c, socket.gaierror) for c in causes):
            return f"server down: cannot resolve the host of {root}"
        return f"server down: cannot connect to {root}"
    except httpx.TimeoutException:
        return f"server down: {root} did not answer GET /models within {timeout:g} s"
    except httpx.TransportError as exc:
        return f"server down: {type(exc).__name__} on GET {url}"
    status = response.status_code
    if status == 404:
        hint = "" if root.endswith("/v1") else ": did you forget /v1?"
        return f"no OpenAI API at {root} (404 on /models){hint}"
    if status in (401, 403):
        where = f"; check ${api_key_env}" if api_key_env else "; set llm.api_key_env"
        return f"the server at {root} refused the request (http {status}){where}"
    if status != 200:
        return f"the server at {root} answered http {status} on GET /models"
    try:
        served = _decoder.decode(response.content).data
    except msgspec.DecodeError:
        return f"no OpenAI API at {root} (GET /models did not answer a model list)"
    if not _served(model, served):
        names = ", ".join(sorted(m.id for m in served)) or "nothing"
        return f"model {model!r} is not served; it serves: {names}"
    return None
