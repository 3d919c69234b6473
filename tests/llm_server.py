"""A scripted OpenAI-compatible HTTP server for the LLM tests: it answers
POST /v1/chat/completions from a queue of scripted replies (plans, garbage, errors, slow
replies) and GET /v1/models, on 127.0.0.1, and records every request it received."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "scripted-model"


@dataclass(frozen=True)
class Reply:
    """One scripted answer: an HTTP status and body, sent after `delay_s`."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def text(content: str, usage: tuple[int, int] | None = (111, 22), finish: str = "stop") -> Reply:
    """A chat completion whose message is `content` (with `usage` = (prompt, completion)
    tokens, or none)."""
    doc: dict[str, Any] = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish,
            }
        ],
    }
    if usage is not None:
        doc["usage"] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        }
    return Reply(body=json.dumps(doc).encode())


def plan(*steps: dict[str, str], usage: tuple[int, int] | None = (111, 22)) -> Reply:
    """A completion holding a JSON plan of `steps`."""
    return text(json.dumps({"plan": list(steps)}), usage)


def no_choices() -> Reply:
    """A completion with an empty choices list."""
    return Reply(body=json.dumps({"id": "x", "object": "chat.completion", "choices": []}).encode())


def status(code: int, message: str = "scripted error") -> Reply:
    """An error status with an OpenAI-style error body (the client retries 5xx quickly:
    retry-after-ms is 10)."""
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}})
    return Reply(code, body.encode(), headers={"retry-after-ms": "10"})


def not_json() -> Reply:
    """A 200 whose body is an HTML page, not JSON."""
    return Reply(body=b"<html><body>502 Bad Gateway</body></html>", content_type="text/html")


def slow(seconds: float, then: Reply | None = None) -> Reply:
    """`then` (a valid plan by default) after sleeping `seconds`."""
    base = then or plan({"skill": "done"})
    return Reply(base.status, base.body, base.content_type, seconds, base.headers)


class ScriptedServer:
    """The server: `script(...)` queues replies, `requests` holds the JSON bodies received."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def script(self, *replies: Reply) -> None:
        """Queue replies, answered in order (an exhausted queue answers HTTP 500)."""
        self.replies.extend(replies)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and wake any slow reply."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/v1/models":
                    self._send(Reply(404, b'{"error": {"message": "not found"}}'))
                    return
                models = {"object": "list", "data": [{"id": MODEL, "object": "model"}]}
                self._send(Reply(body=json.dumps(models).encode()))

            def do_POST(self) -> None:
                size = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(size) or b"{}")
                if self.path != "/v1/chat/completions":
                    self._send(Reply(404, b'{"error": {"message": "not found"}}'))
                    return
                server.requests.append(body)
                reply = server.replies.popleft() if server.replies else status(500, "no reply")
                if reply.delay_s and server._stopping.wait(reply.delay_s):
                    return
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", reply.content_type)
                    self.send_header("content-length", str(len(reply.body)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        return Handler


@contextmanager
def scripted_server() -> Iterator[ScriptedServer]:
    """A started `ScriptedServer`, stopped on exit."""
    server = ScriptedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
