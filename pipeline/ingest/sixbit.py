"""Vectorised helpers for AIS 6-bit ASCII armour and fixed-width ASCII fields.

Everything here works on whole numpy arrays of byte offsets into one shared buffer so the
NMEA decoder never loops over messages in Python on its hot path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Idx = npt.NDArray[np.integer]

INVALID = 255


def _sixbit_lut() -> U8:
    """Map armour characters to 6-bit values (ITU-R M.1371 / IEC 61162); 255 = not armour."""
    lut = np.full(256, INVALID, dtype=np.uint8)
    for c in range(48, 88):
        lut[c] = c - 48
    for c in range(96, 120):
        lut[c] = c - 56
    return lut


def _hex_lut() -> U8:
    lut = np.full(256, INVALID, dtype=np.uint8)
    for i, c in enumerate(b"0123456789ABCDEF"):
        lut[c] = i
    for i, c in enumerate(b"abcdef"):
        lut[c] = 10 + i
    return lut


SIXBIT = _sixbit_lut()
HEX = _hex_lut()


def gather(buf: U8, pos: Idx, width: int, limit: Idx) -> U8:
    """Matrix ``M[i, j] = buf[pos[i] + j]`` where ``pos[i] + j < limit[i]``, else 0.

    Offsets are int32 when the buffer allows it: the index matrix is the memory peak here.
    """
    idx_t: type[np.signedinteger[Any]] = np.int32 if buf.size < 2**31 - 1024 else np.int64
    col: npt.NDArray[np.signedinteger[Any]] = np.arange(width, dtype=idx_t)
    idx = pos.astype(idx_t)[:, None] + col[None, :]
    inside = idx < limit.astype(idx_t)[:, None]
    np.minimum(idx, buf.size - 1, out=idx)
    out = buf[idx]
    out[~inside] = 0
    return out


def parse_digits(buf: U8, pos: Idx, limit: Idx, maxd: int) -> tuple[I64, I64]:
    """Unsigned decimal at ``pos`` (at most ``maxd`` digits, stops at limit): (value, n_digits)."""
    m = gather(buf, pos, maxd, limit)
    run = np.cumprod((m >= 48) & (m <= 57), axis=1, dtype=np.uint8).astype(bool)
    val = np.zeros(len(pos), dtype=np.int64)
    for j in range(maxd):
        col = run[:, j]
        val = np.where(col, val * 10 + (m[:, j].astype(np.int64) - 48), val)
    return val, run.sum(axis=1).astype(np.int64)


def xor_segments(buf: U8, start: Idx, stop: Idx) -> U8:
    """XOR of ``buf[start[i]:stop[i]]`` for every i (the NMEA checksum), 0 for empty segments."""
    n = len(start)
    if n == 0:
        return np.zeros(0, dtype=np.uint8)
    # Work on the covered slice only: reduceat's last segment runs to the end of its input.
    lo = int(start.min())
    hi = min(int(stop.max()) + 1, buf.size)
    sub = buf[lo:hi]
    idx = np.empty(2 * n, dtype=np.int64)
    idx[0::2] = start - lo
    idx[1::2] = stop - lo
    np.minimum(idx, sub.size - 1, out=idx)
    red = np.bitwise_xor.reduceat(sub, idx)[0::2]
    # A stop at the very end of the buffer cannot be expressed as a reduceat boundary.
    for i in np.flatnonzero(stop - lo >= sub.size):
        red[i] = np.bitwise_xor.reduce(buf[start[i] : stop[i]])
    return np.where(stop > start, red, 0).astype(np.uint8)


def uint_field(vals: U8, off: int, width: int) -> U64:
    """Unsigned big-endian bit field [off, off+width) of 6-bit value rows (width <= 30)."""
    c0, c1 = off // 6, (off + width - 1) // 6
    acc = np.zeros(vals.shape[0], dtype=np.uint64)
    for c in range(c0, c1 + 1):
        acc = (acc << np.uint64(6)) | vals[:, c].astype(np.uint64)
    shift = (c1 - c0 + 1) * 6 - (off - c0 * 6) - width
    return (acc >> np.uint64(shift)) & np.uint64((1 << width) - 1)


def int_field(vals: U8, off: int, width: int) -> I64:
    """Two's complement signed bit field, as int64."""
    u = uint_field(vals, off, width).astype(np.int64)
    return np.where(u >= (1 << (width - 1)), u - (1 << width), u)
