"""Chat completions from any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp's
server), for the LLM planner.

`ChatClient.complete(messages, schema)` returns a `Completion`: the text, the prompt and
completion tokens (the API's `usage`, else counted with the offline tokenizer), the latency and
the finish reason. With a JSON schema it asks for the endpoint's JSON-schema mode
(`response_format={"type": "json_schema", ...}`); an endpoint that answers 400/422 about
`response_format` is remembered as having none and is asked in plain text from then on (JSON
requested in the prompt). Whatever goes wrong on the wire (connection refused, timeouts, 5xx
after the retries, a body that is not JSON, no choices) raises one `LLMUnavailableError`
naming the URL, the model and the cause, never a raw httpx traceback. `Chat` is the interface
the planner needs; the replay cassettes (`embodmem.planning.cassette`) implement it too.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from embodmem import validate as v
from embodmem.errors import EmbodmemError, ValidationError
from embodmem.tokens import TokenCounter

ROLES = ("system", "user", "assistant")
SCHEMA_NAME = "plan"
_SCHEMA_WORDS = ("response_format", "json_schema")  # in a 400/422 about the schema mode
JSON_REQUEST = "Reply with one JSON object only, no prose, following this JSON schema:\n"


@dataclass(frozen=True, slots=True)
class Completion:
    """One chat completion: the reply text and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    finish_reason: str


class LLMUnavailableError(EmbodmemError):
    """The LLM endpoint cannot answer (down, timing out, failing, or answering garbage on the
    wire); names the URL, the model and the cause."""

    def __init__(self, url: str, model: str, cause: str) -> None:
        self.url, self.model, self.cause = url, model, cause
        super().__init__(f"LLM endpoint {url} (model {model!r}) unavailable: {cause}")


class _SchemaRefused(Exception):
    """The endpoint refused the JSON-schema response format (HTTP 400/422 about it)."""


class Chat(Protocol):
    """What the LLM planner needs from a chat backend (live endpoint or cassette)."""

    model: str
    temperature: float

    def complete(
        self, messages: list[dict[str, str]], schema: dict[str, Any] | None = None
    ) -> Completion:
        """The model's reply to `messages`, constrained to `schema` where the backend can."""
        ...


def check_messages(messages: Any) -> list[dict[str, str]]:
    """Chat messages as a clean list of {"role", "content"} dicts; `ValidationError` otherwise."""
    if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)) or not messages:
        raise ValidationError("messages", messages, "expected a non-empty list of messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or set(m) != {"role", "content"}:
            raise ValidationError(f"messages[{i}]", m, "expected {'role': ..., 'content': ...}")
        if m["role"] not in ROLES:
            raise ValidationError(f"messages[{i}].role", m["role"], f"expected one of {ROLES}")
        out.append(
            {"role": m["role"], "content": v.utf8_str(f"messages[{i}].content", m["content"])}
        )
    return out


def check_schema(schema: Any) -> dict[str, Any] | None:
    """A JSON schema (a JSON-ready dict) or None; `ValidationError` otherwise."""
    if schema is None:
        return None
    if not isinstance(schema, dict):
        raise ValidationError("schema", type(schema).__name__, "expected a JSON schema dict")
    try:
        json.dumps(schema)
    except (TypeError, ValueError) as exc:
        raise ValidationError("schema", schema, f"not JSON-ready ({exc})") from None
    return schema


class ChatClient:
    """A thin wrapper over `openai.OpenAI` for one model of one OpenAI-compatible endpoint."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 30.0,
        max_retries: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 512,
    ) -> None:
        self.base_url = _check_url(base_url)
        self.model = v.nonempty_str("model", model)
        self.api_key_env = v.nonempty_str("api_key_env", api_key_env)
        self.timeout = v.finite_float("timeout", timeout)
        if self.timeout <= 0:
            raise ValidationError("timeout", timeout, "expected seconds > 0")
        self.max_retries = v.int64("max_retries", max_retries, minimum=0)
        if self.max_retries > 10:
            raise ValidationError("max_retries", max_retries, "at most 10")
        self.temperature = v.finite_float("temperature", temperature)
        if not 0.0 <= self.temperature <= 2.0:
            raise ValidationError("temperature", temperature, "expected a value in [0, 2]")
        self.max_tokens = v.int64("max_tokens", max_tokens, minimum=1)
        self.schema_mode = True  # False once the endpoint refused response_format
        try:
            import openai
        except ImportError:
            raise LLMUnavailableError(
                self.base_url, self.model, "the openai package is missing: pip install openai"
            ) from None
        from openai.types.chat import ChatCompletion

        self._openai = openai
        self._completion_type = ChatCompletion
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=os.environ.get(self.api_key_env) or "none",  # local servers need none
            timeout=self.timeout,
            max_retries=self.max_retries,
        )
        self._tokens: TokenCounter | None = None

    def complete(
        self, messages: list[dict[str, str]], schema: dict[str, Any] | None = None
    ) -> Completion:
        """The model's reply to `messages`; with `schema`, in the endpoint's JSON-schema mode
        (or, where it has none, with the schema requested in the prompt)."""
        messages = check_messages(messages)
        schema = check_schema(schema)
        start = time.perf_counter()
        response = None
        if schema is not None and self.schema_mode:
            fmt = {"type": "json_schema", "json_schema": {"name": SCHEMA_NAME, "schema": schema}}
            try:
                response = self._create(messages, fmt)
            except _SchemaRefused:
                self.schema_mode = False  # ask in plain text from now on
        if response is None:
            if schema is not None:
                messages = _ask_json(messages, schema)
            response = self._create(messages, None)
        return self._completion(response, messages, time.perf_counter() - start)

    def _create(self, messages: list[dict[str, str]], fmt: dict[str, Any] | None) -> Any:
        extra = {"response_format": fmt} if fmt is not None else {}
        try:
            return self._client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                **extra,  # type: ignore[arg-type]
            )
        except self._openai.APIStatusError as exc:
            if fmt is not None and exc.status_code in (400, 422) and _about_schema(exc):
                raise _SchemaRefused from None
            detail = str(getattr(exc, "message", exc))[:200]
            raise self._error(f"HTTP {exc.status_code}: {detail}") from None
        except self._openai.APITimeoutError:
            raise self._error(f"timed out after {self.timeout:g} s") from None
        except self._openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise self._error(f"cannot connect ({type(cause).__name__}: {cause})") from None
        except self._openai.APIError as exc:
            raise self._error(f"bad response ({type(exc).__name__}: {exc})") from None
        except (ValueError, TypeError) as exc:  # a body that claims to be JSON and is not
            raise self._error(f"the response body is not JSON ({type(exc).__name__})") from None

    def _completion(
        self, response: Any, messages: list[dict[str, str]], latency: float
    ) -> Completion:
        if not isinstance(response, self._completion_type):
            shown = repr(response)[:60]
            raise self._error(f"the response body is not a JSON chat completion: {shown}")
        if not response.choices:
            raise self._error("the response has no choices")
        choice = response.choices[0]
        message = choice.message
        content = message.content if message is not None else None
        text = content if isinstance(content, str) else (getattr(message, "refusal", None) or "")
        usage = response.usage
        prompt = _count(getattr(usage, "prompt_tokens", None))
        completion = _count(getattr(usage, "completion_tokens", None))
        if prompt is None or completion is None:  # no usage: count with the offline tokenizer
            if self._tokens is None:
                self._tokens = TokenCounter()
            counter = self._tokens
            prompt = sum(counter.count(m["content"]) for m in messages)
            completion = counter.count(text)
        return Completion(text, prompt, completion, latency, str(choice.finish_reason or ""))

    def _error(self, cause: str) -> LLMUnavailableError:
        return LLMUnavailableError(self.base_url, self.model, cause)


def _count(value: Any) -> int | None:
    """A token count from `usage`, or None when absent or not a count."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else None


def _about_schema(exc: Any) -> bool:
    """Whether an HTTP error's message is about the JSON-schema response format."""
    text = f"{getattr(exc, 'message', '')} {getattr(exc, 'body', '')}".lower()
    return any(w in text for w in _SCHEMA_WORDS)


def _ask_json(messages: list[dict[str, str]], schema: dict[str, Any]) -> list[dict[str, str]]:
    """`messages` with the schema requested in the last user message (plain prompting)."""
    out = [dict(m) for m in messages]
    last = max((i for i, m in enumerate(out) if m["role"] == "user"), default=len(out) - 1)
    request = JSON_REQUEST + json.dumps(schema, separators=(",", ":"))
    out[last]["content"] = f"{out[last]['content']}\n\n{request}"
    return out


def _check_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("base_url", url, "expected an http(s) URL")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("base_url", url, "expected an http:// or https:// URL with a host")
    try:
        port = parts.port
    except ValueError:
        raise ValidationError("base_url", url, "the port is not a number in [0, 65535]") from None
    if port == 0:
        raise ValidationError("base_url", url, "port 0 is not a server's port")
    return url.strip().rstrip("/")
