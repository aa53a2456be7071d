"""Fixtures for the integration suite: a real llama.cpp server on loopback with a real model.

If llama-cpp-python[server] or the model is missing, every test here ERRORS with the install
command: a suite that silently skips proves nothing. The server is started once per session;
tests that stop it (the breaker test) restart it through ``LlamaServer.start()``, and the
``llama_server`` fixture makes sure every test begins with it running.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.llama_server import (
    LlamaServer,
    ServerStartError,
    check_installed,
    find_model,
    free_port,
)


@pytest.fixture(scope="session")
def _llama_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    problem = None
    try:
        check_installed()
        model = find_model()
    except FileNotFoundError as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    server = LlamaServer(model, free_port(), log_path)
    try:
        server.start()
    except ServerStartError as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def llama_server(_llama_server_session: LlamaServer) -> LlamaServer:
    """The session's real server, running (started again if a test left it stopped)."""
    if not _llama_server_session.running:
        _llama_server_session.start()
    return _llama_server_session


@pytest.fixture
def llm_url(llama_server: LlamaServer) -> str:
    """The running server's OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``)."""
    return llama_server.base_url
