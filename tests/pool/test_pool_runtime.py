"""The runtime asks the inference server once at start: a problem is one warning line, and
the bot runs on."""

from __future__ import annotations

import anyio
import pytest
from structlog.testing import capture_logs

from runtime.config import decode_config
from runtime.core import Runtime
from runtime.store import MemoryStore
from runtime.supervisor import SupervisorConfig
from tests.kit.fakeserver import open_fake_server

pytestmark = pytest.mark.anyio


async def _start_and_stop(base_url: str) -> list[dict[str, object]]:
    config = decode_config(f'[llm]\nbackend = "openai"\nbase_url = "{base_url}"\n'
                           'model = "smollm2"\n')

    async def sender(req: object, text: str) -> None: ...

    rt = Runtime(config, sender=sender, store=MemoryStore(), control_socket=False,
                 supervisor_config=SupervisorConfig(startup_grace_s=0, gc_freeze=False))
    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            # Started means checked: the check runs before the runtime reports started.
            with anyio.fail_after(10):
                await tg.start(rt.run)
            rt.stop()
    return logs


async def test_a_url_without_v1_is_one_warning_and_the_bot_runs_on() -> None:
    """base_url without /v1: the server answers 404 on /models; the runtime logs one
    warning naming the likely mistake, and starts and stops as usual."""
    async with open_fake_server() as server:
        server.models = [{"id": "smollm2", "owned_by": "me"}]
        logs = await _start_and_stop(server.base_url.removesuffix("/v1"))
    problems = [e for e in logs if e["event"] == "runtime.llm_server_problem"]
    assert len(problems) == 1
    assert "did you forget /v1?" in str(problems[0]["problem"])
    assert problems[0]["log_level"] == "warning"
    assert any(e["event"] == "runtime.stopped" for e in logs)


async def test_a_server_that_serves_the_model_gets_no_warning() -> None:
    """The right URL and model: /models is asked once and nothing is logged about it."""
    async with open_fake_server() as server:
        server.models = [{"id": "smollm2", "owned_by": "me"}]
        logs = await _start_and_stop(server.base_url)
        assert [r.path for r in server.requests] == ["/v1/models"]
    assert not [e for e in logs if e["event"] == "runtime.llm_server_problem"]
