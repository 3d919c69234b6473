"""Experience memory: recall of past episodes, where-found priors, bounds, snapshots."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embodmem.errors import ValidationError
from embodmem.experience import Episode, ExperienceMemory


def _episode(task: str, types=(), found=(), success=True, **kw) -> Episode:
    return Episode(task=task, types=tuple(types), found=tuple(found), success=success, **kw)


APPLE = _episode(
    "Put a chilled apple on the counter.",
    ("Apple", "Fridge", "CounterTop"),
    [("Apple", "Fridge", "Kitchen"), ("Apple", "CounterTop", "Kitchen")],
    plan=("navigate_to(Apple)", "pickup(Apple)", "cool(Apple)", "put(CounterTop)"),
    steps=31,
)
MUG = _episode(
    "Rinse a mug and put it in the coffee machine.",
    ("Mug", "CoffeeMachine"),
    [("Mug", "Cabinet", "Kitchen")],
)
BOOK = _episode(
    "Look at the book under the lamp.",
    ("Book", "DeskLamp"),
    [("Book", "Bed", "Bedroom")],
    success=False,
    failures=("PickupObject: Target object not found",),
)


def test_recall_ranks_by_text_and_types() -> None:
    mem = ExperienceMemory(episodes=[APPLE, MUG, BOOK])
    best = mem.recall("Chill an apple and set it on the counter", types=("Apple", "CounterTop"))
    assert best[0].episode is APPLE and best[0].type_overlap > 0
    assert mem.recall("read a book by lamp light", k=1)[0].episode is BOOK
    assert ExperienceMemory().recall("anything") == []


def test_priors_aggregate_where_a_type_was_found() -> None:
    other = _episode("Slice an apple.", ("Apple",), [("Apple", "Fridge", "Kitchen")])
    mem = ExperienceMemory(episodes=[APPLE, MUG, other])
    assert mem.priors("Apple") == [("Fridge", 2 / 3), ("CounterTop", 1 / 3)]
    assert mem.priors("Apple", by="room") == [("Kitchen", 1.0)]
    assert mem.priors("Plunger") == []


def test_it_is_bounded_and_evicts_by_its_policy() -> None:
    mem = ExperienceMemory(capacity=2, policy="lru", episodes=[APPLE, MUG])
    mem.recall("chilled apple", k=1)  # a use: the mug is now the least recently used
    mem.add(BOOK)
    assert [e.task for e in mem.episodes] == [APPLE.task, BOOK.task]
    fifo = ExperienceMemory(capacity=2, policy="fifo", episodes=[APPLE, MUG])
    fifo.recall("chilled apple", k=1)
    fifo.add(BOOK)
    assert [e.task for e in fifo.episodes] == [MUG.task, BOOK.task]


def test_round_trip_and_bad_snapshots() -> None:
    mem = ExperienceMemory(capacity=5, episodes=[APPLE, MUG, BOOK])
    mem.recall("apple")
    back = ExperienceMemory.from_dict(mem.to_dict())
    assert back.episodes == mem.episodes and back.to_dict() == mem.to_dict()
    for bad, field in (
        ({**mem.to_dict(), "format": 9}, "experience.format"),
        ({**mem.to_dict(), "episodes": "x"}, "experience.episodes"),
        ({**mem.to_dict(), "uses": [1]}, "experience.uses"),
        ({**mem.to_dict(), "capacity": 2}, "experience.episodes"),
        ({**mem.to_dict(), "episodes": [{"task": ""}], "uses": [0]}, "episode.task"),
        ({**mem.to_dict(), "episodes": [{"task": "t", "steps": -1}], "uses": [0]}, "episode.steps"),
        (
            {**mem.to_dict(), "episodes": [{"task": "t", "found": [["a"]]}], "uses": [0]},
            "episode.found[0]",
        ),
    ):
        with pytest.raises(ValidationError) as err:
            ExperienceMemory.from_dict(bad)
        assert err.value.field == field


def test_the_floor_learned_is_kept_cleared_and_checked() -> None:
    """Where moves were blocked and which floor no route reached, over every episode kept."""
    a = _episode("one", blocked=[(1.0, 2.0), (0.5, 0.25)], unreached=[(3.0, -1.0)])
    b = _episode("two", blocked=[(1.0, 2.0), (-2.0, 0.0)])
    mem = ExperienceMemory(episodes=[a, b])
    assert mem.blocked_floor() == [(-2.0, 0.0), (0.5, 0.25), (1.0, 2.0)]
    assert mem.unreached_floor() == [(3.0, -1.0)]
    back = ExperienceMemory.from_dict(mem.to_dict())
    assert back.episodes == mem.episodes and back.blocked_floor() == mem.blocked_floor()
    old = {k: v for k, v in a.to_dict().items() if k not in ("blocked", "unreached")}
    assert Episode.from_dict(old).blocked == ()  # written before the floor was kept
    for bad, field in (
        ({"task": "t", "blocked": [[1.0]]}, "episode.blocked[0]"),
        ({"task": "t", "blocked": [[1.0, float("nan")]]}, "episode.blocked[0]"),
        ({"task": "t", "unreached": [[1.0, True]]}, "episode.unreached[0]"),
        ({"task": "t", "unreached": "far"}, "episode.unreached"),
    ):
        with pytest.raises(ValidationError) as err:
            Episode.from_dict(bad)
        assert err.value.field == field
    mem.clear()
    assert len(mem) == 0 and mem.blocked_floor() == [] and mem.recall("one") == []
    mem.add(b)  # usable again after a clear
    assert mem.blocked_floor() == [(-2.0, 0.0), (1.0, 2.0)]


_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.text(max_size=5),
    st.lists(st.text(max_size=3), max_size=3),
    st.floats(allow_nan=True),
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([*Episode.__slots__, "extra"]), _value, max_size=6))
def test_hostile_episode_dicts_are_refused_cleanly(d) -> None:
    try:
        e = Episode.from_dict(d)
    except ValidationError:
        return
    assert Episode.from_dict(e.to_dict()) == e


@pytest.mark.parametrize("name", ["mem.json", "mem.sqlite"])
def test_saved_and_loaded_with_the_memory_snapshot(tmp_path, name) -> None:
    from embodmem import EmbodiedMemory
    from embodmem.embedders import HashingEmbedder

    mem = EmbodiedMemory(embedder=HashingEmbedder())
    for e in (APPLE, MUG):
        mem.experience.add(e)
    mem.save(tmp_path / name)
    back = EmbodiedMemory.load(tmp_path / name, embedder=HashingEmbedder())
    assert back.experience.episodes == [APPLE, MUG]
    assert back.experience.priors("Mug") == [("Cabinet", 1.0)]
    old = mem.to_dict()
    del old["experience"]  # a snapshot written before experience memory existed
    assert len(EmbodiedMemory.from_dict(old, embedder=HashingEmbedder()).experience) == 0
