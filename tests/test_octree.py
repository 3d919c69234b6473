"""Tests of the linear octree: every query against brute force, Morton codes, occupancy updates,
bad input, removal / decay, free-space rays, persistence and open3d interop."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from embodmem import morton
from embodmem.errors import (
    EmbodmemError,
    OutOfBoundsError,
    QueryError,
    SnapshotError,
    ValidationError,
)
from embodmem.octree import OFFSET, Octree, logit

RES = 0.1
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EPS = 1e-9


# ----------------------------------------------------------------- brute force reference
class Reference:
    """The expected voxel map, kept with dicts: index -> object id (max id of a batch wins,
    -1 never overwrites) and index -> hit count."""

    def __init__(self, res: float) -> None:
        self.res = res
        self.obj: dict[tuple[int, int, int], int] = {}
        self.hits: dict[tuple[int, int, int], int] = {}

    def insert(self, pts: np.ndarray, ids: np.ndarray | None) -> None:
        batch: dict[tuple[int, int, int], int] = {}
        for p, i in zip(pts, ids if ids is not None else [-1] * len(pts), strict=True):
            key = tuple(int(v) for v in np.floor(p / self.res))
            batch[key] = max(batch.get(key, -1), int(i))
            self.hits[key] = self.hits.get(key, 0) + 1
        for key, i in batch.items():
            if i >= 0 or key not in self.obj:
                self.obj[key] = i

    def centres(self) -> np.ndarray:
        idx = np.array(sorted(self.obj), dtype=np.float64).reshape(-1, 3)
        return (idx + 0.5) * self.res

    def ids(self) -> np.ndarray:
        return np.array([self.obj[k] for k in sorted(self.obj)], dtype=np.int64)


def rows(a: np.ndarray) -> set[tuple[float, ...]]:
    return {tuple(np.round(r, 9)) for r in np.asarray(a).reshape(-1, 3)}


def clouds(n_max: int = 60, span: float = 1.0):
    """Point batches in a small region straddling the origin (so voxels repeat and the signed
    Morton offset matters), each with optional object ids."""
    batch = st.integers(1, n_max).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, (n, 3), elements=st.floats(-span, span, allow_nan=False)),
            st.one_of(st.none(), hnp.arrays(np.int64, (n,), elements=st.integers(-1, 6))),
        )
    )
    return st.lists(batch, min_size=1, max_size=3)


def build(batches: list, res: float = RES) -> tuple[Octree, Reference]:
    tree, ref = Octree(res), Reference(res)
    for t, (pts, ids) in enumerate(batches):
        tree.insert_points(pts, time_ns=t, object_ids=ids)
        ref.insert(pts, ids)
        if t == 0:
            tree.compact()  # later batches go to the write buffer: queries search both runs
    return tree, ref


points3 = st.tuples(*[st.floats(-1.5, 1.5, allow_nan=False)] * 3)


# ------------------------------------------------------------------------------ Morton
@given(
    hnp.arrays(
        np.int64,
        st.tuples(st.integers(0, 50), st.just(3)),
        elements=st.integers(0, morton.MAX_INDEX),
    )
)
def test_morton_round_trip(index):
    codes = morton.encode(index)
    assert codes.dtype == np.uint64
    assert np.array_equal(morton.decode(codes), index)


@given(
    st.lists(st.integers(0, morton.MAX_INDEX), min_size=3, max_size=3),
    st.lists(st.integers(0, 40), min_size=3, max_size=3),
    st.integers(0, 4),
)
def test_cell_starts_match_encoded_cells(lo, size, level):
    hi = [min(a + s, morton.MAX_INDEX) for a, s in zip(lo, size, strict=True)]
    got = np.sort(morton.cell_starts(lo, hi, level))
    axes = [np.arange(a >> level, (b >> level) + 1) for a, b in zip(lo, hi, strict=True)]
    cells = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    assert np.array_equal(got, np.sort(morton.encode(cells) << np.uint64(3 * level)))


def test_morton_order_of_a_cell_is_contiguous():
    """All voxels of an aligned 4x4x4 cell are one key range of length 64."""
    base = np.array([[8, 4, 12]])
    cell = base + np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), -1).reshape(-1, 3)
    keys = np.sort(morton.encode(cell))
    assert keys[-1] - keys[0] == 63 and keys[0] % 64 == 0


# ------------------------------------------------------------------- queries vs brute force
@SETTINGS
@given(clouds(), points3, st.floats(0, 1.2))
def test_query_radius_matches_brute_force(batches, centre, r):
    tree, ref = build(batches)
    got = tree.query_radius(centre, r)
    assert len(rows(got)) == len(got) == len(tree.query_radius(np.array(centre), r))
    cs = ref.centres()
    d = np.linalg.norm(cs - np.array(centre), axis=1)
    assert rows(cs[d <= r - EPS]) <= rows(got) <= rows(cs[d <= r + EPS])


@SETTINGS
@given(clouds(), points3, points3)
def test_query_box_matches_brute_force(batches, a, b):
    tree, ref = build(batches)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    got = tree.query_box(lo, hi)
    cs = ref.centres()
    inside = ((cs >= lo) & (cs <= hi)).all(axis=1)
    assert rows(got) == rows(cs[inside]) and len(got) == inside.sum()


@SETTINGS
@given(clouds(), points3, st.integers(1, 30))
def test_knn_matches_brute_force(batches, p, k):
    tree, ref = build(batches)
    centres, dist = tree.knn(p, k)
    cs = ref.centres()
    d = np.sort(np.linalg.norm(cs - np.array(p), axis=1))[:k]
    assert len(dist) == len(centres) == min(k, len(cs))
    np.testing.assert_allclose(dist, d, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(centres - np.array(p), axis=1), dist, atol=1e-9)
    assert len(rows(centres)) == len(centres)


@SETTINGS
@given(clouds(), points3, st.floats(0, 1.5))
def test_objects_near_matches_brute_force(batches, p, r):
    tree, ref = build(batches)
    got = tree.objects_near(p, r)
    cs, ids = ref.centres(), ref.ids()
    d = np.linalg.norm(cs - np.array(p), axis=1)
    expected = {int(i): float(d[ids == i].min()) for i in np.unique(ids[ids >= 0])}
    sure = {i for i, v in expected.items() if v <= r - EPS}
    maybe = {i for i, v in expected.items() if v <= r + EPS}
    assert sure <= {i for i, _ in got} <= maybe
    for i, dist in got:
        assert dist == pytest.approx(expected[i], abs=1e-9)
    assert [dist for _, dist in got] == sorted(dist for _, dist in got)


def slab(origin: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray, margin: float = 0):
    """(entry, exit) distances of a ray through boxes (n, 3) (inf-safe for zero components);
    on an axis the ray does not move along, the origin must be `margin` inside the box."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a, b = (lo - origin) / d, (hi - origin) / d
    inside = (origin >= lo + margin) & (origin <= hi - margin)
    near = np.where(d == 0, np.where(inside, -np.inf, np.inf), np.minimum(a, b))
    far = np.where(d == 0, np.where(inside, np.inf, -np.inf), np.maximum(a, b))
    return np.maximum(near.max(axis=1), 0.0), far.min(axis=1)


@SETTINGS
@given(
    clouds(n_max=30),
    points3,
    st.tuples(*[st.floats(-1, 1, allow_nan=False)] * 3).filter(lambda v: math.hypot(*v) > 1e-3),
    st.floats(0.01, 4),
)
def test_raycast_finds_the_first_voxel_entered(batches, origin, direction, max_range):
    tree, ref = build(batches)
    o, d = np.array(origin), np.array(direction) / np.linalg.norm(direction)
    cs = ref.centres()
    entry, exit_ = slab(o, d, cs - RES / 2, cs + RES / 2)
    entry_in, exit_in = slab(o, d, cs - RES / 2, cs + RES / 2, margin=1e-9)
    proper = (exit_in - entry_in > 1e-7) & (entry_in <= max_range - 1e-7)  # not just grazed
    hit = tree.raycast(origin, direction, max_range)
    if proper.any():
        assert hit is not None
        assert hit.distance <= entry_in[proper].min() + 1e-7
    if hit is not None:
        i = np.flatnonzero((np.abs(cs - hit.centre) < 1e-9).all(axis=1))
        assert len(i) == 1, "the hit is a stored voxel"
        assert entry[i[0]] <= exit_[i[0]] + 1e-9 and entry[i[0]] <= max_range + 1e-7
        assert hit.distance == pytest.approx(entry[i[0]], abs=1e-7)
        assert hit.object_id == ref.ids()[i[0]]


@SETTINGS
@given(clouds(), st.integers(0, 21))
def test_level_keys_count_voxels_per_coarse_cell(batches, depth):
    tree, ref = build(batches)
    keys, counts = tree.level_keys(depth)
    idx = np.array(sorted(ref.obj), dtype=np.int64).reshape(-1, 3) + OFFSET
    cells = morton.encode(idx) >> np.uint64(3 * (21 - depth))
    exp_keys, exp_counts = np.unique(cells, return_counts=True)
    assert np.array_equal(keys, exp_keys) and np.array_equal(counts, exp_counts)
    assert counts.sum() == len(tree)
    centres = tree.cell_centres(keys, depth)
    for c, k in zip(centres, keys, strict=True):  # every cell centre lies in its own cell
        ijk = np.floor(c / RES).astype(np.int64) + OFFSET
        assert morton.encode(ijk[None])[0] >> np.uint64(3 * (21 - depth)) == k
        assert np.all(np.abs(((c / RES + OFFSET) / 2 ** (21 - depth)) % 1.0 - 0.5) < 1e-6)


def test_far_coordinates_and_both_runs_are_searched():
    """Voxels far from the origin, some in the write buffer and some merged, all found."""
    rng = np.random.default_rng(3)
    tree = Octree(0.05)
    big = rng.uniform(-50_000, 50_000, (200_000, 3))
    tree.insert_points(big)  # large enough to be merged into the main run
    near = rng.uniform(1000, 1001, (500, 3))
    tree.insert_points(near)  # stays in the write buffer
    assert len(tree._buf) and len(tree._main)
    got = tree.query_box([1000, 1000, 1000], [1001, 1001, 1001])
    expected = {tuple(r) for r in np.floor(near / 0.05).astype(np.int64)}
    assert {tuple(r) for r in np.floor(got / 0.05).astype(np.int64)} == expected
    far = big[7]
    assert len(tree.query_radius(far, 0.05)) >= 1
    assert tree.knn(far, 1)[1][0] <= 0.05 * math.sqrt(3) / 2 + 1e-9


# ---------------------------------------------------------------------- occupancy updates
def test_insert_reports_counts_and_drops_nonfinite():
    tree = Octree(0.1)
    pts = np.array([[0.01, 0.01, 0.01], [0.02, 0.02, 0.02], [np.nan, 0, 0], [0.5, 0.5, np.inf]])
    res = tree.insert_points(pts, object_ids=[1, 2, 3, 4])
    assert (res.inserted, res.new_voxels, res.dropped) == (2, 1, 2)
    assert len(tree) == 1 and tree.objects_near([0, 0, 0], 1.0)[0][0] == 2
    again = tree.insert_points(pts[:1], time_ns=5)
    assert (again.inserted, again.new_voxels, again.dropped) == (1, 0, 0)
    state = tree.state_dict()
    assert state["hits"].tolist() == [3] and state["last_seen_ns"].tolist() == [5]
    assert state["object_ids"].tolist() == [2], "-1 (no id) never overwrites an id"


def test_log_odds_follow_octomap_and_clamp():
    tree = Octree(0.1)
    for _ in range(10):
        tree.insert_points([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # one hit per voxel per batch
    lo = tree.state_dict()["logodds"][0]
    assert lo == pytest.approx(logit(0.97), abs=1e-6)
    tree.insert_points([[0.0, 0.0, 0.0]])
    assert tree.state_dict()["logodds"][0] == pytest.approx(logit(0.97), abs=1e-6)
    one = Octree(0.1)
    one.insert_points([[0.0, 0.0, 0.0]])
    assert one.state_dict()["logodds"][0] == pytest.approx(logit(0.7), abs=1e-6)


def test_empty_cloud_is_a_no_op():
    tree = Octree()
    before = tree.state_dict()
    assert tree.insert_points(np.empty((0, 3))) == (0, 0, 0, 0)
    assert tree.insert_points([]) == (0, 0, 0, 0)
    assert len(tree) == 0 and tree.query_radius([0, 0, 0], 5).shape == (0, 3)
    assert tree.knn([0, 0, 0], 3)[0].shape == (0, 3) and tree.objects_near([0, 0, 0], 1) == []
    assert tree.raycast([0, 0, 0], [1, 0, 0], 10) is None
    assert_same_state(before, tree.state_dict())


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype, k
        else:
            assert a[k] == b[k], k


BAD_INSERTS = [
    (dict(points=np.zeros((4, 2))), ValidationError, "points"),
    (dict(points="abc"), ValidationError, "points"),
    (dict(points=[[0, 0, 0], [1e9, 0, 0]]), OutOfBoundsError, "points[1]"),
    (dict(points=[[0, 0, 0], [0, -52_430, 0]]), OutOfBoundsError, "points[1]"),
    (dict(points=np.zeros((3, 3)), object_ids=[1, 2]), ValidationError, "object_ids"),
    (dict(points=np.zeros((3, 3)), object_ids=[1.5, 2, 3]), ValidationError, "object_ids"),
    (dict(points=np.zeros((3, 3)), object_ids=[1, -2, 3]), ValidationError, "object_ids"),
    (dict(points=np.zeros((3, 3)), object_ids=[True, False, True]), ValidationError, "object_ids"),
    (
        dict(points=np.zeros((1, 3)), object_ids=np.array([2**63], np.uint64)),
        ValidationError,
        "object_ids",
    ),
    (dict(points=np.zeros((3, 3)), time_ns=-1), ValidationError, "time_ns"),
    (dict(points=np.zeros((3, 3)), time_ns=1.5), ValidationError, "time_ns"),
]


@pytest.mark.parametrize(("kwargs", "error", "field"), BAD_INSERTS)
def test_bad_insert_raises_and_leaves_tree_unchanged(kwargs, error, field):
    tree = Octree(0.05)
    tree.insert_points(
        np.random.default_rng(0).uniform(-2, 2, (500, 3)), time_ns=3, object_ids=np.arange(500) % 7
    )
    before = tree.state_dict()
    with pytest.raises(error) as exc:
        tree.insert_points(**kwargs)
    assert exc.value.field == field and field in str(exc.value)
    with pytest.raises(error):
        tree.insert_scan([0, 0, 0], **kwargs)
    assert_same_state(before, tree.state_dict())
    assert len(tree) == len(before["keys"])


def test_out_of_bounds_error_names_the_value():
    tree = Octree(0.05)
    with pytest.raises(OutOfBoundsError) as exc:
        tree.insert_points([[0.0, 0.0, 0.0], [60_000.0, 1.0, 2.0]])
    assert "60000" in str(exc.value)
    limit = (1 << 20) * 0.05
    tree.insert_points([[limit - 0.01, -limit, 0.0]])  # the extreme voxels are representable
    assert len(tree) == 1
    with pytest.raises(OutOfBoundsError):
        tree.insert_points([[limit, 0.0, 0.0]])


def test_queries_from_outside_the_grid_find_what_is_in_reach() -> None:
    """The grid bounds inserts; queries may start anywhere in the coordinate domain."""
    t = Octree(resolution=0.05)
    t.insert_points(np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]), object_ids=np.array([3, 4]))
    far = [9e4, 0.0, 0.0]  # beyond the grid's 52.4 km
    hit = t.raycast(far, [-1, 0, 0], 1e6)
    assert hit is not None and hit.object_id == 4
    assert [i for i, _ in t.objects_near(far, 1e5)] == [4, 3]
    assert np.allclose(t.knn(far, 1)[0], [[1.025, 0.025, 0.025]])
    assert len(t.query_box([-9e4] * 3, [9e4] * 3)) == 2
    assert len(t.query_radius(far, 1.0)) == 0
    with pytest.raises(OutOfBoundsError, match="origin"):
        t.insert_scan(far, np.zeros((1, 3)))


@pytest.mark.parametrize(
    ("call", "error", "field"),
    [
        (lambda t: t.query_radius([0, 0, np.nan], 1), ValidationError, "center[2]"),
        (lambda t: t.query_radius([0, 0, 0], -1), QueryError, "r"),
        (lambda t: t.query_radius([1e9, 0, 0], 1), OutOfBoundsError, "center"),
        (lambda t: t.query_box([1, 0, 0], [0, 1, 1]), QueryError, "hi"),
        (lambda t: t.query_box([0, 0], [1, 1, 1]), ValidationError, "lo"),
        (lambda t: t.knn([0, 0, 0], 0), QueryError, "k"),
        (lambda t: t.knn([0, 0, 0], 2.5), QueryError, "k"),
        (lambda t: t.objects_near([0, 0, 0], math.inf), ValidationError, "r"),
        (lambda t: t.raycast([0, 0, 0], [0, 0, 0], 1), QueryError, "direction"),
        (lambda t: t.raycast([0, 0, 0], [1, 0, 0], -1), QueryError, "max_range"),
        (lambda t: t.level_keys(22), QueryError, "depth"),
        (lambda t: t.remove_object(-1), ValidationError, "object_id"),
        (lambda t: t.decay(10, 0), ValidationError, "half_life_s"),
        (lambda t: t.decay(-1, 1), ValidationError, "now_ns"),
        (lambda t: t.insert_scan([0, 0, 1e9], np.zeros((2, 3))), OutOfBoundsError, "origin"),
    ],
)
def test_bad_queries_raise_named_errors(call, error, field):
    tree = Octree(0.05)
    tree.insert_points(
        np.random.default_rng(1).uniform(-1, 1, (200, 3)), object_ids=np.ones(200, np.int64)
    )
    before = tree.state_dict()
    with pytest.raises(error) as exc:
        call(tree)
    assert exc.value.field == field
    assert isinstance(exc.value, EmbodmemError)
    assert_same_state(before, tree.state_dict())


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(resolution=0),
        dict(resolution=float("nan")),
        dict(prob_hit=0.4),
        dict(prob_miss=0.6),
        dict(clamp_min=0.6),
        dict(clamp_max=0.4),
        dict(occupancy_threshold=1.0),
        dict(free_space="yes"),
        dict(free_space_level=11),
    ],
)
def test_bad_constructor_arguments(kwargs):
    with pytest.raises(ValidationError) as exc:
        Octree(**kwargs)
    assert exc.value.field == next(iter(kwargs))


# --------------------------------------------------------------------- removal and decay
def test_remove_object_clears_only_its_voxels():
    tree = Octree(0.1)
    rng = np.random.default_rng(2)
    pts = rng.uniform(-1, 1, (300, 3))
    ids = rng.integers(-1, 4, 300)
    tree.insert_points(pts, object_ids=ids)
    ref = Reference(0.1)
    ref.insert(pts, ids)
    n2 = int((ref.ids() == 2).sum())
    assert tree.remove_object(2) == n2
    assert len(tree) == len(ref.obj) - n2
    assert 2 not in {i for i, _ in tree.objects_near([0, 0, 0], 5.0)}
    assert {i for i, _ in tree.objects_near([0, 0, 0], 5.0)} == set(ref.ids()[ref.ids() >= 0]) - {2}
    assert tree.remove_object(2) == 0
    keep = ref.ids() != 2
    assert rows(tree.query_box([-2, -2, -2], [2, 2, 2])) == rows(ref.centres()[keep])


def test_decay_halves_log_odds_and_forgets_stale_voxels():
    tree = Octree(0.1)
    sec = 1_000_000_000
    tree.insert_points([[0.0, 0.0, 0.0]], time_ns=0, object_ids=[1])
    for _ in range(5):  # saturated at logit(0.97) = 3.48
        tree.insert_points([[1.0, 0.0, 0.0]], time_ns=10 * sec, object_ids=[2])
    assert tree.decay(10 * sec, half_life_s=10.0) == 0  # 1 half-life: 0.85 -> 0.42 (kept)
    lo = tree.state_dict()["logodds"]
    assert lo.tolist() == pytest.approx([logit(0.7) / 2, logit(0.97)], abs=1e-5)
    assert tree.decay(10 * sec, half_life_s=10.0) == 0, "no time passed: no further decay"
    assert tree.decay(20 * sec, half_life_s=10.0) == 1  # 0.21 < one miss (0.405): forgotten
    assert len(tree) == 1 and [i for i, _ in tree.objects_near([0, 0, 0], 5)] == [2]
    assert tree.state_dict()["logodds"][0] == pytest.approx(logit(0.97) / 2, abs=1e-5)
    with pytest.raises(ValidationError):
        tree.decay(15 * sec, half_life_s=10.0)
    assert tree.decay(10_000 * sec, half_life_s=10.0) == 1 and len(tree) == 0


# ---------------------------------------------------------------------- free-space rays
def wall_and_box() -> tuple[np.ndarray, np.ndarray]:
    g = np.arange(-0.5, 0.5, 0.02)
    yy, zz = np.meshgrid(g, g)
    wall = np.column_stack([np.full(yy.size, 3.0), yy.ravel(), zz.ravel() + 1.0])
    box = np.column_stack([np.full(yy.size, 1.5), yy.ravel() * 0.4, zz.ravel() * 0.4 + 1.0])
    return wall, box


def test_free_space_rays_clear_an_object_that_moved():
    wall, box = wall_and_box()
    origin = [0.0, 0.0, 1.0]
    tree = Octree(0.05, free_space=True)
    tree.insert_scan(
        origin,
        np.vstack([wall, box]),
        object_ids=np.r_[np.full(len(wall), 1), np.full(len(box), 2)],
    )
    assert {i for i, _ in tree.objects_near([1.5, 0, 1], 0.2)} == {2}
    for t in range(1, 4):  # the box is gone: rays now reach the wall through it
        res = tree.insert_scan(origin, wall, time_ns=t, object_ids=np.full(len(wall), 1))
    assert res.missed > 0
    assert tree.objects_near([1.5, 0, 1], 0.2) == [], "box voxels fell below the threshold"
    assert len(tree.query_radius([3.0, 0, 1.0], 0.3)) > 0, "the wall stays"
    assert len(tree) == tree.voxel_count - len(box_voxels(box))


def box_voxels(box: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(r) for r in np.floor(box / 0.05).astype(np.int64)}


def test_insert_scan_without_free_space_equals_insert_points():
    wall, box = wall_and_box()
    a, b = Octree(0.05), Octree(0.05)
    a.insert_scan([0, 0, 1], np.vstack([wall, box]))
    a.insert_scan([0, 0, 1], wall)
    b.insert_points(np.vstack([wall, box]))
    b.insert_points(wall)
    assert_same_state(a.state_dict(), b.state_dict())


# ---------------------------------------------------------------------- object index
def objects_brute(tree: Octree, p) -> dict[int, float]:
    """{object id: distance from p to its nearest occupied voxel centre}, from the tree's voxels."""
    centres, ids = tree.occupied_voxels()
    d = np.linalg.norm(centres - np.array(p, dtype=np.float64), axis=1)
    return {int(i): float(d[ids == i].min()) for i in np.unique(ids[ids >= 0])}


def assert_objects_near(tree: Octree, p, r: float) -> None:
    """`objects_near`, the object index (built now if stale) and the voxel-only answer all
    match brute force: ids within r, exact distances, nearest first with ties by id."""
    expected = objects_brute(tree, p)
    sure = {i for i, v in expected.items() if v <= r - EPS}
    maybe = {i for i, v in expected.items() if v <= r + EPS}
    ids, d2 = tree._object_index().nearest(tree._voxel_units(p), r / tree.resolution)
    from_index = list(zip(ids.tolist(), (np.sqrt(d2) * tree.resolution).tolist(), strict=True))
    ids, d2 = tree._objects_near_voxels(p, r)
    from_voxels = list(zip(ids.tolist(), (np.sqrt(d2) * tree.resolution).tolist(), strict=True))
    for got in (tree.objects_near(p, r), from_index, from_voxels):
        assert sure <= {i for i, _ in got} <= maybe
        for i, dist in got:
            assert dist == pytest.approx(expected[i], abs=1e-9)
        assert got == sorted(got, key=lambda item: (item[1], item[0]))
    assert [i for i, _ in from_index] == [i for i, _ in from_voxels]


def labelled(n_max: int = 40, span: float = 1.2):
    return st.integers(1, n_max).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, (n, 3), elements=st.floats(-span, span, allow_nan=False)),
            st.one_of(st.none(), hnp.arrays(np.int64, (n,), elements=st.integers(-1, 5))),
        )
    )


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), labelled()),
        st.tuples(st.just("scan"), labelled(), points3),
        st.tuples(st.just("remove"), st.integers(0, 5)),
        st.tuples(st.just("decay"), st.integers(0, 4), st.floats(0.5, 8)),
        st.tuples(st.just("compact")),
        st.tuples(st.just("reload")),
    ),
    min_size=1,
    max_size=10,
)


@SETTINGS
@given(OPERATIONS, points3, st.floats(0, 2.0))
def test_object_index_stays_exact_under_every_change(ops, p, r):
    """The index is built after every change, so each change that touches voxel ids (labels,
    free-space misses, removal, decay, reload) must drop it or answers go stale."""
    tree = Octree(RES, free_space=True, free_space_level=1)
    start = np.random.default_rng(0).uniform(-1, 1, (150, 3))
    tree.insert_points(start, object_ids=np.arange(150) % 6)
    assert_objects_near(tree, p, r)
    now = 0
    for op in ops:
        if op[0] == "insert":
            tree.insert_points(op[1][0], time_ns=now, object_ids=op[1][1])
        elif op[0] == "scan":
            tree.insert_scan(op[2], op[1][0], time_ns=now, object_ids=op[1][1])
        elif op[0] == "remove":
            tree.remove_object(op[1])
        elif op[0] == "decay":
            now += op[1] * 1_000_000_000
            tree.decay(now, half_life_s=op[2])
        elif op[0] == "compact":
            tree.compact()
        else:
            tree = Octree.from_state_dict(tree.state_dict())
        assert_objects_near(tree, p, r)


def test_object_index_is_dropped_only_when_ids_change():
    rng = np.random.default_rng(8)
    pts, ids = rng.uniform(-1, 1, (400, 3)), rng.integers(-1, 5, 400)
    tree = Octree(0.1)
    tree.insert_points(pts, object_ids=ids)
    assert tree.object_index_nbytes == 0, "built lazily"
    tree.build_object_index()
    built = tree.object_index_nbytes
    assert built > 0
    tree.insert_points(pts, object_ids=ids)  # the same labels again
    tree.insert_points(rng.uniform(-1, 1, (50, 3)))  # new voxels without ids
    tree.compact()
    assert tree.object_index_nbytes == built
    assert_objects_near(tree, [0.1, 0.2, 0.3], 0.8)
    tree.insert_points(pts[:1], object_ids=[7])  # a voxel changes owner
    assert tree.object_index_nbytes == 0
    assert_objects_near(tree, pts[0], 0.5)


def test_stale_index_is_rebuilt_once_voxel_answers_cost_as_much():
    """Right after a change, queries are answered from the voxels; once they have cost as much
    time as the last build, the next query rebuilds the index (the ski-rental rule)."""
    rng = np.random.default_rng(9)
    tree = Octree(0.1)
    tree.insert_points(rng.uniform(-2, 2, (3000, 3)), object_ids=rng.integers(0, 40, 3000))
    p = [0.3, -0.1, 0.2]
    before = tree.objects_near(p, 1.0)  # the first query builds
    assert tree.object_index_nbytes > 0
    tree.insert_points(rng.uniform(-2, 2, (20, 3)), object_ids=np.full(20, 41))
    assert tree.object_index_nbytes == 0
    answers = []
    for _ in range(100_000):
        answers.append(tree.objects_near(p, 1.0))
        if tree.object_index_nbytes:
            break
    assert tree.object_index_nbytes > 0, "rebuilt after a bounded number of voxel answers"
    assert len(answers) >= 2, "the first query after the change was answered from the voxels"
    assert all(a == answers[0] for a in answers)
    assert {i for i, _ in before} <= {i for i, _ in answers[0]} | {41}
    assert_objects_near(tree, p, 1.0)


def test_object_ids_far_apart_use_the_fallback_sort():
    tree = Octree(0.1)
    ids = np.array([0, 2**62, 5, 2**62 + 3])
    tree.insert_points([[0.0, 0, 0], [0.3, 0, 0], [0.6, 0, 0], [-0.4, 0, 0]], object_ids=ids)
    assert [i for i, _ in tree.objects_near([0.01, 0, 0], 0.5)] == [0, 2**62, 2**62 + 3]
    assert_objects_near(tree, [0.2, 0.1, 0.0], 1.0)


# ----------------------------------------------------------------------- persistence
def test_state_dict_round_trip_preserves_everything():
    rng = np.random.default_rng(4)
    tree = Octree(0.05, free_space=True, free_space_level=1)
    tree.insert_points(
        rng.uniform(-3, 3, (100_000, 3)), time_ns=7, object_ids=rng.integers(-1, 50, 100_000)
    )
    tree.insert_points(rng.uniform(-3, 3, (300, 3)), time_ns=9)  # some stay in the buffer
    state = tree.state_dict()
    assert state["format"] == "embodmem.octree" and state["version"] == 1
    back = Octree.from_state_dict(state)
    assert_same_state(state, back.state_dict())
    assert len(back) == len(tree)
    p = [0.3, -0.2, 0.1]
    assert rows(back.query_radius(p, 0.5)) == rows(tree.query_radius(p, 0.5))
    assert back.objects_near(p, 0.5) == tree.objects_near(p, 0.5)
    state["keys"][0] = 0  # the caller's copy: mutating it must not touch the tree
    assert back.state_dict()["keys"][0] != 0 or tree.state_dict()["keys"][0] == 0


def test_state_dict_through_the_json_store():
    from embodmem import store

    tree = Octree(0.05)
    tree.insert_points(
        np.random.default_rng(5).uniform(-1, 1, (1000, 3)), object_ids=np.arange(1000)
    )
    encoded = {
        k: store.encode_array(v) if isinstance(v, np.ndarray) else v
        for k, v in tree.state_dict().items()
    }
    data = store.loads(store.dumps(encoded), "test")
    decoded = {k: store.decode_array(v, k) if isinstance(v, dict) else v for k, v in data.items()}
    assert_same_state(tree.state_dict(), Octree.from_state_dict(decoded).state_dict())


def corrupt(state: dict, **changes) -> dict:
    out = dict(state)
    out.update(changes)
    return out


@pytest.mark.parametrize(
    "change",
    [
        lambda s: corrupt(s, version=2),
        lambda s: corrupt(s, version=True),
        lambda s: corrupt(s, format="octomap"),
        lambda s: {k: v for k, v in s.items() if k != "hits"},
        lambda s: {k: v for k, v in s.items() if k != "resolution"},
        lambda s: corrupt(s, resolution=-1.0),
        lambda s: corrupt(s, keys=s["keys"].astype(np.int64)),
        lambda s: corrupt(s, logodds=s["logodds"][:-1]),
        lambda s: corrupt(s, keys=s["keys"][::-1].copy()),
        lambda s: corrupt(s, logodds=np.full_like(s["logodds"], 9.0)),
        lambda s: corrupt(s, object_ids=np.full_like(s["object_ids"], -5)),
        lambda s: corrupt(s, last_seen_ns=np.full_like(s["last_seen_ns"], -1)),
        lambda s: corrupt(s, keys=s["keys"] | np.uint64(1 << 63)),
        lambda s: "not a dict",
    ],
)
def test_bad_state_dict_raises_snapshot_error(change):
    tree = Octree(0.05)
    tree.insert_points(np.random.default_rng(6).uniform(-1, 1, (200, 3)), object_ids=np.arange(200))
    with pytest.raises(SnapshotError):
        Octree.from_state_dict(change(tree.state_dict()))


# ------------------------------------------------------------------------- open3d interop
def test_open3d_round_trip():
    o3d = pytest.importorskip("open3d")
    rng = np.random.default_rng(7)
    pts = rng.uniform(-2, 2, (5000, 3))
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    tree = Octree.from_open3d_point_cloud(pcd, resolution=0.1, time_ns=3)
    ref = Reference(0.1)
    ref.insert(pts, None)
    back = np.asarray(tree.to_open3d_point_cloud().points)
    assert rows(back) == rows(ref.centres())
    again = Octree.from_open3d_point_cloud(tree.to_open3d_point_cloud(), resolution=0.1)
    assert rows(again.occupied_voxels()[0]) == rows(back)
    grid = tree.to_open3d_voxel_grid()
    assert grid.voxel_size == pytest.approx(0.1)
    idx = np.array([v.grid_index for v in grid.get_voxels()])
    world = (idx + 0.5) * 0.1 + np.asarray(grid.origin)
    assert rows(world) == rows(ref.centres())
    from_grid = Octree.from_open3d_voxel_grid(grid, time_ns=4)
    assert from_grid.resolution == pytest.approx(0.1)
    assert rows(from_grid.occupied_voxels()[0]) == rows(ref.centres())
    with pytest.raises(ValidationError, match="grid.voxel_size"):
        Octree.from_open3d_voxel_grid(o3d.geometry.VoxelGrid())
    with pytest.raises(ValidationError):
        Octree.from_open3d_point_cloud(object())
    with pytest.raises(ValidationError):
        Octree.from_open3d_voxel_grid(object())


def test_import_does_not_load_open3d():
    code = "import sys, embodmem.octree; assert 'open3d' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
