"""Where an object type is likely to be: household knowledge (which receptacle types a THOR type
can be placed in, and where it starts over the 120 iTHOR scenes: `data/placements.tsv`),
sharpened by experience (where it was found in past episodes). The symbolic planner's
exploration opens the likeliest receptacles first.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from embodmem.experience import ExperienceMemory

COMPATIBLE_WEIGHT = 0.05  # prior mass of a receptacle type the object can be in but never starts in
EXPERIENCE_WEIGHT = 2.0  # weight of experience against the static table, per found-sighting share


@cache
def placements() -> dict[str, tuple[frozenset[str], dict[str, int]]]:
    """object type -> (receptacle types it can be placed in, {starting receptacle: count})."""
    text = resources.files("embodmem").joinpath("data/placements.tsv").read_text(encoding="utf-8")
    out: dict[str, tuple[frozenset[str], dict[str, int]]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        otype, compatible, starts = [*line.split("\t"), "", ""][:3]
        counts = {}
        for part in filter(None, starts.split(",")):
            name, n = part.rsplit(":", 1)
            counts[name] = int(n)
        out[otype] = (frozenset(filter(None, compatible.split(","))), counts)
    return out


def where_likely(object_type: str, experience: ExperienceMemory | None = None) -> dict[str, float]:
    """Receptacle type -> probability that `object_type` is in or on one (sums to 1 over the
    types named; {} for an unknown type with no experience)."""
    compatible, starts = placements().get(object_type, (frozenset(), {}))
    total = sum(starts.values())
    score = {r: COMPATIBLE_WEIGHT for r in compatible}
    for r, n in starts.items():
        score[r] = score.get(r, 0.0) + n / total
    if experience is not None:
        for r, share in experience.priors(object_type):
            score[r] = score.get(r, 0.0) + EXPERIENCE_WEIGHT * share
    norm = sum(score.values())
    return {r: s / norm for r, s in score.items()} if norm else {}
