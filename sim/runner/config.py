"""The run configuration of `embodmem run-suite`: one frozen record, from a YAML file in
configs/, command-line options and `key=value` overrides, with a hash that names the results.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import orjson
import yaml

from embodmem.errors import ValidationError
from embodmem.planning.scope import SCOPES
from embodmem.policies import POLICIES

PLANNERS = ("symbolic", "llm")
CONTEXTS = ("full", "retrieved", "collapsed")
BACKENDS = ("local", "ray")
PERCEIVE = {"visible": "metadata", "segmentation": "segmentation"}  # CLI name -> session name
CHOICES: dict[str, tuple[str, ...]] = {
    "planner": PLANNERS,
    "memory": SCOPES,
    "experience": ("on", "off"),
    "policy": tuple(POLICIES),
    "context": CONTEXTS,
    "perception": tuple(PERCEIVE),
    "backend": BACKENDS,
}
# Fields that change what an episode does; `workers`, `backend`, `address` and `episodes` do not.
RESULT_FIELDS = (
    "suite",
    "planner",
    "memory",
    "experience",
    "policy",
    "context",
    "perception",
    "seed",
    "max_steps",
    "base_url",
    "model",
    "embedder",
    "capacity",
)


class ConfigError(ValidationError):
    """A run option has a wrong name or value."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything that decides a suite run; `config_hash` names its results."""

    suite: str = "alfred-valid-seen"
    planner: str = "symbolic"
    memory: str = "full"
    experience: str = "on"
    policy: str = "lru"
    context: str = "collapsed"
    perception: str = "visible"
    episodes: int | None = None  # the first N episodes of the suite (None: all)
    workers: int = 1
    backend: str = "local"
    address: str | None = None  # Ray cluster address (None: a local Ray instance)
    seed: int = 0
    max_steps: int = 1000
    base_url: str | None = None  # LLM endpoint (None: the embedded local model)
    model: str | None = None
    embedder: str = "hashing"
    capacity: int = 64  # short-term buffer size (records), where the policy decides
    record: str | None = None  # LLM cassette to record every call into (JSONL)
    replay: str | None = None  # LLM cassette to answer from instead of an endpoint
    viz: int = 0  # record the memory of the first N episodes (states/, viz/ in the run folder)

    def __post_init__(self) -> None:
        for name, valid in CHOICES.items():
            if getattr(self, name) not in valid:
                raise ConfigError(name, getattr(self, name), f"expected one of {', '.join(valid)}")
        for name in ("workers", "seed", "max_steps", "capacity", "viz"):
            value = getattr(self, name)
            least = int(name in ("workers", "capacity"))
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(name, value, "expected a whole number" + " >= 1" * least)
        if self.episodes is not None and (
            isinstance(self.episodes, bool)
            or not isinstance(self.episodes, int)
            or self.episodes < 1
        ):
            raise ConfigError("episodes", self.episodes, "expected a whole number >= 1")
        if not isinstance(self.suite, str) or not self.suite:
            raise ConfigError("suite", self.suite, "expected a suite name")

    @property
    def config_hash(self) -> str:
        """Short hash of the fields that change results (not workers / backend)."""
        d = {k: getattr(self, k) for k in RESULT_FIELDS}
        return hashlib.sha256(orjson.dumps(d, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_overrides(self, pairs: list[str]) -> RunConfig:
        """A copy with `key=value` overrides applied (values parsed as YAML scalars)."""
        changes: dict[str, Any] = {}
        names = {f.name for f in fields(self)}
        for pair in pairs:
            key, sep, text = pair.partition("=")
            if not sep or key not in names:
                raise ConfigError(
                    "override", pair, f"expected key=value with key in {sorted(names)}"
                )
            changes[key] = yaml.safe_load(text) if text else None
        return replace(self, **changes)


def load_config(path: str | Path) -> dict[str, Any]:
    """The `run:` mapping of a YAML config file (configs/run.yaml); unknown keys are an error."""
    file = Path(path)
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError("config", str(file), f"cannot read it ({exc})") from None
    run = doc.get("run", doc) if isinstance(doc, dict) else None
    if not isinstance(run, dict):
        raise ConfigError("config", str(file), "expected a mapping under `run:`")
    names = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(run) - names)
    if unknown:
        raise ConfigError(f"{file.name}: run", unknown, f"unknown keys; expected {sorted(names)}")
    return run
