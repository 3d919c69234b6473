"""Sparse linear octree: the spatial index of the memory (occupancy, object ids, near-X queries).

Voxels live in sorted numpy arrays keyed by 64-bit Morton codes (21 bits per axis, offset by
2**20 so negative coordinates work) with parallel per-voxel arrays: the voxel's integer
coordinates (3 x int32, so queries never decode keys), occupancy log-odds (float32), hit count
(uint32), last-seen time (int64 ns) and object id (int64, -1 = none). There is no Python object
per voxel and no pointer tree: an aligned octree cell of any level is a contiguous key range, so
a box or radius query covers its box with a few aligned cells and finds each with two binary
searches (`np.searchsorted`). Memory: 20 bytes of index (key + coordinates) and 24 bytes of
payload per voxel.

Inserts are batched: the batch is encoded, sorted and deduplicated, existing voxels are updated
in place and new voxels are merged into a small sorted write buffer, which is merged into the
main run once it exceeds an eighth of it (amortised O(1) copies per voxel). Queries search both
runs, so the voxel index is never rebuilt after an insert.

Occupancy follows OctoMap: one hit / miss per voxel per batch, log-odds clamped to
[logit(0.12), logit(0.97)], occupied at log-odds >= logit(0.5). Only voxels that were hit are
stored; free-space rays (`insert_scan`, off by default) lower the occupancy of stored voxels in
the coarse cells that the rays cross, which clears objects that moved. A voxel whose occupancy
drops below the threshold loses its object id, so every voxel with an id is occupied.

`objects_near` answers from a secondary object index, built lazily: the voxels that carry an id,
grouped by object into pieces (one object's voxels in one aligned cell of 2**PIECE_LEVEL voxels
per edge), each piece with its box. A query binary-searches the pieces by box centre x, drops
pieces whose box is out of reach, and measures exact distances (to the object's nearest voxel
centre) over the remaining pieces' voxels only. Any change of voxel ids (an insert that labels
new voxels or relabels voxels, removal, decay, free-space misses) drops the index. Until
rebuilding pays off, queries use the voxel index itself (a radius query over voxels with an id,
then the minimum per id): the index is rebuilt once the queries answered without it since the
last change have cost as much time as the last rebuild took (the ski-rental rule, at most twice
the best choice in hindsight), so an insert-query loop never pays for rebuilds it cannot use.
The index holds about 14 bytes per labelled voxel (int32 coordinates and per-piece boxes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from embodmem import morton
from embodmem.errors import OutOfBoundsError, QueryError, SnapshotError, ValidationError
from embodmem.validate import MAX_COORDINATE, finite_float, points_array, time_ns, vec3

FORMAT = "embodmem.octree"
VERSION = 1
OFFSET = 1 << (morton.BITS - 1)  # index of the voxel whose low corner is the world origin
DEPTH = morton.BITS  # depth of the leaf level; depth 0 is one cell covering everything
CELL_BITS = 2  # a query box is covered by at most (2**CELL_BITS + 1) aligned cells per axis
MIN_BUFFER = 1 << 16  # the write buffer is merged into the main run above max(this, main / 8)
RAY_CHUNK = 4096  # voxels examined per step of a ray cast
SCAN_SAMPLES = 1 << 21  # ray samples held in memory at once by a free-space scan
FIELDS = ("keys", "x", "y", "z", "logodds", "hits", "stamp", "obj")
DTYPES = {
    "keys": np.uint64,
    "x": np.int32,
    "y": np.int32,
    "z": np.int32,
    "logodds": np.float32,
    "hits": np.uint32,
    "stamp": np.int64,
    "obj": np.int64,
}
STATE_ARRAYS = {
    "keys": "keys",
    "logodds": "logodds",
    "hits": "hits",
    "last_seen_ns": "stamp",
    "object_ids": "obj",
}
HITS_MAX = np.iinfo(np.uint32).max
PIECE_LEVEL = 4  # object-index pieces: an object's voxels in one aligned cell of 16 voxels per edge
OBJECT_ARRAYS = ("x", "y", "z", "start", "count", "owner", "cx", "cy", "cz", "hy", "hz")
SLACK = 1.0  # voxels added to object-index reach tests, far above float rounding


def logit(p: float) -> float:
    """Log-odds of a probability."""
    return math.log(p / (1.0 - p))


class InsertResult(NamedTuple):
    """What an insert did: points integrated, voxels created, non-finite points dropped, and
    stored voxels updated as free space by rays."""

    inserted: int
    new_voxels: int
    dropped: int
    missed: int = 0


class RayHit(NamedTuple):
    """First occupied voxel along a ray: centre, distance where the ray enters it, object id."""

    centre: np.ndarray
    distance: float
    object_id: int


class _Run:
    """One sorted run of voxels: strictly increasing Morton keys and parallel per-voxel arrays."""

    __slots__ = FIELDS

    def __init__(self, *arrays: np.ndarray) -> None:
        for name, a in zip(FIELDS, arrays, strict=True):
            setattr(self, name, a)

    @classmethod
    def new(
        cls,
        keys: np.ndarray,
        logodds: np.ndarray,
        hits: np.ndarray,
        stamp: np.ndarray,
        obj: np.ndarray,
    ) -> _Run:
        """A run from keys and payload; the coordinates are decoded from the keys."""
        x, y, z = morton.decode_axes(keys).astype(np.int32)
        return cls(keys, x, y, z, logodds, hits, stamp, obj)

    @classmethod
    def empty(cls) -> _Run:
        return cls(*(np.empty(0, DTYPES[f]) for f in FIELDS))

    def __len__(self) -> int:
        return len(self.keys)

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(getattr(self, f) for f in FIELDS)

    def select(self, which: np.ndarray) -> _Run:
        """The voxels at an index or boolean mask."""
        return _Run(*(a[which] for a in self.arrays()))

    def merged(self, other: _Run) -> _Run:
        """Both runs as one sorted run (their keys must be disjoint)."""
        if not len(other):
            return self
        if not len(self):
            return other
        n = len(self) + len(other)
        at = np.searchsorted(self.keys, other.keys)
        at += np.arange(len(other))
        mine = np.ones(n, dtype=bool)
        mine[at] = False
        at_mine = np.flatnonzero(mine)
        out = []
        for a, b in zip(self.arrays(), other.arrays(), strict=True):
            merged = np.empty(n, dtype=a.dtype)
            merged[at] = b
            merged[at_mine] = a
            out.append(merged)
        return _Run(*out)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions of the `keys` found in this run, mask of which of them were found)."""
        if not len(self) or not len(keys):
            return np.empty(0, np.intp), np.zeros(len(keys), dtype=bool)
        # the keys of a local batch span a small slice: binary-search only that
        lo, hi = np.searchsorted(self.keys, np.array([keys.min(), keys.max()]))
        pos = np.searchsorted(self.keys[lo : hi + 1], keys)
        pos += lo
        np.minimum(pos, len(self) - 1, out=pos)
        found = self.keys[pos] == keys
        return pos[found], found

    def ranges(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Positions of the voxels whose keys fall in any of the half-open ranges [start, end)."""
        lo = np.searchsorted(self.keys, starts)
        lengths = np.searchsorted(self.keys, ends)
        lengths -= lo
        return _spans(lo, lengths)[0]

    def centres(self, pos: np.ndarray, resolution: float) -> np.ndarray:
        """World centres (N, 3) of the voxels at positions: (index + 0.5) * resolution."""
        index = np.stack((self.x.take(pos), self.y.take(pos), self.z.take(pos)), axis=1)
        out = index - (OFFSET - 0.5)
        out *= resolution
        return out


def _spans(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions of the ranges [start, start + length) one after another, offset of each
    range in them), without a Python loop."""
    offsets = lengths.cumsum()
    total = int(offsets[-1]) if len(offsets) else 0
    offsets -= lengths
    pos = (starts - offsets).repeat(lengths)
    pos += np.arange(total)
    return pos, offsets


def _dist2(axes: Sequence[np.ndarray], pos: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """Squared distances (voxel units) from q to the voxels at `pos` of coordinate arrays."""
    d2 = axes[0].take(pos) - q[0]
    d2 *= d2
    for axis, qa in zip(axes[1:], q[1:], strict=True):
        d = axis.take(pos) - qa
        d *= d
        d2 += d
    return d2


def _closest_per_id(ids: np.ndarray, d2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct ids, the smallest d2 of each), nearest first and ties by id."""
    order = ids.argsort(kind="stable")
    ids = ids.take(order)
    first = _group(ids)
    d2 = np.minimum.reduceat(d2.take(order), first) if len(first) else d2
    ids = ids.take(first)
    order = np.lexsort((ids, d2))
    return ids.take(order), d2.take(order)


def _stable_order(values: np.ndarray) -> np.ndarray:
    """Stable argsort of int64 values: one plain sort of (value - min) << bits | position when
    that fits in 63 bits (several times faster than numpy's stable argsort), else the latter."""
    n = len(values)
    bits = max(1, n.bit_length())
    low = int(values.min()) if n else 0
    if n and (int(values.max()) - low).bit_length() + bits > 63:
        return np.argsort(values, kind="stable")
    key = values - low
    key <<= bits
    key |= np.arange(n)
    key.sort()
    key &= (1 << bits) - 1
    return key


class _ObjectIndex:
    """The voxels that carry an object id, grouped into pieces: one object's voxels in one
    aligned cell of 2**PIECE_LEVEL voxels per edge, their coordinates contiguous. Pieces are
    sorted by the x of their box centre and keep the box's y / z centre and half extents, so a
    query reads only pieces near it on x, then only the voxels of pieces whose box is in reach."""

    __slots__ = (*OBJECT_ARRAYS, "half_x")

    def __init__(self, runs: Sequence[_Run]) -> None:
        has = [np.flatnonzero(run.obj >= 0) for run in runs]
        obj = np.concatenate([run.obj.take(h) for run, h in zip(runs, has, strict=True)])
        order = _stable_order(obj)  # by object; each run's voxels stay in Morton order

        def gather(field: str) -> np.ndarray:
            return np.concatenate(
                [getattr(run, field).take(h) for run, h in zip(runs, has, strict=True)]
            ).take(order)

        obj = obj.take(order)
        self.x, self.y, self.z = gather("x"), gather("y"), gather("z")
        cells = gather("keys") >> np.uint64(3 * PIECE_LEVEL)
        new_piece = np.ones(len(obj), dtype=bool)
        np.not_equal(obj[1:], obj[:-1], out=new_piece[1:])
        new_piece[1:] |= cells[1:] != cells[:-1]
        first = np.flatnonzero(new_piece)
        centre, half = [], []
        for axis in (self.x, self.y, self.z):
            lo, hi = np.minimum.reduceat(axis, first), np.maximum.reduceat(axis, first)
            centre.append((lo + hi) * 0.5)
            half.append((hi - lo) * 0.5)
        by_x = np.argsort(centre[0], kind="stable")
        self.start = first.take(by_x)
        self.count = np.diff(np.append(first, len(obj))).take(by_x)
        self.owner = obj.take(first).take(by_x)
        self.cx, self.cy, self.cz = (c.take(by_x) for c in centre)
        self.hy, self.hz = half[1].take(by_x), half[2].take(by_x)
        self.half_x = float(half[0].max()) if len(first) else 0.0

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, f).nbytes for f in OBJECT_ARRAYS)

    def nearest(self, q: Sequence[float], ru: float) -> tuple[np.ndarray, np.ndarray]:
        """(ids, squared distances) of the objects with a voxel centre within ru of q, nearest
        first (voxel units; see `_closest_per_id`)."""
        reach = ru + self.half_x + SLACK
        a, b = self.cx.searchsorted((q[0] - reach, q[0] + reach))
        out = self.cy[a:b] - q[1]
        np.abs(out, out=out)
        out -= self.hy[a:b]
        dz = self.cz[a:b] - q[2]
        np.abs(dz, out=dz)
        dz -= self.hz[a:b]
        np.maximum(out, dz, out=out)  # a lower bound of the box's distance from q
        cand = (out <= ru + SLACK).nonzero()[0]
        if not len(cand):
            return np.empty(0, np.int64), np.empty(0)
        cand += a
        pos, offsets = _spans(self.start.take(cand), self.count.take(cand))
        d2 = np.minimum.reduceat(_dist2((self.x, self.y, self.z), pos, q), offsets)
        keep = (d2 <= ru * ru).nonzero()[0]
        return _closest_per_id(self.owner.take(cand.take(keep)), d2.take(keep))


def _group(keys: np.ndarray) -> np.ndarray:
    """Start positions of the runs of equal values in a sorted array."""
    flag = np.empty(len(keys), dtype=bool)
    flag[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=flag[1:])
    return flag.nonzero()[0]


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort + group: much faster than `np.unique` on large arrays)."""
    values = np.sort(values)
    return values[_group(values)]


def _coalesce(cells: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Key ranges [start, end) of sorted cell codes at a level, adjacent cells joined."""
    shift = np.uint64(3 * level)
    starts = cells << shift
    ends = (cells + np.uint64(1)) << shift
    gap = np.empty(len(cells), dtype=bool)
    gap[:1] = True
    np.not_equal(starts[1:], ends[:-1], out=gap[1:])
    first = np.flatnonzero(gap)
    return starts[first], ends[np.append(first[1:] - 1, len(cells) - 1)]


def _depth(field: str, depth: Any) -> int:
    if (
        isinstance(depth, bool)
        or not isinstance(depth, (int, np.integer))
        or not 0 <= depth <= DEPTH
    ):
        raise QueryError(field, depth, f"expected an integer in 0..{DEPTH}")
    return int(depth)


class Octree:
    """Sparse linear octree over a fixed voxel grid with OctoMap-style occupancy.

    `resolution` is the voxel edge in metres; coordinates must lie in
    [-2**20 * resolution, 2**20 * resolution) on every axis (about +-52 km at 5 cm).
    """

    def __init__(
        self,
        resolution: float = 0.05,
        prob_hit: float = 0.7,
        prob_miss: float = 0.4,
        clamp_min: float = 0.12,
        clamp_max: float = 0.97,
        occupancy_threshold: float = 0.5,
        free_space: bool = False,
        free_space_level: int = 2,
    ) -> None:
        res = finite_float("resolution", resolution)
        if res <= 0:
            raise ValidationError("resolution", resolution, "must be > 0")
        probs = {}
        for name, p in (
            ("prob_hit", prob_hit),
            ("prob_miss", prob_miss),
            ("clamp_min", clamp_min),
            ("clamp_max", clamp_max),
            ("occupancy_threshold", occupancy_threshold),
        ):
            probs[name] = finite_float(name, p)
            if not 0.0 < probs[name] < 1.0:
                raise ValidationError(name, p, "must be a probability strictly between 0 and 1")
        if probs["prob_hit"] <= 0.5:
            raise ValidationError("prob_hit", prob_hit, "must be > 0.5")
        if probs["prob_miss"] >= 0.5:
            raise ValidationError("prob_miss", prob_miss, "must be < 0.5")
        if probs["clamp_min"] >= probs["occupancy_threshold"]:
            raise ValidationError("clamp_min", clamp_min, "must be < occupancy_threshold")
        if probs["clamp_max"] <= probs["occupancy_threshold"]:
            raise ValidationError("clamp_max", clamp_max, "must be > occupancy_threshold")
        if not isinstance(free_space, bool):
            raise ValidationError("free_space", free_space, "expected a bool")
        if (
            isinstance(free_space_level, bool)
            or not isinstance(free_space_level, int)
            or not 0 <= free_space_level <= 10
        ):
            raise ValidationError(
                "free_space_level",
                free_space_level,
                "expected an integer level in 0..10 (cells of 2**level voxels)",
            )
        self.resolution = res
        self.probs = probs
        self.free_space = free_space
        self.free_space_level = free_space_level
        self._hit = np.float32(logit(probs["prob_hit"]))
        self._miss = np.float32(logit(probs["prob_miss"]))
        self._lmin = np.float32(logit(probs["clamp_min"]))
        self._lmax = np.float32(logit(probs["clamp_max"]))
        self._thr = np.float32(logit(probs["occupancy_threshold"]))
        self._main = _Run.empty()
        self._buf = _Run.empty()
        self._occupied = 0
        self._lo: list[int] | None = None  # conservative index bounds of the stored voxels
        self._hi: list[int] | None = None
        self._decayed_ns = 0
        self._objects: _ObjectIndex | None = None  # None: stale (voxel ids changed since built)
        self._rebuild_s = 0.0  # how long the last object-index build took
        self._stale_s = 0.0  # time spent answering `objects_near` without it since it went stale

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        """Number of occupied voxels."""
        return self._occupied

    def __repr__(self) -> str:
        return (
            f"Octree(resolution={self.resolution}, occupied={self._occupied}, "
            f"stored={self.voxel_count})"
        )

    @property
    def voxel_count(self) -> int:
        """Stored voxels, occupied or not (free-space rays can push stored voxels below)."""
        return len(self._main) + len(self._buf)

    @property
    def nbytes(self) -> int:
        """Bytes held by the voxel arrays (keys, coordinates and per-voxel payload)."""
        return sum(a.nbytes for run in (self._main, self._buf) for a in run.arrays())

    @property
    def object_index_nbytes(self) -> int:
        """Bytes held by the object index of `objects_near` (0 while it is not built)."""
        return self._objects.nbytes if self._objects is not None else 0

    def _runs(self) -> tuple[_Run, ...]:
        return (self._main, self._buf) if len(self._buf) else (self._main,)

    def _centre(self, i: int) -> float:
        """World coordinate of the centre of voxel index i on one axis."""
        return (i - (OFFSET - 0.5)) * self.resolution

    def occupied_voxels(self) -> tuple[np.ndarray, np.ndarray]:
        """(centres (N, 3), object ids (N,)) of all occupied voxels."""
        centres, obj = [], []
        for run in (self._main, self._buf):
            occ = np.flatnonzero(run.logodds >= self._thr)
            centres.append(run.centres(occ, self.resolution))
            obj.append(run.obj.take(occ))
        return np.concatenate(centres), np.concatenate(obj)

    # -------------------------------------------------------------- validation
    def _index(self, field: str, pts: np.ndarray) -> np.ndarray:
        """Voxel indices (N, 3) int64 of finite points; raises `OutOfBoundsError` naming the
        first point outside the grid."""
        with np.errstate(over="ignore"):  # a huge point becomes inf here and is refused below
            q = pts / self.resolution
        np.floor(q, out=q)
        if len(q) and (q.min() < -OFFSET or q.max() > OFFSET - 1):
            row = int(np.flatnonzero(((q < -OFFSET) | (q > OFFSET - 1)).any(axis=1))[0])
            raise OutOfBoundsError(
                f"{field}[{row}]",
                pts[row].tolist(),
                f"outside the octree range [{-OFFSET * self.resolution:g}, "
                f"{OFFSET * self.resolution:g}) m on some axis",
            )
        index = q.astype(np.int64)
        index += OFFSET
        return index

    def _point(self, field: str, value: Any, grid: bool = False) -> tuple[float, float, float]:
        """A finite point within the coordinate domain (`validate.MAX_COORDINATE`), and inside
        the grid when `grid` (where a point must become a voxel); queries from outside the grid
        are fine, they just find what lies in reach."""
        p = vec3(field, value, math.inf)  # the range check below names the bound
        if grid:
            ok = all(-OFFSET <= math.floor(c / self.resolution) < OFFSET for c in p)
            span = f"octree range [{-OFFSET * self.resolution:g}, {OFFSET * self.resolution:g})"
        else:
            ok = all(abs(c) <= MAX_COORDINATE for c in p)
            span = f"coordinate range [{-MAX_COORDINATE:g}, {MAX_COORDINATE:g}]"
        if not ok:
            raise OutOfBoundsError(field, list(p), f"outside the {span} m on some axis")
        return p

    def _voxel_units(self, p: Sequence[float]) -> list[float]:
        """A world point in voxel-index units, where voxel i's centre is at i."""
        return [c / self.resolution + (OFFSET - 0.5) for c in p]

    def check_points(self, points: Any, field: str = "points") -> None:
        """Raise what `insert_points` would raise for these points (shape, range); no change."""
        self._index(field, points_array(field, points, drop_nonfinite=True)[0])

    @staticmethod
    def _object_ids(object_ids: Any, rows: int) -> np.ndarray | None:
        """Object ids aligned with `rows` points, or None; -1 means no object."""
        if object_ids is None:
            return None
        ids = np.asarray(object_ids)
        if ids.dtype == bool or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise ValidationError("object_ids", f"dtype {ids.dtype}", "expected integer ids")
        if ids.shape != (rows,):
            raise ValidationError(
                "object_ids", f"shape {ids.shape}", f"expected one id per point, shape ({rows},)"
            )
        if ids.size and ids.min() < -1:
            raise ValidationError("object_ids", int(ids.min()), "ids must be >= 0 (or -1 for none)")
        if ids.size and ids.dtype.kind == "u" and ids.max() > np.iinfo(np.int64).max:
            raise ValidationError("object_ids", int(ids.max()), "ids must fit in int64")
        return ids.astype(np.int64, copy=False)

    def _radius(self, field: str, r: Any) -> float:
        out = finite_float(field, r)
        if out < 0:
            raise QueryError(field, r, "must be >= 0")
        return out

    # ----------------------------------------------------------------- inserts
    def insert_points(self, points: Any, time_ns: int = 0, object_ids: Any = None) -> InsertResult:
        """Integrate a batch of occupied endpoints (one hit per voxel); NaN/inf rows are dropped
        and counted. `object_ids` (N,) labels points; -1 never overwrites a voxel's id, and when
        several objects hit one voxel in a batch the largest id wins."""
        t, _, index, dropped, ids = self._prepare(points, time_ns, object_ids)
        return self._integrate(index, ids, t, dropped)

    def insert_scan(
        self, origin: Any, points: Any, time_ns: int = 0, object_ids: Any = None
    ) -> InsertResult:
        """Integrate a sensor scan from `origin`: like `insert_points`, and with `free_space`
        on, rays lower the occupancy of stored voxels in the coarse cells they cross."""
        o = np.array(self._point("origin", origin, grid=True))
        t, raw, index, dropped, ids = self._prepare(points, time_ns, object_ids)
        missed = self._carve(o, raw, index) if self.free_space and len(raw) else 0
        return self._integrate(index, ids, t, dropped)._replace(missed=missed)

    def _prepare(self, points: Any, t: int, object_ids: Any) -> tuple:
        """Validate everything an insert needs before anything changes."""
        t = time_ns("time_ns", t)
        raw, dropped = points_array("points", points, drop_nonfinite=True)
        index = self._index("points", raw)
        ids = self._object_ids(object_ids, len(raw) + dropped)
        if ids is not None and dropped:
            ids = ids[np.isfinite(np.asarray(points, dtype=np.float64)).all(axis=1)]
        return t, raw, index, dropped, ids

    def _integrate(
        self, index: np.ndarray, ids: np.ndarray | None, t: int, dropped: int
    ) -> InsertResult:
        """Apply one hit per distinct voxel of a validated batch."""
        n = len(index)
        if not n:
            return InsertResult(0, 0, dropped)
        keys = morton.encode(index)
        if ids is None:
            keys.sort()
            starts = _group(keys)
            uids = np.full(len(starts), -1, dtype=np.int64)
        else:
            order = np.argsort(keys)
            keys = keys[order]
            starts = _group(keys)
            uids = np.maximum.reduceat(ids[order], starts)
        ukeys = keys[starts]
        counts = np.diff(np.append(starts, n))
        for run in self._runs():
            pos, found = run.lookup(ukeys)
            if len(pos):
                self._apply_hits(run, pos, counts[found], uids[found], t)
                keep = ~found
                ukeys, counts, uids = ukeys[keep], counts[keep], uids[keep]
        m = len(ukeys)
        if m:
            lo = np.full(m, max(min(self._hit, self._lmax), self._lmin), np.float32)
            occ = bool(lo[0] >= self._thr)
            new = _Run.new(
                ukeys,
                lo,
                np.minimum(counts, HITS_MAX).astype(np.uint32),
                np.full(m, t, np.int64),
                uids if occ else np.full(m, -1, np.int64),
            )
            if occ and (uids >= 0).any():
                self._ids_changed()
            self._buf = self._buf.merged(new)
            self._occupied += m if occ else 0
            self._grow_bounds(new)
            if len(self._buf) > max(MIN_BUFFER, len(self._main) >> 3):
                self.compact()
        return InsertResult(n, m, dropped)

    def _apply_hits(
        self, run: _Run, pos: np.ndarray, counts: np.ndarray, ids: np.ndarray, t: int
    ) -> None:
        old = run.logodds[pos]
        new = np.clip(old + self._hit, self._lmin, self._lmax)
        run.logodds[pos] = new
        occ = new >= self._thr
        self._occupied += int(occ.sum()) - int((old >= self._thr).sum())
        run.hits[pos] = np.minimum(run.hits[pos].astype(np.int64) + counts, HITS_MAX)
        run.stamp[pos] = np.maximum(run.stamp[pos], t)
        old_ids = run.obj[pos]
        new_ids = np.where(occ, np.where(ids >= 0, ids, old_ids), -1)
        if (new_ids != old_ids).any():
            self._ids_changed()
        run.obj[pos] = new_ids

    def _apply_misses(self, run: _Run, pos: np.ndarray) -> None:
        old = run.logodds[pos]
        new = np.clip(old + self._miss, self._lmin, self._lmax)
        run.logodds[pos] = new
        occ = new >= self._thr
        self._occupied += int(occ.sum()) - int((old >= self._thr).sum())
        self._clear_ids(run, pos[~occ])

    def _clear_ids(self, run: _Run, where: np.ndarray) -> None:
        """Set the object id of voxels (an index or mask) to none."""
        if (run.obj[where] >= 0).any():
            self._ids_changed()
        run.obj[where] = -1

    def _ids_changed(self) -> None:
        """Voxel ids changed: the object index is stale and a new stale period starts."""
        self._objects = None
        self._stale_s = 0.0

    def _grow_bounds(self, run: _Run) -> None:
        lo = [int(run.x.min()), int(run.y.min()), int(run.z.min())]
        hi = [int(run.x.max()), int(run.y.max()), int(run.z.max())]
        if self._lo is not None and self._hi is not None:
            lo = [min(a, b) for a, b in zip(lo, self._lo, strict=True)]
            hi = [max(a, b) for a, b in zip(hi, self._hi, strict=True)]
        self._lo, self._hi = lo, hi

    def _carve(self, origin: np.ndarray, pts: np.ndarray, index: np.ndarray) -> int:
        """Free-space update: one miss for every stored voxel in the coarse cells crossed by the
        rays, except cells holding an endpoint of this scan. Returns voxels updated."""
        level = self.free_space_level
        shift = np.uint64(3 * level)
        step = self.resolution * (1 << level) / 2  # half a coarse cell between ray samples
        ends = _distinct(morton.encode(index) >> shift)
        d = pts - origin
        length = np.sqrt(np.einsum("ij,ij->i", d, d))
        counts = np.maximum(np.floor(length / step).astype(np.int64) - 1, 0)
        cells = []
        first = 0
        while first < len(pts):  # chunks of rays keep the sample arrays bounded
            csum = np.cumsum(counts[first:])
            last = first + max(1, int(np.searchsorted(csum, SCAN_SAMPLES, side="right")))
            c = counts[first:last]
            total = int(c.sum())
            if total:
                ray = np.repeat(np.arange(first, last), c)
                k = np.arange(total) - np.repeat(np.cumsum(c) - c, c)
                samples = origin + d[ray] * (k * step / length[ray])[:, None]
                cells.append(_distinct(morton.encode(self._index("points", samples)) >> shift))
            first = last
        if not cells:
            return 0
        crossed = _distinct(np.concatenate(cells))
        at = np.minimum(np.searchsorted(ends, crossed), len(ends) - 1)
        crossed = crossed[ends[at] != crossed]
        if not len(crossed):
            return 0
        starts, stops = _coalesce(crossed, level)
        missed = 0
        for run in self._runs():
            pos = run.ranges(starts, stops)
            if len(pos):
                self._apply_misses(run, pos)
                missed += len(pos)
        return missed

    # ----------------------------------------------------------------- queries
    def _cover(self, lo: list[int], hi: list[int]) -> tuple[np.ndarray, np.ndarray] | None:
        """Key ranges [start, end) of the aligned cells covering the index box [lo, hi] cut to
        the stored voxels' bounds (None when nothing is stored there); the level is the finest
        giving at most 2**CELL_BITS + 1 cells per axis."""
        if not self._occupied or self._lo is None or self._hi is None:
            return None
        lo = [max(a, b) for a, b in zip(lo, self._lo, strict=True)]
        hi = [min(a, b) for a, b in zip(hi, self._hi, strict=True)]
        extent = max(h - low for low, h in zip(lo, hi, strict=True))
        if extent < 0 or any(h < low for low, h in zip(lo, hi, strict=True)):
            return None
        level = max(0, (extent + 1).bit_length() - CELL_BITS)
        starts = morton.cell_starts(lo, hi, level)
        return starts, starts + np.uint64(1 << (3 * level))

    def _sphere(
        self, p: tuple[float, float, float], r: float, objects: bool = False
    ) -> list[tuple[_Run, np.ndarray, np.ndarray]]:
        """Per run: (run, positions, squared distances in voxel units) of the occupied voxels
        (with an object id when `objects`) whose centres lie within r metres of p."""
        ru = r / self.resolution
        q = self._voxel_units(p)
        cover = self._cover([math.floor(c - ru) for c in q], [math.ceil(c + ru) for c in q])
        if cover is None:
            return []
        out = []
        for run in self._runs():
            pos = run.ranges(*cover)
            if not len(pos):
                continue
            d2 = _dist2((run.x, run.y, run.z), pos, q)
            keep = d2 <= ru * ru
            keep &= run.obj.take(pos) >= 0 if objects else run.logodds.take(pos) >= self._thr
            sel = np.flatnonzero(keep)
            out.append((run, pos.take(sel), d2.take(sel)))
        return out

    def _box_bounds(self, lo: float, hi: float) -> tuple[int, int]:
        """Inclusive voxel-index range of the voxels whose centres lie in [lo, hi] on one axis."""
        i = math.ceil(lo / self.resolution - 0.5) + OFFSET
        while self._centre(i - 1) >= lo:
            i -= 1
        while self._centre(i) < lo:
            i += 1
        j = math.floor(hi / self.resolution - 0.5) + OFFSET
        while self._centre(j + 1) <= hi:
            j += 1
        while self._centre(j) > hi:
            j -= 1
        return i, j

    def query_box(self, lo: Any, hi: Any) -> np.ndarray:
        """Centres (N, 3) of the occupied voxels whose centres lie in the closed box [lo, hi]."""
        lo_p, hi_p = self._point("lo", lo), self._point("hi", hi)
        if any(a > b for a, b in zip(lo_p, hi_p, strict=True)):
            raise QueryError("hi", list(hi_p), f"must be >= lo={list(lo_p)} on every axis")
        bounds = [self._box_bounds(a, b) for a, b in zip(lo_p, hi_p, strict=True)]
        cover = self._cover([b[0] for b in bounds], [b[1] for b in bounds])
        out = [np.empty((0, 3))]
        for run in self._runs() if cover is not None else ():
            pos = run.ranges(*cover)
            keep = run.logodds.take(pos) >= self._thr
            for axis, (i, j) in zip((run.x, run.y, run.z), bounds, strict=True):
                a = axis.take(pos)
                keep &= a >= i
                keep &= a <= j
            out.append(run.centres(pos[keep], self.resolution))
        return np.concatenate(out)

    def query_radius(self, center: Any, r: float) -> np.ndarray:
        """Centres (N, 3) of the occupied voxels whose centres lie within r metres of center."""
        parts = self._sphere(self._point("center", center), self._radius("r", r))
        return np.concatenate(
            [np.empty((0, 3))] + [run.centres(pos, self.resolution) for run, pos, _ in parts]
        )

    def knn(self, point: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k occupied voxels nearest to point: (centres (k, 3), distances (k,)), nearest
        first; fewer when the octree holds fewer than k occupied voxels."""
        p = self._point("point", point)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise QueryError("k", k, "expected an integer >= 1")
        k = min(int(k), self._occupied)
        if not k or self._lo is None or self._hi is None:
            return np.empty((0, 3)), np.empty(0)
        reach = (
            math.sqrt(
                sum(
                    max(abs(self._centre(lo) - c), abs(self._centre(hi) - c)) ** 2
                    for lo, hi, c in zip(self._lo, self._hi, p, strict=True)
                )
            )
            + self.resolution
        )  # a margin so the farthest voxel is surely inside
        r = self.resolution * max(16.0, 2 * k ** (1 / 3))
        while True:  # grow the radius until it holds k voxels: those are then the k nearest
            parts = self._sphere(p, min(r, reach))
            found = sum(len(pos) for _, pos, _ in parts)
            if found >= k or r >= reach:
                break
            r *= 2 if not found else max(1.5, math.sqrt(k / found))
        centres = np.concatenate([run.centres(pos, self.resolution) for run, pos, _ in parts])
        d2 = np.concatenate([d2 for _, _, d2 in parts])
        top = np.argpartition(d2, k - 1)[:k] if len(d2) > k else np.arange(len(d2))
        top = top[np.argsort(d2[top], kind="stable")]
        return centres[top], np.sqrt(d2[top]) * self.resolution

    def objects_near(self, point: Any, r: float) -> list[tuple[int, float]]:
        """(object id, distance to its nearest occupied voxel centre) of every object with a
        voxel centre within r metres of point, nearest first (ties by id)."""
        p, r = self._point("point", point), self._radius("r", r)
        if self._objects is None and self._stale_s < self._rebuild_s:
            start = time.perf_counter()  # rent: answer from the voxels, count the time
            ids, d2 = self._objects_near_voxels(p, r)
            self._stale_s += time.perf_counter() - start
        else:
            ids, d2 = self._object_index().nearest(self._voxel_units(p), r / self.resolution)
        dist = np.sqrt(d2) * self.resolution
        return list(zip(ids.tolist(), dist.tolist(), strict=True))

    def build_object_index(self) -> None:
        """Build the object index of `objects_near` now if it is stale (e.g. after loading a
        map, before latency-sensitive queries); queries otherwise build it when it pays off."""
        self._object_index()

    def _object_index(self) -> _ObjectIndex:
        """The object index, built now if stale (timed for the rebuild rule)."""
        if self._objects is None:
            start = time.perf_counter()
            self._objects = _ObjectIndex(self._runs())
            self._rebuild_s = time.perf_counter() - start
        return self._objects

    def _objects_near_voxels(self, p: Sequence[float], r: float) -> tuple[np.ndarray, np.ndarray]:
        """`objects_near` from the voxel index alone: (ids, squared distances in voxel units)."""
        parts = self._sphere(p, r, objects=True)
        if not parts:
            return np.empty(0, np.int64), np.empty(0)
        return _closest_per_id(
            np.concatenate([run.obj.take(pos) for run, pos, _ in parts]),
            np.concatenate([d2 for _, _, d2 in parts]),
        )

    def raycast(self, origin: Any, direction: Any, max_range: float) -> RayHit | None:
        """First occupied voxel that the ray from origin along direction enters within
        max_range metres, or None."""
        o = np.array(self._point("origin", origin))
        d = np.array(vec3("direction", direction))
        norm = float(np.sqrt(d @ d))
        if norm == 0:
            raise QueryError("direction", d.tolist(), "must be a non-zero vector")
        d /= norm
        t_max = self._radius("max_range", max_range)
        if not self._occupied or self._lo is None or self._hi is None:
            return None
        box_lo = (np.array(self._lo) - OFFSET) * self.resolution
        box_hi = (np.array(self._hi) - OFFSET + 1) * self.resolution
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            t_a, t_b = (box_lo - o) / d, (box_hi - o) / d
        inside = (o >= box_lo) & (o <= box_hi)
        t_near = np.where(d == 0, np.where(inside, -np.inf, np.inf), np.minimum(t_a, t_b))
        t_far = np.where(d == 0, np.where(inside, np.inf, -np.inf), np.maximum(t_a, t_b))
        t0, t1 = max(0.0, float(t_near.max())), min(t_max, float(t_far.min()))
        while t0 <= t1:  # walk the ray in chunks of voxels so a long ray stops at its first hit
            seg_end = min(t1, t0 + RAY_CHUNK * self.resolution / 3)
            hit = self._ray_segment(o, d, t0, seg_end)
            if hit is not None or seg_end >= t1:
                return hit
            t0 = seg_end
        return None

    def _ray_segment(self, o: np.ndarray, d: np.ndarray, t0: float, t1: float) -> RayHit | None:
        """First occupied voxel entered by the ray between t0 and t1 (voxel traversal by
        sorting the ray's crossings of the grid planes)."""
        res = self.resolution
        start = np.floor((o + t0 * d) / res).astype(np.int64)
        stop = np.floor((o + t1 * d) / res).astype(np.int64)
        ts, axes, steps = [np.array([t0])], [np.array([0])], [np.array([0])]
        for a in range(3):
            if stop[a] == start[a]:
                continue
            sign = 1 if stop[a] > start[a] else -1
            planes = np.arange(start[a] + (sign > 0), stop[a] + (sign > 0), sign)
            ts.append((planes * res - o[a]) / d[a])
            axes.append(np.full(len(planes), a))
            steps.append(np.full(len(planes), sign))
        t = np.concatenate(ts)
        order = np.argsort(t, kind="stable")
        delta = np.zeros((len(t), 3), np.int64)
        delta[np.arange(len(t)), np.concatenate(axes)[order]] = np.concatenate(steps)[order]
        index = start + OFFSET + np.cumsum(delta, axis=0)
        ok = ((index >= self._lo) & (index <= self._hi)).all(axis=1)
        index, t = index[ok], np.maximum(t[order][ok], t0)
        keys = morton.encode(index)
        best: tuple[int, int] | None = None
        for run in self._runs():
            pos, found = run.lookup(keys)
            occ = np.zeros(len(keys), dtype=bool)
            occ[found] = run.logodds[pos] >= self._thr
            if occ.any():
                i = int(np.argmax(occ))
                if best is None or i < best[0]:
                    best = (i, int(run.obj[pos[np.count_nonzero(found[:i])]]))
        if best is None:
            return None
        i, obj = best
        return RayHit((index[i] - (OFFSET - 0.5)) * res, float(t[i]), obj)

    def level_keys(self, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """Multi-resolution summary: (sorted Morton keys of the cells at `depth` (0 = root,
        21 = leaves) holding occupied voxels, count of occupied voxels in each)."""
        shift = np.uint64(3 * (DEPTH - _depth("depth", depth)))
        cells = np.sort(
            np.concatenate(
                [run.keys[run.logodds >= self._thr] >> shift for run in (self._main, self._buf)]
            )
        )
        first = _group(cells)
        return cells[first], np.diff(np.append(first, len(cells)))

    def cell_centres(self, keys: Any, depth: int) -> np.ndarray:
        """World centres (N, 3) of cells at `depth` given their keys from `level_keys`."""
        size = 1 << (DEPTH - _depth("depth", depth))
        index = morton.decode(np.asarray(keys, dtype=np.uint64).reshape(-1))
        return (index * size + size / 2 - OFFSET) * self.resolution

    # --------------------------------------------------------- removal / decay
    def _filter(self, keep_of: Callable[[_Run], np.ndarray]) -> int:
        """Keep the voxels where `keep_of(run)` is True; returns how many were dropped."""
        dropped = 0
        runs = []
        for run in (self._main, self._buf):
            keep = keep_of(run)
            gone = len(run) - int(keep.sum())
            if gone:
                self._occupied -= int((run.logodds[~keep] >= self._thr).sum())
                if (run.obj[~keep] >= 0).any():
                    self._ids_changed()
                run = run.select(keep)
                dropped += gone
            runs.append(run)
        self._main, self._buf = runs
        return dropped

    def remove_object(self, object_id: int) -> int:
        """Forget every voxel of an object (e.g. one that moved); returns voxels removed."""
        if (
            isinstance(object_id, bool)
            or not isinstance(object_id, (int, np.integer))
            or object_id < 0
        ):
            raise ValidationError("object_id", object_id, "expected an integer id >= 0")
        return self._filter(lambda run: run.obj != object_id)

    def decay(self, now_ns: int, half_life_s: float, min_evidence: float | None = None) -> int:
        """Move every voxel's log-odds toward unknown (0) with the given half-life since it was
        last seen (or last decayed), then forget voxels whose |log-odds| fell below
        `min_evidence` (default: the size of one miss). Returns voxels forgotten."""
        now = time_ns("now_ns", now_ns)
        if now < self._decayed_ns:
            raise ValidationError(
                "now_ns", now_ns, f"earlier than the previous decay at {self._decayed_ns}"
            )
        hl = finite_float("half_life_s", half_life_s)
        if hl <= 0:
            raise ValidationError("half_life_s", half_life_s, "must be > 0")
        floor = (
            abs(float(self._miss))
            if min_evidence is None
            else finite_float("min_evidence", min_evidence)
        )
        if floor < 0:
            raise ValidationError("min_evidence", min_evidence, "must be >= 0")
        for run in (self._main, self._buf):
            age = now - np.maximum(run.stamp, self._decayed_ns)
            factor = np.exp2(-np.maximum(age, 0) / (hl * 1e9)).astype(np.float32)
            before = run.logodds >= self._thr
            run.logodds *= factor
            after = run.logodds >= self._thr
            self._occupied += int(after.sum()) - int(before.sum())
            self._clear_ids(run, ~after)
        self._decayed_ns = now
        return self._filter(lambda run: np.abs(run.logodds) >= floor)

    # ------------------------------------------------------------ interop / io
    def to_open3d_point_cloud(self) -> Any:
        """Occupied voxel centres as an `open3d.geometry.PointCloud`."""
        import open3d as o3d

        return o3d.geometry.PointCloud(o3d.utility.Vector3dVector(self.occupied_voxels()[0]))

    @classmethod
    def from_open3d_point_cloud(
        cls, pcd: Any, resolution: float = 0.05, time_ns: int = 0, **options: Any
    ) -> Octree:
        """A new octree holding the points of an `open3d.geometry.PointCloud`."""
        points = getattr(pcd, "points", None)
        if points is None:
            raise ValidationError("pcd", type(pcd).__name__, "expected an open3d PointCloud")
        tree = cls(resolution, **options)
        tree.insert_points(np.asarray(points), time_ns=time_ns)
        return tree

    def to_open3d_voxel_grid(self) -> Any:
        """Occupied voxels as an `open3d.geometry.VoxelGrid` aligned with this grid."""
        import open3d as o3d

        centres = self.occupied_voxels()[0]
        if not len(centres):
            return o3d.geometry.VoxelGrid()
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(centres))
        lo = np.floor(centres.min(axis=0) / self.resolution) * self.resolution
        hi = (np.floor(centres.max(axis=0) / self.resolution) + 1) * self.resolution
        return o3d.geometry.VoxelGrid.create_from_point_cloud_within_bounds(
            pcd, self.resolution, lo, hi
        )

    @classmethod
    def from_open3d_voxel_grid(cls, grid: Any, time_ns: int = 0, **options: Any) -> Octree:
        """A new octree (resolution = the grid's voxel size) holding an
        `open3d.geometry.VoxelGrid`'s voxels. open3d hands voxels out only as a list of objects,
        so this conversion walks that list once."""
        if not hasattr(grid, "get_voxels") or not hasattr(grid, "voxel_size"):
            raise ValidationError("grid", type(grid).__name__, "expected an open3d VoxelGrid")
        if not grid.voxel_size > 0:
            raise ValidationError("grid.voxel_size", grid.voxel_size, "must be > 0")
        index = np.array([v.grid_index for v in grid.get_voxels()], dtype=np.float64)
        tree = cls(float(grid.voxel_size), **options)
        if len(index):
            centres = np.asarray(grid.origin) + (index + 0.5) * grid.voxel_size
            tree.insert_points(centres, time_ns=time_ns)
        return tree

    def compact(self) -> None:
        """Merge the write buffer into the main run now (queries then search one run); inserts
        do this on their own once the buffer outgrows an eighth of the main run."""
        if len(self._buf):
            self._main, self._buf = self._main.merged(self._buf), _Run.empty()

    def state_dict(self) -> dict[str, Any]:
        """Versioned snapshot: numpy arrays (copies) and JSON scalars."""
        self.compact()
        out: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "resolution": self.resolution,
            **self.probs,
            "free_space": self.free_space,
            "free_space_level": self.free_space_level,
            "decayed_ns": self._decayed_ns,
        }
        for name, field in STATE_ARRAYS.items():
            out[name] = getattr(self._main, field).copy()
        return out

    @classmethod
    def from_state_dict(cls, d: Any) -> Octree:
        """Octree from `state_dict` output; any defect raises `SnapshotError`."""
        if not isinstance(d, Mapping):
            raise SnapshotError(f"octree: expected a dict, got {type(d).__name__}")
        if d.get("format") != FORMAT:
            raise SnapshotError(f"octree: format={d.get('format')!r}, expected {FORMAT!r}")
        if d.get("version") != VERSION or isinstance(d.get("version"), bool):
            raise SnapshotError(
                f"octree: version={d.get('version')!r} unsupported (this build reads {VERSION})"
            )
        try:
            tree = cls(
                d["resolution"],
                **{
                    k: d[k]
                    for k in (
                        "prob_hit",
                        "prob_miss",
                        "clamp_min",
                        "clamp_max",
                        "occupancy_threshold",
                        "free_space",
                        "free_space_level",
                    )
                },
            )
            tree._decayed_ns = time_ns("decayed_ns", d["decayed_ns"])
        except KeyError as exc:
            raise SnapshotError(f"octree: missing entry {exc.args[0]!r}") from None
        except ValidationError as exc:
            raise SnapshotError(f"octree: {exc}") from None
        arrays = {}
        for name, field in STATE_ARRAYS.items():
            a = d.get(name)
            if not isinstance(a, np.ndarray) or a.dtype != DTYPES[field] or a.ndim != 1:
                what = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
                raise SnapshotError(
                    f"octree: {name} is {what}, expected a 1-D {np.dtype(DTYPES[field])} array"
                )
            arrays[field] = np.array(a)
        tree._check_arrays(arrays)
        run = _Run.new(**arrays)
        tree._main = run
        tree._occupied = int((run.logodds >= tree._thr).sum())
        if len(run):
            tree._grow_bounds(run)
        return tree

    def _check_arrays(self, a: dict[str, np.ndarray]) -> None:
        """Raise `SnapshotError` unless loaded arrays satisfy the octree's invariants."""
        lengths = {k: len(v) for k, v in a.items()}
        if len(set(lengths.values())) > 1:
            raise SnapshotError(f"octree: array lengths differ {lengths}")
        keys, lo, obj = a["keys"], a["logodds"], a["obj"]
        problems = []
        if len(keys) > 1 and (keys[1:] <= keys[:-1]).any():
            problems.append("keys are not strictly increasing")
        if len(keys) and keys.max() >> np.uint64(3 * morton.BITS):
            problems.append("keys exceed 63 bits")
        eps = 1e-4
        if not np.isfinite(lo).all() or (
            len(lo) and (lo.min() < self._lmin - eps or lo.max() > self._lmax + eps)
        ):
            problems.append("log-odds outside the clamping range")
        if len(keys) and a["stamp"].min() < 0:
            problems.append("negative last-seen time")
        if len(keys) and (obj.min() < -1 or ((obj >= 0) & (lo < self._thr)).any()):
            problems.append("object ids < -1 or on unoccupied voxels")
        if problems:
            raise SnapshotError("octree: " + "; ".join(problems))
