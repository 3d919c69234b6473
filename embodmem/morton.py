"""Vectorized 3D Morton (Z-order) codes: 21 bits per axis interleaved into one uint64.

Bit 3*i of a code is bit i of x, bit 3*i+1 of y, bit 3*i+2 of z. Every aligned cube of 2**L
voxels per edge is one contiguous code range, `[c << 3L, (c + 1) << 3L)` with `c = code >> 3L`,
which is what lets a sorted array of codes answer box queries with binary searches.
"""

from __future__ import annotations

import numpy as np

BITS = 21
MAX_INDEX = (1 << BITS) - 1
AXIS_SHIFT = np.array([0, 1, 2], dtype=np.uint64)

_CHUNK = 11  # bits spread per table lookup (21 = 11 + 10)
_CHUNK_MASK = np.uint64((1 << _CHUNK) - 1)
_CHUNK_CODE_SHIFT = np.uint64(3 * _CHUNK)
# Compact masks of the classic "magic bits" decode: (shift, mask after shift).
_COMPACT = tuple(
    (np.uint64(s), np.uint64(m))
    for s, m in (
        (2, 0x10C30C30C30C30C3),
        (4, 0x100F00F00F00F00F),
        (8, 0x001F0000FF0000FF),
        (16, 0x001F00000000FFFF),
        (32, 0x00000000001FFFFF),
    )
)
_EVERY_THIRD = np.uint64(0x1249249249249249)


def _spread_table() -> np.ndarray:
    """Table mapping an 11-bit value to its bits spread to every third position."""
    values = np.arange(1 << _CHUNK, dtype=np.uint64)
    out = np.zeros_like(values)
    for bit in range(_CHUNK):
        out |= ((values >> np.uint64(bit)) & np.uint64(1)) << np.uint64(3 * bit)
    return out


_SPREAD = _spread_table()


def spread(values: np.ndarray) -> np.ndarray:
    """Bits of non-negative integers < 2**21 moved to every third bit (any shape, uint64 out)."""
    v = np.asarray(values).astype(np.uint64, copy=False)
    out = np.take(_SPREAD, v & _CHUNK_MASK)
    out |= np.take(_SPREAD, v >> np.uint64(_CHUNK)) << _CHUNK_CODE_SHIFT
    return out


def encode(index: np.ndarray) -> np.ndarray:
    """Morton codes (N,) uint64 of non-negative integer voxel indices (N, 3), each < 2**21.

    Works column by column with preallocated buffers: large temporaries cost page faults.
    """
    index = np.asarray(index, dtype=np.int64)
    n = len(index)
    out = np.zeros(n, dtype=np.uint64)
    part = np.empty(n, dtype=np.int64)
    spread_part = np.empty(n, dtype=np.uint64)
    for axis in range(3):
        column = index[:, axis]
        for lo_bit in (0, _CHUNK):
            np.right_shift(column, lo_bit, out=part)
            part &= (1 << _CHUNK) - 1
            np.take(_SPREAD, part, out=spread_part)
            spread_part <<= np.uint64(3 * lo_bit + axis)
            out |= spread_part
    return out


def decode_axes(codes: np.ndarray) -> np.ndarray:
    """Voxel indices (3, N) int64 of Morton codes (N,): one contiguous row per axis."""
    x = np.asarray(codes, dtype=np.uint64)[None, :] >> AXIS_SHIFT[:, None]
    x &= _EVERY_THIRD
    for shift, mask in _COMPACT:
        x ^= x >> shift
        x &= mask
    return x.view(np.int64)


def decode(codes: np.ndarray) -> np.ndarray:
    """Voxel indices (N, 3) int64 of Morton codes (N,) (inverse of `encode`)."""
    return decode_axes(codes).T


_U64 = (1 << 64) - 1
_X_BITS = 0x1249249249249249  # bit positions of x in a code; y and z are this shifted by 1, 2
_SPREAD_INT = _SPREAD.tolist()


def spread_int(value: int) -> int:
    """`spread` of one Python int (no numpy call overhead)."""
    return _SPREAD_INT[value & 2047] | _SPREAD_INT[value >> _CHUNK] << (3 * _CHUNK)


def cell_starts(lo: list[int], hi: list[int], level: int) -> np.ndarray:
    """First keys (unsorted, uint64) of the aligned cells of 2**level voxels per edge that
    overlap the inclusive voxel-index box [lo, hi]; a cell's keys are [start, start + 8**level).

    Cells along an axis are consecutive integers, so their spread bits come from one table by
    dilated addition: spread(c0 + i) = ((spread(c0) | ~mask) + spread(i)) & mask. Per-axis parts
    are a handful of Python ints; numpy only combines them.
    """
    shift = 3 * level
    parts = []
    for axis in range(3):
        c0, c1 = lo[axis] >> level, hi[axis] >> level
        mask = _X_BITS << axis
        base = (spread_int(c0) << axis) | (~mask & _U64)
        steps = (
            _DILATED_INT[axis]
            if c1 - c0 < len(_DILATED_INT[axis])
            else [spread_int(i) << axis for i in range(c1 - c0 + 1)]
        )
        parts.append(
            np.array([((base + s) & mask) << shift for s in steps[: c1 - c0 + 1]], dtype=np.uint64)
        )
    return (parts[2][:, None, None] | parts[1][None, :, None] | parts[0][None, None, :]).ravel()


_DILATED_INT = tuple([spread_int(i) << a for i in range(64)] for a in range(3))
