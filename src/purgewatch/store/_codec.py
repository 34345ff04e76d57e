"""Byte-level codec of follower snapshots (specified in docs/store.md, "Snapshot encoding").

A sorted set of surrogate ids is stored as its first value and the gaps between
neighbours minus one (non-negative, small when the set is dense), as fixed-width
little-endian integers whose bytes are transposed into planes (all lowest bytes, then
all second bytes, ...) and compressed as one standard zstd frame. The transposition
(the HDF5/Blosc "shuffle" filter) puts the mostly-zero high bytes together, so zstd's
entropy coder spends close to nothing on them; no hand-made compressor is involved.

A change (``sidset-change-v2``, kind 2) codes its removals as *ranks*: positions in the
sorted sid set of its chain's full snapshot. Followers leave at random places of a large
set, so in sid space each removal costs about log2 of the sid gap (~10 bits for 1%
churn over a catalogue three times the list); as a rank it costs about
log2(C(n, r))/r bits (~8.1 bits for 1%), the information-theoretic bound. The rank gaps
are Rice coded: quotients in unary as a bitmap, k-bit remainders as k bit planes, both
``numpy.packbits`` output, so a decoder needs no bit-level loop. Removed sids absent
from the full set (they arrived within the chain and left again) and the added sids stay
sorted blocks. Kind 1 (``sidset-change-v1``: removed and added as two sorted blocks) is
still decoded.

Everything is little-endian. A decoder needs only numpy and any zstd implementation
(``zstandard``, ``pyarrow``, the ``zstd`` command line).
"""

from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa

from purgewatch.errors import StoreError

SET_MAGIC = b"PWS1"
ORDER_MAGIC = b"PWO1"
KIND_FULL = 0
KIND_CHANGE = 1  # sidset-change-v1: removed sids, added sids
KIND_CHANGE_RANKS = 2  # sidset-change-v2: removed ranks in the chain's full set, other removed sids, added sids
RANKS_RICE = 0  # rank block mode: Rice-coded gaps
RANKS_SORTED = 1  # rank block mode: the ranks as a sorted block
ORDER_REF_SORTED = 0  # reference sequence: this snapshot's sids ascending
ORDER_REF_BASE = 1  # reference sequence: base order minus removed, then added ascending
# The base order minus the removed and the "moved" sids, then a tail (the added and the
# moved sids in list order): a reader composes a chain of these without rebuilding each
# intermediate order (store format 4).
ORDER_REF_APPEND = 2
ORDER_IDENTITY = 0
ORDER_PERMUTATION = 1
ORDER_SPLIT = 2

# count (u64), first value (i64), gap width in bytes (u8), compressed length (u64)
_BLOCK = struct.Struct("<QqBQ")
# count (u64), width (u8), compressed length (u64)
_PERM = struct.Struct("<QBQ")
# threshold t (u64), count n (u64), compressed bitmap length (u64)
_SPLIT = struct.Struct("<QQQ")
# count n (u64), Rice parameter k (u8), unary part length in bytes (u64)
_RICE = struct.Struct("<QBQ")
_ZSTD = pa.Codec("zstd", compression_level=3)


def _width(max_value: int) -> int:
    for w in (1, 2, 4):
        if max_value < (1 << (8 * w)):
            return w
    return 8


def _shuffle_compress(values: np.ndarray, width: int) -> bytes:
    """Fixed-width LE integers -> byte planes -> one zstd frame."""
    raw = values.astype(f"<u{width}", copy=False).view(np.uint8).reshape(-1, width)
    planes = np.ascontiguousarray(raw.T)
    return _ZSTD.compress(planes.tobytes(), asbytes=True)  # type: ignore[no-any-return]


def _decompress_unshuffle(data: memoryview | bytes, count: int, width: int, *, widen: bool = True) -> np.ndarray:
    """Inverse of _shuffle_compress: uint64 values, or ``width``-byte ones unless ``widen``."""
    size = count * width
    if size == 0:
        return np.zeros(0, dtype=np.uint64 if widen else f"<u{width}")
    raw = _ZSTD.decompress(data, decompressed_size=size)
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(width, count)
    values = np.ascontiguousarray(planes.T).view(f"<u{width}").reshape(count)
    return values.astype(np.uint64) if widen else values


def encode_sorted(values: np.ndarray) -> bytes:
    """One block for a strictly increasing int64 array."""
    n = len(values)
    if n == 0:
        return _BLOCK.pack(0, 0, 1, 0)
    values = np.asarray(values, dtype=np.int64)
    gaps = np.diff(values) - 1
    if len(gaps) and gaps.min() < 0:
        raise ValueError("encode_sorted needs strictly increasing values")
    width = _width(int(gaps.max())) if len(gaps) else 1
    body = _shuffle_compress(gaps, width) if len(gaps) else b""
    return _BLOCK.pack(n, int(values[0]), width, len(body)) + body


def decode_sorted(buf: memoryview, offset: int = 0) -> tuple[np.ndarray, int]:
    """Decode the block at ``offset``; returns (values, offset after the block)."""
    n, first, width, clen = _BLOCK.unpack_from(buf, offset)
    offset += _BLOCK.size
    if n == 0:
        return np.zeros(0, dtype=np.int64), offset
    gaps = _decompress_unshuffle(buf[offset : offset + clen], n - 1, width).view(np.int64)
    out = np.empty(n, dtype=np.int64)
    out[0] = first
    if n > 1:
        np.cumsum(gaps + 1, out=out[1:])
        out[1:] += first
    return out, offset + clen


def decode_sorted_at(buf: memoryview, offset: int, positions: np.ndarray) -> np.ndarray:
    """``values[positions]`` of the sorted block at ``offset`` (``positions`` strictly
    increasing) without materialising the block: the gaps stay in their stored width and
    are summed between consecutive positions, so a few lookups into a large set cost one
    pass over narrow integers instead of a full int64 decode."""
    n, first, width, clen = _BLOCK.unpack_from(buf, offset)
    pos = np.asarray(positions, dtype=np.int64)
    if len(pos) == 0:
        return np.zeros(0, dtype=np.int64)
    if int(pos[0]) < 0 or int(pos[-1]) >= n:
        raise ValueError(f"position {int(pos[-1])} outside a block of {n} values")
    inner = pos[pos > 0]
    prefix = np.zeros(len(pos), dtype=np.int64)  # sum of gaps[0 : pos[i]]
    if len(inner):
        offset += _BLOCK.size
        gaps = _decompress_unshuffle(buf[offset : offset + clen], n - 1, width, widen=False)
        starts = np.concatenate([[0], inner])
        if starts[-1] == len(gaps):  # the last segment ends at the end of the gaps
            seg = np.add.reduceat(gaps, starts[:-1], dtype=np.uint64)
        else:
            seg = np.add.reduceat(gaps, starts, dtype=np.uint64)[:-1]
        prefix[len(pos) - len(inner) :] = np.cumsum(seg).view(np.int64)
    return first + pos + prefix


def encode_full(sids: np.ndarray) -> bytes:
    return SET_MAGIC + bytes([KIND_FULL]) + encode_sorted(sids)


def encode_change(removed: np.ndarray, added: np.ndarray) -> bytes:
    return SET_MAGIC + bytes([KIND_CHANGE]) + encode_sorted(removed) + encode_sorted(added)


def encode_change_ranks(ranks: np.ndarray, other_removed: np.ndarray, added: np.ndarray) -> bytes:
    """A v2 change: removed followers as ``ranks`` (ascending positions in the sorted sid
    set of the chain's full snapshot) plus ``other_removed`` sids (not in that set), and
    the ``added`` sids."""
    return (
        SET_MAGIC
        + bytes([KIND_CHANGE_RANKS])
        + encode_ranks(ranks)
        + encode_sorted(other_removed)
        + encode_sorted(added)
    )


def decode_set_payload(payload: memoryview | bytes) -> tuple[int, list[np.ndarray]]:
    """Returns (kind, [sids]) for a full set, (kind, [removed, added]) for a v1 change,
    (kind, [removed ranks, other removed sids, added]) for a v2 change."""
    buf = memoryview(payload)
    if len(buf) < 5 or bytes(buf[:4]) != SET_MAGIC:
        raise StoreError("snapshot payload has an unknown format (bad magic)")
    kind = buf[4]
    try:
        if kind == KIND_FULL:
            return kind, [decode_sorted(buf, 5)[0]]
        if kind == KIND_CHANGE:
            first, off = decode_sorted(buf, 5)
            return kind, [first, decode_sorted(buf, off)[0]]
        if kind == KIND_CHANGE_RANKS:
            ranks, off = decode_ranks(buf, 5)
            other, off = decode_sorted(buf, off)
            return kind, [ranks, other, decode_sorted(buf, off)[0]]
    except (struct.error, ValueError, pa.ArrowException) as e:
        raise StoreError(f"snapshot payload is damaged ({e})") from e
    raise StoreError(f"snapshot payload has an unknown kind {kind}")


# -- Rice-coded rank blocks --------------------------------------------------------------


def rice_size(values: np.ndarray, k: int) -> int:
    """Bytes of the Rice body of ``values`` with parameter ``k`` (header excluded)."""
    n = len(values)
    return (n + int((values >> k).sum()) + 7) // 8 + k * ((n + 7) // 8)


def rice_k(values: np.ndarray) -> int:
    """The Rice parameter giving the smallest body: the geometric-source estimate
    floor(log2(mean * ln 2)) and its neighbours are tried."""
    if len(values) == 0:
        return 0
    m = float(values.mean()) * np.log(2)
    k0 = int(np.floor(np.log2(m))) if m >= 1 else 0
    ks = range(max(0, k0 - 1), min(62, k0 + 1) + 1)
    return min(ks, key=lambda k: (rice_size(values, k), k))


def encode_rice(values: np.ndarray, k: int | None = None) -> bytes:
    """Non-negative int64 ``values`` as n (u64), k (u8), u (u64), then ``u`` bytes of
    unary quotients (value i: ``values[i] >> k`` zero bits, then a one bit; the bit string
    packed least significant bit first) and ``k`` bit planes of ``ceil(n/8)`` bytes each
    (plane j: bit j of every value, packed the same way)."""
    v = np.asarray(values, dtype=np.int64)
    n = len(v)
    if n and int(v.min()) < 0:
        raise ValueError("Rice coding needs non-negative values")
    if k is None:
        k = rice_k(v)
    if not 0 <= k <= 62:
        raise ValueError(f"Rice parameter k={k} out of range 0..62")
    q = v >> k
    limit = 64 * n + (1 << 24)  # unary bits; the writer's k keeps them near 2n
    if n and (int(q.max()) > limit or n + float(q.sum(dtype=np.float64)) > limit):
        raise ValueError(f"Rice parameter k={k} is far too small for these values")
    bits = np.zeros(n + int(q.sum()), dtype=np.uint8)
    bits[np.cumsum(q + 1) - 1] = 1
    unary = np.packbits(bits, bitorder="little").tobytes()
    planes = b"".join(
        np.packbits(((v >> j) & 1).astype(np.uint8), bitorder="little").tobytes() for j in range(k)
    )
    return _RICE.pack(n, k, len(unary)) + unary + planes


def decode_rice(buf: memoryview, offset: int = 0) -> tuple[np.ndarray, int]:
    """Decode the Rice body at ``offset``; returns (values, offset after it)."""
    n, k, u = _RICE.unpack_from(buf, offset)
    offset += _RICE.size
    plane = (n + 7) // 8
    if k > 62 or offset + u + k * plane > len(buf):
        raise ValueError("Rice block runs past the end of the payload")
    bits = np.unpackbits(np.frombuffer(buf, np.uint8, count=u, offset=offset), bitorder="little")
    ends = np.flatnonzero(bits)[:n]
    if len(ends) < n:
        raise ValueError("Rice block has fewer values than it announces")
    v = (np.diff(ends, prepend=-1) - 1).astype(np.int64) << k
    offset += u
    for j in range(k):
        b = np.unpackbits(np.frombuffer(buf, np.uint8, count=plane, offset=offset), count=n, bitorder="little")
        v |= b.astype(np.int64) << j
        offset += plane
    return v, offset


def encode_ranks(ranks: np.ndarray, k: int | None = None) -> bytes:
    """A rank block for strictly increasing non-negative ``ranks``: a mode byte, then
    mode 0: the gaps ``ranks[i] - ranks[i-1] - 1`` (``ranks[-1] = -1``) Rice coded; mode 1:
    a sorted block of the ranks. With ``k`` None the smaller of the two is kept."""
    r = np.asarray(ranks, dtype=np.int64)
    gaps = np.diff(r, prepend=-1) - 1
    if len(gaps) and int(gaps.min()) < 0:
        raise ValueError("encode_ranks needs strictly increasing non-negative values")
    rice = bytes([RANKS_RICE]) + encode_rice(gaps, k)
    if k is None and len(r):
        alt = bytes([RANKS_SORTED]) + encode_sorted(r)
        if len(alt) < len(rice):
            return alt
    return rice


def decode_ranks(buf: memoryview, offset: int = 0) -> tuple[np.ndarray, int]:
    mode = buf[offset]
    if mode == RANKS_RICE:
        gaps, end = decode_rice(buf, offset + 1)
        return np.cumsum(gaps + 1) - 1, end
    if mode == RANKS_SORTED:
        return decode_sorted(buf, offset + 1)
    raise ValueError(f"unknown rank block mode {mode}")


def _perm_block(perm: np.ndarray) -> bytes:
    """A permutation as zigzag(perm[i] - perm[i-1] - 1), perm[-1] = -1: runs that follow
    the reference cost ~0 bits, a jump costs about log2 of its length."""
    d = np.diff(perm, prepend=-1) - 1
    zig = ((d << 1) ^ (d >> 63)).view(np.uint64)
    width = _width(int(zig.max())) if len(zig) else 1
    body = _shuffle_compress(zig, width) if len(zig) else b""
    return _PERM.pack(len(perm), width, len(body)) + body


def _read_perm_block(buf: memoryview, offset: int) -> tuple[np.ndarray, int]:
    n, width, clen = _PERM.unpack_from(buf, offset)
    offset += _PERM.size
    zig = _decompress_unshuffle(buf[offset : offset + clen], n, width)
    d = (zig >> np.uint64(1)).view(np.int64) ^ -(zig & np.uint64(1)).view(np.int64)
    return np.cumsum(d + 1) - 1, offset + clen


def _split_threshold(perm: np.ndarray) -> int:
    """Smallest t such that the values >= t appear in ascending order: one more than the
    largest value preceded by a larger one (the smaller end of any inversion)."""
    earlier_max = np.maximum.accumulate(perm)
    earlier_max = np.concatenate([[-1], earlier_max[:-1]])
    inverted = perm < earlier_max
    return int(perm[inverted].max()) + 1 if inverted.any() else 0


def encode_order(oldest_first: np.ndarray, reference: np.ndarray, ref_kind: int) -> bytes:
    """The list order as a permutation of ``reference`` (same elements):
    ``oldest_first[i] == reference[perm[i]]``.

    Two encodings, the smaller is kept. *Permutation*: ``perm`` as a permutation block
    (small when the order mostly follows the reference, e.g. one refollower moved to the
    newest end). *Split*: when the reference positions >= t appear in ascending order
    (followers new to the store got ascending sids) and only the others are shuffled
    (followers already known from other lists), store t, a bitmap of which list
    positions hold the ascending ones, and the permutation of the others."""
    n = len(oldest_first)
    if n != len(reference):
        raise ValueError("order and reference must hold the same elements")
    head = ORDER_MAGIC + bytes([ref_kind])
    if n == 0 or np.array_equal(oldest_first, reference):
        return head + bytes([ORDER_IDENTITY])
    perm = positions(reference, oldest_first)
    if (perm < 0).any():
        raise ValueError("order holds elements missing from the reference")
    best = head + bytes([ORDER_PERMUTATION]) + _perm_block(perm)
    t = _split_threshold(perm)
    if 0 < t < n:
        ascending = perm >= t
        bits = np.packbits(ascending, bitorder="little").tobytes()
        packed = _ZSTD.compress(bits, asbytes=True)
        split = (
            head
            + bytes([ORDER_SPLIT])
            + _SPLIT.pack(t, n, len(packed))
            + packed
            + _perm_block(perm[~ascending])
        )
        if len(split) < len(best):
            best = split
    return best  # type: ignore[no-any-return]


def positions(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each of ``values`` in ``reference`` (distinct sids), -1 where absent.
    A lookup table over the sid range when that is dense; otherwise a sort of the
    reference (a small list's sids can span a catalogue of tens of millions)."""
    n = len(reference)
    if n == 0:
        return np.full(len(values), -1, dtype=np.int64)
    lo = int(min(reference.min(), values.min())) if len(values) else int(reference.min())
    hi = int(max(reference.max(), values.max())) if len(values) else int(reference.max())
    if hi - lo + 1 <= 4 * (n + len(values)) + (1 << 16):
        pos = np.full(hi - lo + 1, -1, dtype=np.int64)
        pos[reference - lo] = np.arange(n, dtype=np.int64)
        return pos[values - lo]
    ascending = bool(np.all(reference[1:] > reference[:-1]))
    by_value = None if ascending else np.argsort(reference, kind="stable")
    keys = reference if by_value is None else reference[by_value]
    at = np.minimum(np.searchsorted(keys, values), n - 1)
    found = keys[at] == values
    out = at if by_value is None else by_value[at]
    return np.where(found, out, -1)


def encode_order_append(moved: np.ndarray, tail: np.ndarray, ref_kind: int = ORDER_REF_APPEND) -> bytes:
    """An APPEND order: the sorted ``moved`` sids (kept followers that left their place:
    refollows) as a sorted block, then the ``tail`` (the added and moved sids, oldest
    first) as a permutation block of its ascending sort."""
    ranked = np.argsort(tail, kind="stable")
    perm = np.empty(len(tail), dtype=np.int64)
    perm[ranked] = np.arange(len(tail), dtype=np.int64)
    return ORDER_MAGIC + bytes([ref_kind, ORDER_PERMUTATION]) + encode_sorted(moved) + _perm_block(perm)


def decode_order_append(buf: memoryview, added: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(moved sids, tail oldest first) of an APPEND order; ``added`` is the snapshot's
    added sids (ascending), which the tail holds with the moved ones."""
    moved, off = decode_sorted(buf, 6)
    perm, _ = _read_perm_block(buf, off)
    members = union(added, moved)
    if len(perm) != len(members) or (len(perm) and (int(perm.min()) < 0 or int(perm.max()) >= len(perm))):
        raise StoreError("snapshot order payload is damaged (tail does not match the change)")
    return moved, members[perm]


def decode_order(payload: memoryview | bytes) -> tuple[int, np.ndarray | None]:
    """Returns (reference kind, permutation or None for identity)."""
    buf = memoryview(payload)
    if bytes(buf[:4]) != ORDER_MAGIC:
        raise StoreError("snapshot order payload has an unknown format (bad magic)")
    ref_kind, mode = buf[4], buf[5]
    if mode == ORDER_IDENTITY:
        return ref_kind, None
    if mode == ORDER_PERMUTATION:
        return ref_kind, _read_perm_block(buf, 6)[0]
    if mode == ORDER_SPLIT:
        t, n, clen = _SPLIT.unpack_from(buf, 6)
        start = 6 + _SPLIT.size
        bits = _ZSTD.decompress(buf[start : start + clen], decompressed_size=(n + 7) // 8)
        ascending = np.unpackbits(np.frombuffer(bits, np.uint8), count=n, bitorder="little").astype(bool)
        others, _ = _read_perm_block(buf, start + clen)
        perm = np.empty(n, dtype=np.int64)
        perm[ascending] = np.arange(t, n, dtype=np.int64)
        perm[~ascending] = others
        return ref_kind, perm
    raise StoreError(f"snapshot order payload has an unknown mode {mode}")


def apply_order(reference: np.ndarray, perm: np.ndarray | None) -> np.ndarray:
    return reference if perm is None else reference[perm]


# -- sorted-set arithmetic on int64 arrays -------------------------------------------


def isin_sorted(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Boolean: is each of ``values`` (any order) in the sorted unique array ``members``."""
    if len(values) == 0 or len(members) == 0:
        return np.zeros(len(values), dtype=bool)
    lo = int(min(values.min(), members[0]))
    hi = int(max(values.max(), members[-1]))
    span = hi - lo + 1
    if span <= 16 * (len(values) + len(members)) + (1 << 20):
        # Dense surrogate ids: a bitmap over the range beats binary search by ~10x.
        mask = np.zeros(span, dtype=bool)
        mask[members - lo] = True
        return mask[values - lo]
    pos = np.searchsorted(members, values)
    pos[pos == len(members)] = len(members) - 1
    return members[pos] == values


def minus(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted ``a`` without the elements of sorted ``b`` (both unique)."""
    if len(b) == 0 or len(a) == 0:
        return a
    if len(b) * 8 < len(a):
        # A few removals from a large set: binary-search them, one linear copy.
        pos = np.searchsorted(a, b)
        pos = pos[pos < len(a)]  # only b's tail can fall past a's end: still aligned
        return np.delete(a, pos[a[pos] == b[: len(pos)]])
    return a[~isin_sorted(a, b)]


def intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(b) == 0 or len(a) == 0:
        return a[:0]
    return a[isin_sorted(a, b)]


def union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted union of two sorted arrays with no common element."""
    if len(b) == 0:
        return a
    if len(a) == 0:
        return b
    if len(b) * 8 < len(a):
        # A few additions into a large set: one linear copy, no sort.
        return np.insert(a, np.searchsorted(a, b), b)
    lo = int(min(a[0], b[0]))
    hi = int(max(a[-1], b[-1]))
    if hi - lo + 1 <= 16 * (len(a) + len(b)) + (1 << 20):
        mask = np.zeros(hi - lo + 1, dtype=bool)
        mask[a - lo] = True
        mask[b - lo] = True
        return np.flatnonzero(mask).astype(np.int64) + lo
    out = np.concatenate([a, b])
    out.sort(kind="stable")
    return out


def apply_change(base: np.ndarray, removed: np.ndarray, added: np.ndarray) -> np.ndarray:
    return union(minus(base, removed), added)


def compose(
    first: tuple[np.ndarray, np.ndarray], then: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """One (removed, added) change equal to applying ``first`` then ``then``."""
    r1, a1 = first
    r2, a2 = then
    back = intersect(a2, r1)  # removed, then re-added: no net change
    fleeting = intersect(r2, a1)  # added, then removed: no net change
    return union(minus(r1, back), minus(r2, fleeting)), union(minus(a1, fleeting), minus(a2, back))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Ascending unique copy; linear time when the values are dense (surrogate ids)."""
    if len(values) == 0:
        return values.astype(np.int64)
    lo, hi = int(values.min()), int(values.max())
    if hi - lo + 1 <= 16 * len(values) + (1 << 20):
        mask = np.zeros(hi - lo + 1, dtype=bool)
        mask[values - lo] = True
        return np.flatnonzero(mask).astype(np.int64) + lo
    # numpy's default sort (vectorised quicksort) beats timsort on 64-bit keys even for
    # mostly ascending input.
    out = np.sort(values)
    keep = np.ones(len(out), dtype=bool)
    keep[1:] = out[1:] != out[:-1]
    return out if keep.all() else out[keep]
