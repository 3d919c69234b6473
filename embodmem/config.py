"""Memory configuration: one dataclass, loadable from YAML (configs/memory.yaml)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from embodmem.errors import ValidationError
from embodmem.tokens import ENCODINGS
from embodmem.validate import finite_float

CHOICES: dict[str, tuple[str, ...]] = {
    "short_term_policy": ("fifo", "lru", "lfu", "mem4nav", "relevance"),
    "write_policy": ("write_through", "consolidate"),
    "embedder": ("minilm", "hashing"),
}


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    """Tunable settings of `EmbodiedMemory`; defaults suit AI2-THOR and indoor robots."""

    # m: a detection without id joins a same-label node this close
    association_distance: float = 0.5
    move_threshold: float = 0.01  # m: displacement that counts as "moved"
    octree_resolution: float = 0.05  # m: voxel edge
    place_distance: float = 1.0  # m: a new place is created this far from every place
    place_novelty_similarity: float = 0.5  # cosine: below this an observation is a novel place
    # Short-term memory (embodmem.short_term, embodmem.policies).
    short_term_capacity: int = 64  # buffered object records
    short_term_policy: str = "lru"  # fifo | lru | lfu | mem4nav | relevance
    write_policy: str = "write_through"  # write_through | consolidate
    stable_observations: int = 3  # consolidate: unchanged sightings before writing long-term
    change_log_length: int = 512  # state changes kept
    view_fov_deg: float = 90.0  # camera field of view that decides "expected in view"
    view_range: float = 1.25  # m: objects this close in view are expected (THOR sees 1.5)
    view_coverage: float = 1.0  # share of a box's corners in view for it to be expected
    forget_tau_s: float | None = None  # s: Ebbinghaus time constant; None = never forget
    forget_threshold: float = 0.05  # retention below which an unbuffered object is forgotten
    # Retrieval and planner context (embodmem.retrieval, embodmem.context).
    embedder: str = "minilm"  # minilm | hashing
    token_encoding: str = "cl100k_base"  # tokenizer of the planner's model
    query_radius: float = 1.0  # m: radius of `query(near=...)` when none is given
    # Chosen on the ALFRED train sample only (experiments/context_tokens.py --sweep).
    context_per_clause: int = 2  # similar objects (distinct labels) a task clause may bring in
    context_min_similarity: float = 0.4  # cosine below which a clause brings nothing in
    context_relative: float = 0.9  # ... or below this fraction of the clause's best match

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in CHOICES:
                if value not in CHOICES[f.name]:
                    raise ValidationError(
                        f"config.{f.name}", value, f"expected one of {CHOICES[f.name]}"
                    )
            elif f.name == "token_encoding":
                if not isinstance(value, str) or value not in ENCODINGS:
                    raise ValidationError(f"config.{f.name}", value, f"expected one of {ENCODINGS}")
            elif f.name == "forget_tau_s" and value is None:
                continue
            elif f.type == "int":
                if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
                    raise ValidationError(f"config.{f.name}", value, "expected an integer > 0")
            else:  # stored as a plain float, so a numpy scalar never reaches a snapshot
                number = finite_float(f"config.{f.name}", value, 1e12)
                if not number > 0:
                    raise ValidationError(f"config.{f.name}", value, "expected a number > 0")
                object.__setattr__(self, f.name, number)
        if not 1e-3 <= self.octree_resolution <= 100:
            raise ValidationError(
                "config.octree_resolution", self.octree_resolution, "expected 0.001 to 100 (m)"
            )
        if not self.view_fov_deg < 180:
            raise ValidationError("config.view_fov_deg", self.view_fov_deg, "must be < 180")
        if not self.context_relative <= 1:
            raise ValidationError("config.context_relative", self.context_relative, "must be <= 1")
        if not self.view_coverage <= 1:
            raise ValidationError("config.view_coverage", self.view_coverage, "must be <= 1")
        if not self.forget_threshold < 1:
            raise ValidationError("config.forget_threshold", self.forget_threshold, "must be < 1")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MemoryConfig:
        """Config from a mapping; unknown keys are an error (typos must not pass silently)."""
        if not isinstance(d, dict):
            raise ValidationError("config", d, "expected a mapping")
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known:
                raise ValidationError(
                    f"config.{key}", d[key], f"unknown setting; known: {sorted(known)}"
                )
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path) -> MemoryConfig:
        """Config from a YAML file (a top-level `memory:` section or a flat mapping)."""
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ValidationError("config file", str(path), f"cannot be read ({exc})") from None
        return cls.from_dict(data.get("memory", data) if isinstance(data, dict) else data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
