"""Posts of the watched accounts in the emulated world.

Scripted posts (``[[posts]]``: words, reposts, quotes, replies, deletions) and routine
chatter (``[[chatter]]``) are laid out once per platform, newest first per author. What
a listing shows at scenario time ``t`` is computed from them: a post is there when
``created_us <= t < deleted_us``; a repost or boost also needs its original to be there
(platforms drop the retweets and boosts of a deleted post).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from purgewatch.sim._clock import US
from purgewatch.sim._ids import X_EPOCH_MS, mix64
from purgewatch.sim._scenario import Scenario

INF = 2**62
DAY_US = 86_400 * US
_B32_SORT = "234567abcdefghijklmnopqrstuvwxyz"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"
HASHTAG = re.compile(r"(?:^|(?<=[^\w&]))#(\w+)")


@dataclass
class SimPost:
    index: int
    author: int               # watched account index in the PlatformWorld
    created_us: int
    deleted_us: int
    text: str
    lang: str
    repost_of: int = -1       # index of the original (a repost has no text of its own)
    quote_of: int = -1
    reply_to: int = -1
    key: str | None = None

    def tags(self) -> list[tuple[int, int, str]]:
        """(start, end, tag) of the hashtags in the text, in characters."""
        return [(m.start(), m.end(), m.group(1)) for m in HASHTAG.finditer(self.text)]


def tid(us: int, seq: int) -> str:
    """An atproto TID: 53 bits of microseconds, 10 bits of clock id, sortable base32."""
    v = ((us & ((1 << 53) - 1)) << 10) | (seq & 1023)
    return "".join(_B32_SORT[(v >> (5 * i)) & 31] for i in range(12, -1, -1))


def cid(*parts: int | str) -> str:
    """A CIDv1 (dag-cbor, sha-256) shaped string: 'bafyrei' and 52 base32 characters."""
    v = (mix64(*parts, 0) << 192) | (mix64(*parts, 1) << 128) | (mix64(*parts, 2) << 64) | mix64(*parts, 3)
    return "bafyrei" + "".join(_B32[(v >> (5 * i)) & 31] for i in range(52))


class PostWorld:
    """The posts of one platform's watched accounts."""

    def __init__(self, scenario: Scenario, platform: str, watched_index: dict[str, int]) -> None:
        self.platform = platform
        self.posts: list[SimPost] = []
        by_key: dict[str, int] = {}
        for spec in scenario.posts:
            if spec.account not in watched_index:
                continue
            p = SimPost(len(self.posts), watched_index[spec.account], spec.at_us,
                        spec.deleted_us if spec.deleted_us is not None else INF, spec.text, spec.lang,
                        key=spec.key)
            for ref in ("repost_of", "quote_of", "reply_to"):
                target = getattr(spec, ref)
                if target is not None:
                    setattr(p, ref, by_key[target])
            by_key[spec.key] = p.index
            self.posts.append(p)
        for ch in scenario.chatter:
            rng = np.random.default_rng([scenario.seed, mix64("chatter", ch.name, platform) & 0xFFFFFFFF])
            span = scenario.end_us - ch.from_us
            for key in ch.accounts:
                if key not in watched_index:
                    continue
                n = int(rng.poisson(ch.per_day * span / DAY_US))
                times = np.sort(ch.from_us + (rng.random(n) * span).astype(np.int64))
                picks = rng.integers(0, len(ch.texts), n)
                for t, j in zip(times.tolist(), picks.tolist(), strict=True):
                    self.posts.append(SimPost(len(self.posts), watched_index[key], int(t), INF, ch.texts[j], ch.lang))
        self.by_author: dict[int, list[SimPost]] = {}
        for p in sorted(self.posts, key=lambda p: (-p.created_us, -p.index)):
            self.by_author.setdefault(p.author, []).append(p)
        self.by_key = {k: self.posts[i] for k, i in by_key.items()}
        self.reposts: dict[int, list[SimPost]] = {}
        for p in self.posts:
            if p.repost_of >= 0:
                self.reposts.setdefault(p.repost_of, []).append(p)
        self._by_rkey: dict[str, SimPost] | None = None

    def visible(self, p: SimPost, t: int) -> bool:
        if not p.created_us <= t < p.deleted_us:
            return False
        return p.repost_of < 0 or self.visible(self.posts[p.repost_of], t)

    def listing(self, author: int, t: int) -> list[SimPost]:
        """The author's posts standing at ``t``, newest first."""
        return [p for p in self.by_author.get(author, []) if self.visible(p, t)]

    # ids ------------------------------------------------------------------
    def x_id(self, p: SimPost) -> str:
        return str(((p.created_us // 1000 - X_EPOCH_MS) << 22) | (p.index & 0x3FFFFF))

    def masto_id(self, p: SimPost) -> str:
        return str(((p.created_us // 1000) << 16) | (p.index & 0xFFFF))

    def rkey(self, p: SimPost) -> str:
        return tid(p.created_us, p.index)

    def x_index(self, ident: str) -> SimPost | None:
        if not ident.isdigit():
            return None
        i = int(ident) & 0x3FFFFF
        return self.posts[i] if i < len(self.posts) and self.x_id(self.posts[i]) == ident else None

    def masto_index(self, ident: str) -> SimPost | None:
        if not ident.isdigit():
            return None
        i = int(ident) & 0xFFFF
        return self.posts[i] if i < len(self.posts) and self.masto_id(self.posts[i]) == ident else None

    def bsky_index(self, rkey: str) -> SimPost | None:
        if self._by_rkey is None:
            self._by_rkey = {self.rkey(p): p for p in self.posts}
        return self._by_rkey.get(rkey)
