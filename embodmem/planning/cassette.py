"""Replay cassettes for LLM calls: record every request and response of a live backend to a
JSONL file, and answer from it later, deterministically and with no endpoint.

`RecordingClient(inner, path)` forwards each `complete` to `inner` and appends one line per
call: {"request": {messages, schema, model, temperature}, "response": {the Completion's
fields}}, written with a single append-mode write, so a crash leaves whole lines only.
`ReplayClient(path)` answers a request with the recorded response of the same request (the
key is a hash of the messages and the schema); identical requests asked again get their
recorded responses in recorded order. Records are plain JSON: a cassette can be read, diffed
and edited by hand. A request the cassette does not hold raises
`CassetteMissError` naming the cassette and the request's index.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import deque
from pathlib import Path
from typing import Any

from embodmem.errors import EmbodmemError, OutputError
from embodmem.planning.llm_client import Chat, Completion, check_messages, check_schema


class CassetteError(EmbodmemError):
    """A cassette cannot be read: missing, not JSONL, or a line that is not a recorded call."""


class CassetteMissError(CassetteError):
    """A replayed request is not in the cassette (or was asked more often than recorded)."""

    def __init__(self, path: Path, index: int, reason: str) -> None:
        self.path, self.index = path, index
        super().__init__(f"{path}: request {index} {reason}")


def request_key(messages: list[dict[str, str]], schema: dict[str, Any] | None) -> str:
    """The hash a request is recorded and replayed under."""
    doc = json.dumps({"messages": messages, "schema": schema}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()


class RecordingClient:
    """A `Chat` that forwards to `inner` and appends each call to a JSONL cassette."""

    def __init__(self, inner: Chat, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path)
        if self.path.is_dir():
            raise OutputError(str(self.path), "is a directory, not a cassette file")
        if not self.path.parent.is_dir():
            raise OutputError(str(self.path), "its folder does not exist")
        self.model = inner.model
        self.temperature = inner.temperature

    def complete(
        self, messages: list[dict[str, str]], schema: dict[str, Any] | None = None
    ) -> Completion:
        """`inner`'s completion, recorded (failed calls raise and are not recorded)."""
        messages = check_messages(messages)
        schema = check_schema(schema)
        out = self.inner.complete(messages, schema)
        record = {
            "request": {
                "messages": messages,
                "schema": schema,
                "model": self.model,
                "temperature": self.temperature,
            },
            "response": {
                "text": out.text,
                "prompt_tokens": out.prompt_tokens,
                "completion_tokens": out.completion_tokens,
                "latency_s": out.latency_s,
                "finish_reason": out.finish_reason,
            },
        }
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)  # one write in append mode: the line lands whole
            while written < len(line):
                written += os.write(fd, line[written:])
        finally:
            os.close(fd)
        return out


class ReplayClient:
    """A `Chat` that answers from a cassette `RecordingClient` wrote; no endpoint needed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._answers: dict[str, deque[Completion]] = {}
        self._recorded: dict[str, int] = {}
        self.asked = 0  # requests answered or missed so far
        first: dict[str, Any] | None = None
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CassetteError(f"{self.path}: cannot read the cassette ({exc})") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            key, request, completion = _record(self.path, n, line)
            first = first or request
            self._answers.setdefault(key, deque()).append(completion)
            self._recorded[key] = self._recorded.get(key, 0) + 1
        self.model = str(first.get("model", "replay")) if first else "replay"
        temperature = first.get("temperature") if first else None
        self.temperature = float(temperature) if isinstance(temperature, (int, float)) else 0.0

    def complete(
        self, messages: list[dict[str, str]], schema: dict[str, Any] | None = None
    ) -> Completion:
        """The recorded response of this request (in recorded order when it repeats)."""
        messages = check_messages(messages)
        schema = check_schema(schema)
        index, self.asked = self.asked, self.asked + 1
        key = request_key(messages, schema)
        if key not in self._answers:
            last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
            shown = " ".join(last.split())[:60]
            raise CassetteMissError(self.path, index, f"is not in the cassette (user: {shown!r})")
        queue = self._answers[key]
        if not queue:
            times = self._recorded[key]
            raise CassetteMissError(
                self.path, index, f"was recorded {times} time(s) and is asked once more"
            )
        return queue.popleft()


def _record(path: Path, n: int, line: str) -> tuple[str, dict[str, Any], Completion]:
    """Key, request and completion of cassette line `n`; `CassetteError` naming it otherwise."""

    def bad(reason: str) -> CassetteError:
        return CassetteError(f"{path}: line {n}: {reason}")

    try:
        doc = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        raise bad("not JSON") from None
    if not isinstance(doc, dict):
        raise bad("expected an object")
    request, response = doc.get("request"), doc.get("response")
    if not isinstance(request, dict) or not isinstance(response, dict):
        raise bad("expected request and response objects")
    try:
        key = request_key(
            check_messages(request.get("messages")), check_schema(request.get("schema"))
        )
    except EmbodmemError as exc:
        raise bad(f"request.{exc}") from None
    text, finish = response.get("text"), response.get("finish_reason")
    if not isinstance(text, str) or not isinstance(finish, str):
        raise bad("response.text and response.finish_reason must be strings")
    counts = [response.get("prompt_tokens"), response.get("completion_tokens")]
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        raise bad("response token counts must be integers >= 0")
    latency = response.get("latency_s")
    number = isinstance(latency, (int, float)) and not isinstance(latency, bool)
    if not number or not math.isfinite(latency) or latency < 0:
        raise bad("response.latency_s must be seconds >= 0")
    return key, request, Completion(text, counts[0], counts[1], float(latency), finish)
