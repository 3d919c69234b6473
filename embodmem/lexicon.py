"""Everyday words for object labels: what people call a thing and what kind of thing it is.

People say "mug" for a THOR `Cup`, "counter" for `CounterTop`, "refrigerator" for `Fridge`.
The vendored `data/lexicon.tsv` holds, for every AI2-THOR object type, a few common names and
category words (general household knowledge, the same for every task). Labels are looked up
exactly, then ignoring case, spaces and punctuation ("coffee_machine" -> `CoffeeMachine`); a
label without an entry is described by its own words only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from embodmem.embedders import label_words

_KEY = re.compile(r"[^a-z0-9]")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Entry:
    """Other names and category words of one label."""

    names: tuple[str, ...]
    categories: tuple[str, ...]


def _key(label: str) -> str:
    return _KEY.sub("", label.lower())


def _split(text: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split(",") if w.strip())


@cache
def lexicon() -> dict[str, Entry]:
    """The whole lexicon by object type (loaded once from the package data)."""
    text = resources.files("embodmem").joinpath("data/lexicon.tsv").read_text(encoding="utf-8")
    out: dict[str, Entry] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            label, names, categories = line.split("\t")
            out[label] = Entry(_split(names), _split(categories))
    return out


@cache
def _by_key() -> dict[str, Entry]:
    return {_key(label): entry for label, entry in lexicon().items()}


def entry(label: str) -> Entry | None:
    """The lexicon entry of a label (exact, then case/space/punctuation-insensitive), or None."""
    return lexicon().get(label) or _by_key().get(_key(label))


def names(label: str) -> tuple[str, ...]:
    """What people may call an object of this label: its own words first, then other names."""
    own = label_words(label).replace("_", " ").strip()
    found = entry(label)
    return tuple(dict.fromkeys([own, *(found.names if found else ())]))


def categories(label: str) -> tuple[str, ...]:
    """Category words of a label ("fruit", "appliance"); empty when the label is unknown."""
    found = entry(label)
    return found.categories if found else ()


def stem(word: str) -> str:
    """A lower-case word with its plural ending crudely removed, so that singular and plural
    meet ("knives"/"knife" -> "knif", "shelves"/"shelf" -> "shelf", "dishes" -> "dish")."""
    if word.endswith("ves") and len(word) > 4:
        word = word[:-3] + "f"
    elif word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh", "o")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 2:
        word = word[:-1]
    return word[:-2] + "f" if word.endswith("fe") else word


def stems(text: str) -> tuple[str, ...]:
    """Stems of the words of a text (lower-cased), in order."""
    return tuple(stem(w) for w in _WORD.findall(text.lower()))
