"""Reversible, seeded identifiers for generated accounts.

Every generated account is an integer index into its platform's arrays. Its public id,
handle and username are computed from the index on demand, and computed back from the
string when a request names it, so nothing is stored per account and lookups cost O(1).
The maps are affine permutations (``k * a + b mod 2**bits`` with ``a`` odd), which look
random enough for a fixture and are exactly invertible.
"""

from __future__ import annotations

import hashlib

B32 = "abcdefghijklmnopqrstuvwxyz234567"
B32_INDEX = {c: i for i, c in enumerate(B32)}
B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
X_EPOCH_MS = 1288834974657  # Twitter snowflake epoch (2010-11-04T01:42:54.657Z)

FIRST_NAMES = (
    "ana", "ben", "carla", "dario", "elena", "farid", "gina", "hugo", "ines", "jonas",
    "kira", "luis", "maria", "nico", "olga", "pablo", "quinn", "rosa", "sami", "tomas",
    "ursula", "victor", "wanda", "ximena", "yusuf", "zoe", "amir", "bruna", "chen", "dina",
)
LAST_NAMES = (
    "silva", "rossi", "novak", "garcia", "kim", "okafor", "berg", "moreau", "lopez", "sato",
    "weber", "costa", "ivanova", "haddad", "nilsen", "romero", "tanaka", "mensah", "keller", "diaz",
)


def mix64(*parts: int | str) -> int:
    """A stable 64-bit hash of the parts (same value on every run and machine)."""
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(str(p).encode())
        h.update(b"\x1f")
    return int.from_bytes(h.digest(), "big")


M64 = (1 << 64) - 1


def fmix(a: int, b: int = 0) -> int:
    """A fast 64-bit integer hash (splitmix64 finaliser) for per-account hot paths."""
    z = (a * 0x9E3779B97F4A7C15 + b * 0xBF58476D1CE4E5B9 + 0x632BE59BD9B4E019) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def unit(*parts: int | str) -> float:
    """A stable uniform number in [0, 1) from the parts."""
    return mix64(*parts) / 2.0**64


def _wide(bits: int, *parts: int | str) -> int:
    """A stable hash of at least ``bits`` bits (so the permutation mixes every bit)."""
    v, i = 0, 0
    while i * 64 < bits:
        v = (v << 64) | mix64(*parts, i)
        i += 1
    return v


class AffinePerm:
    """A bijection on [0, 2**bits) keyed by a seed."""

    def __init__(self, seed: int, salt: str, bits: int) -> None:
        self.mod = 1 << bits
        self.a = (_wide(bits, seed, salt, "a") | 1) % self.mod
        self.b = _wide(bits, seed, salt, "b") % self.mod
        self.a_inv = pow(self.a, -1, self.mod)

    def fwd(self, k: int) -> int:
        return (k * self.a + self.b) % self.mod

    def inv(self, v: int) -> int:
        return ((v - self.b) * self.a_inv) % self.mod


class IdCodec:
    """Ids, handles and usernames of one platform's generated accounts."""

    def __init__(self, seed: int, platform: str) -> None:
        self.platform = platform
        self.did_perm = AffinePerm(seed, platform + ":did", 120)
        self.name_perm = AffinePerm(seed, platform + ":name", 32)
        self.low_perm = AffinePerm(seed, platform + ":low", 22)

    # Bluesky DIDs: did:plc:<24 base32 chars> = 120 bits.
    def did(self, k: int) -> str:
        v = self.did_perm.fwd(k)
        chars = []
        for _ in range(24):
            chars.append(B32[v & 31])
            v >>= 5
        return "did:plc:" + "".join(reversed(chars))

    def did_index(self, did: str) -> int | None:
        if not did.startswith("did:plc:") or len(did) != 32:
            return None
        v = 0
        for c in did[8:]:
            d = B32_INDEX.get(c)
            if d is None:
                return None
            v = (v << 5) | d
        return self.did_perm.inv(v)

    # Numeric snowflake-like ids: (created_ms - epoch) << 22 | perm(k). X's real layout,
    # so `(id >> 22) + 1288834974657` is the creation time in ms; reused for Mastodon.
    def snowflake(self, k: int, created_ms: int, epoch_ms: int = X_EPOCH_MS) -> str:
        return str(((created_ms - epoch_ms) << 22) | self.low_perm.fwd(k))

    def snowflake_index(self, text: str, epoch_ms: int = X_EPOCH_MS) -> tuple[int, int] | None:
        """(index, created_ms) encoded in a numeric id, or None when it is not one of ours."""
        if not text.isdigit() or len(text) > 20:
            return None
        v = int(text)
        return self.low_perm.inv(v & ((1 << 22) - 1)), (v >> 22) + epoch_ms

    # Handles: "<first><last>-<base36>" for Bluesky, "<first>_<base36>" for X and Mastodon.
    def _tag(self, k: int) -> tuple[str, str, str]:
        n = self.name_perm.fwd(k)
        h = fmix(n, 7)
        first = FIRST_NAMES[h % len(FIRST_NAMES)]
        last = LAST_NAMES[(h >> 16) % len(LAST_NAMES)]
        return first, last, to_b36(n)

    def handle(self, k: int) -> str:
        first, last, tag = self._tag(k)
        return f"{first}{last}-{tag}.bsky.social"

    def username(self, k: int) -> str:
        first, _, tag = self._tag(k)
        return f"{first[:6]}_{tag}"

    def display_name(self, k: int) -> str:
        first, last, _ = self._tag(k)
        return f"{first.title()} {last.title()}"

    def handle_index(self, handle: str) -> int | None:
        h = handle.lower()
        if h.endswith(".bsky.social"):
            local = h[: -len(".bsky.social")]
            sep = "-"
        else:
            local = h
            sep = "_"
        _, found, tag = local.rpartition(sep)
        if not found or not tag:
            return None
        n = from_b36(tag)
        if n is None or n >= 1 << 32:
            return None
        return self.name_perm.inv(n)


def to_b36(n: int) -> str:
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(B36[r])
    return "".join(reversed(out))


def from_b36(s: str) -> int | None:
    try:
        return int(s, 36)
    except ValueError:
        return None
