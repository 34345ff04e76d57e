"""The record shapes of the evidence store, shared by every part.

Column names follow ../shared/FORMATS.md (the public contract). Each stored row also
carries provenance columns (``PROVENANCE_FIELDS``) so any number can be traced back to
the file line or request it came from.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from purgewatch._version import __version__


class Status(enum.StrEnum):
    """Account status vocabulary (FORMATS.md). Unknown platform words map to UNKNOWN,
    and the platform's own word is kept verbatim in ``status_raw``."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    TAKENDOWN = "takendown"
    DEACTIVATED = "deactivated"
    DELETED = "deleted"
    # Gone, but the answer cannot tell enforcement from the owner's deletion (a Mastodon
    # record with ``suspended: true`` and every count zero). Never counted as enforcement.
    SUSPENDED_OR_DELETED = "suspended_or_deleted"
    PROTECTED = "protected"
    LIMITED = "limited"
    NOT_FOUND = "not_found"
    UNKNOWN = "unknown"


STATUS_VALUES: frozenset[str] = frozenset(s.value for s in Status)
# Statuses that mean "the platform acted against the account".
ENFORCEMENT_STATUSES: frozenset[str] = frozenset({"suspended", "takendown"})
GONE_STATUSES: frozenset[str] = frozenset(
    {"suspended", "takendown", "deactivated", "deleted", "suspended_or_deleted", "not_found"}
)
# Gone without saying why: an earlier enforcement reading of the same account decides.
AMBIGUOUS_GONE = "suspended_or_deleted"


def carry_enforcement(key: Any, status: Any) -> Any:
    """Effective statuses of readings sorted by (account, time): a ``suspended_or_deleted``
    reading whose latest earlier definite reading of the same account (skipping
    ``unknown`` and other ``suspended_or_deleted`` readings) is an enforcement status
    takes that status. A Mastodon account seen ``suspended`` with its counts and later
    with every count zeroed was purged after its suspension: the earlier reading is the
    evidence (docs/collecting.md, "Status words"). Otherwise the reading is unchanged.

    ``key`` and ``status`` are equal-length numpy arrays; returns a new object array."""
    status = np.asarray(status, dtype=object)
    key = np.asarray(key)
    n = len(status)
    out = status.copy()
    if n == 0:
        return out
    hole = (status == AMBIGUOUS_GONE) | (status == "unknown") | np.array([s is None for s in status], bool)
    if not hole.any() or not (status == AMBIGUOUS_GONE).any():
        return out
    pos = np.where(hole, -1, np.arange(n))
    last = np.maximum.accumulate(pos)            # latest definite reading at or before i
    ok = last >= 0
    src = np.where(ok, last, 0)
    same = ok & (key[src] == key)
    prev = status[src]
    enforced = same & np.isin(prev.astype(str), sorted(ENFORCEMENT_STATUSES))
    take = (status == AMBIGUOUS_GONE) & enforced
    out[take] = prev[take]
    return out


# Directions of a status change (``status_changes``): what the report counts and what the
# wave detector scans. ``NOT_A_CHANGE`` marks a reading that repeats the previous status.
SUSPENDED, REINSTATED, GONE_UNATTRIBUTED, OTHER_CHANGE, NOT_A_CHANGE = (
    "suspended", "reinstated", "suspended_or_deleted", "other", "")


@dataclass(frozen=True)
class StatusChanges:
    """Per status reading (``unknown`` readings dropped): its position in the input
    (``index``), its effective status (after :func:`carry_enforcement`), the account's
    previous effective status (None for its first reading) and the change's direction."""

    index: np.ndarray
    status: np.ndarray
    previous: np.ndarray
    direction: np.ndarray


def status_changes(key: Any, status: Any, is_event: Any) -> StatusChanges:
    """The one definition of a status transition (DESIGN rule 4), used by the wave
    detector and by the findings' status counts. Readings are sorted by (account, time);
    ``is_event`` marks rows of ``status_events`` (each one *is* a reported change).

    * ``unknown`` is a failed look-up, never a status: those readings are dropped.
    * ``suspended``: into an enforcement status (``suspended``, ``takendown``) from any
      other status, or a stream event with no earlier reading (the event reports it).
    * ``reinstated``: to ``active`` from an enforcement status, or a stream event
      ``active`` with no earlier reading.
    * ``suspended_or_deleted``: present to gone without the platform saying why (never a
      suspension; after an enforcement reading it *is* that suspension: carry_enforcement).
    * ``other``: any other change, and a first stream event of any other status.
    """
    key = np.asarray(key)
    status = np.asarray(status, dtype=object)
    is_event = np.asarray(is_event, dtype=bool)
    index = np.flatnonzero(status != "unknown")
    key, status, is_event = key[index], status[index], is_event[index]
    status = carry_enforcement(key, status)
    n = len(key)
    # Statuses as codes into the few distinct words: comparing millions of Python strings
    # (or their copies as fixed-width text) costs seconds on a large store.
    import pandas as pd  # here: model is imported by every layer, pandas only needed here

    code, words = pd.factorize(status, use_na_sentinel=False)
    words = np.asarray(words, dtype=object)
    enforced_word = np.array([w in ENFORCEMENT_STATUSES for w in words], dtype=bool)
    gone_word = np.array([w in GONE_STATUSES for w in words], dtype=bool)
    has_prev = np.zeros(n, dtype=bool)
    has_prev[1:] = key[1:] == key[:-1]
    prev_code = np.full(n, -1, dtype=np.int64)
    prev_code[1:] = code[:-1]
    prev_code[~has_prev] = -1
    previous = np.empty(n, dtype=object)
    previous[has_prev] = words[prev_code[has_prev]]
    enforced = enforced_word[code] if n else np.zeros(0, dtype=bool)
    prev_enforced = has_prev & enforced_word[np.maximum(prev_code, 0)] if n else np.zeros(0, dtype=bool)
    prev_gone = has_prev & gone_word[np.maximum(prev_code, 0)] if n else np.zeros(0, dtype=bool)
    first_event = ~has_prev & is_event
    changed = (has_prev & (prev_code != code)) | first_event
    suspended = enforced & ((has_prev & ~prev_enforced) | first_event)
    reinstated = (code == _code_of(words, "active")) & (prev_enforced | first_event)
    unattributed = (code == _code_of(words, AMBIGUOUS_GONE)) & ~prev_gone & changed
    direction = np.full(n, NOT_A_CHANGE, dtype=object)
    direction[changed] = OTHER_CHANGE
    direction[unattributed] = GONE_UNATTRIBUTED
    direction[reinstated] = REINSTATED
    direction[suspended] = SUSPENDED
    return StatusChanges(index, status, previous, direction)


def _code_of(words: np.ndarray, word: str) -> int:
    """Code of ``word`` among factorized ``words``; -2 (matches no code) when absent."""
    hits = np.flatnonzero(words == word)
    return int(hits[0]) if len(hits) else -2


def normalize_status(raw: str | None) -> tuple[str, str | None]:
    """Map a status word to the vocabulary; return (status, raw word kept when unknown)."""
    if raw is None:
        return Status.UNKNOWN.value, None
    word = raw.strip().lower()
    if word in STATUS_VALUES:
        return word, None
    return Status.UNKNOWN.value, raw


TS = pa.timestamp("us", tz="UTC")

PROVENANCE_FIELDS: list[pa.Field] = [
    pa.field("source", pa.string()),          # e.g. "import:observations", "bluesky", "web-archive"
    pa.field("source_ref", pa.string()),      # file:line, or the request URL
    pa.field("retrieved_at", TS),             # when PurgeWatch received/read it
    pa.field("tool_version", pa.string()),
    pa.field("payload_hash", pa.string()),    # sha256 of the raw line / response body
    pa.field("batch_id", pa.string()),        # the store batch that committed it
    pa.field("record_key", pa.uint64()),      # content hash for idempotent re-imports
]

# Added with the bot-likeness model (analysis/bots). Stores written before have no such
# columns: readers see them as null, and content keys skip them while they are null, so
# re-importing an old file into an old store still adds nothing.
LATE_FACT_FIELDS: list[pa.Field] = [
    pa.field("favourites_count", pa.int64()),   # posts liked (X favourites / likes)
    pa.field("listed_count", pa.int64()),       # public lists the account is on (X)
    pa.field("default_profile", pa.bool_()),    # never changed the default theme (X v1.1)
]

ACCOUNT_FACT_FIELDS: list[pa.Field] = [
    pa.field("platform", pa.string(), nullable=False),
    pa.field("account_id", pa.string(), nullable=False),
    pa.field("observed_at", TS, nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("status_raw", pa.string()),
    pa.field("followers_count", pa.int64()),
    pa.field("following_count", pa.int64()),
    pa.field("posts_count", pa.int64()),
    pa.field("handle", pa.string()),
    pa.field("display_name", pa.string()),
    pa.field("created_at", TS),
    pa.field("verified", pa.bool_()),
    pa.field("default_profile_image", pa.bool_()),
    pa.field("description", pa.string()),
    pa.field("detail", pa.string()),
    pa.field("label", pa.string()),           # dataset class label (e.g. cresci class), optional
]
ACCOUNT_FACT_FIELDS += LATE_FACT_FIELDS
LATE_FACT_COLUMNS: frozenset[str] = frozenset(f.name for f in LATE_FACT_FIELDS)

OBSERVATIONS_SCHEMA = pa.schema(ACCOUNT_FACT_FIELDS + PROVENANCE_FIELDS)
PROFILES_SCHEMA = pa.schema(ACCOUNT_FACT_FIELDS + PROVENANCE_FIELDS)

STATUS_EVENTS_SCHEMA = pa.schema(
    [
        pa.field("platform", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("at", TS, nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("status_raw", pa.string()),
    ]
    + PROVENANCE_FIELDS
)

WATCHLIST_SCHEMA = pa.schema(
    [
        pa.field("platform", pa.string(), nullable=False),
        pa.field("account", pa.string(), nullable=False),   # as given (id or handle)
        pa.field("account_id", pa.string()),                # resolved id, when known
        pa.field("group", pa.string(), nullable=False),
        pa.field("label", pa.string()),
        pa.field("action", pa.string(), nullable=False),    # "add" | "remove" (append-only log)
        pa.field("at", TS, nullable=False),
    ]
    + PROVENANCE_FIELDS
)

# Catalogue of every account id the store has seen: dense surrogate ids for compact
# follower snapshots. Append-only; a (platform, account_id) pair gets one sid forever.
# An id that is a canonical decimal below 10**19 (X, Mastodon) is kept as the integer
# ``account_num`` (``account_id`` null); any other id as the string ``account_id``.
# Files written before 0.3 have no ``account_num`` (every id a string): see
# store/_catalogue.py.
ACCOUNTS_SCHEMA = pa.schema(
    [
        pa.field("sid", pa.int64(), nullable=False),
        pa.field("platform", pa.string(), nullable=False),
        pa.field("account_id", pa.string()),
        pa.field("account_num", pa.uint64()),
    ]
)

# One row per follower-list snapshot; the ids themselves are in ``payload`` (see
# store/snapshots.py for the encoding).
SNAPSHOTS_SCHEMA = pa.schema(
    [
        pa.field("snapshot_id", pa.string(), nullable=False),
        pa.field("platform", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("observed_at", TS, nullable=False),      # when reading the list began
        pa.field("completed_at", TS),                      # when its last page was read
        pa.field("partial", pa.bool_(), nullable=False),
        pa.field("n_followers", pa.int64(), nullable=False),
        pa.field("base_snapshot_id", pa.string()),          # null = full; else delta against it
        pa.field("encoding", pa.string(), nullable=False),
        pa.field("payload", pa.large_binary(), nullable=False),
        pa.field("order_payload", pa.large_binary()),        # list order, when known
    ]
    + PROVENANCE_FIELDS
)

# What an account published, one row per version of a post: a re-read that finds the
# same text adds nothing (the content key leaves ``observed_at`` out, see
# store._store.content_columns), an edit adds a row. ``observed_at`` is when that version
# was first read; when it was last seen comes from ``post_reads``.
POSTS_SCHEMA = pa.schema(
    [
        pa.field("platform", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("created_at", TS),
        pa.field("observed_at", TS, nullable=False),
        pa.field("text", pa.string()),
        pa.field("text_sha256", pa.string()),     # of the text as published (UTF-8)
        pa.field("url", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("reply_to", pa.string()),
        pa.field("repost_of", pa.string()),
        pa.field("quote_of", pa.string()),
        pa.field("links", pa.string()),           # JSON array, as the platform gives them
        pa.field("hashtags", pa.string()),        # JSON array, lowercased, without '#'
        pa.field("mentions", pa.string()),        # JSON array
    ]
    + PROVENANCE_FIELDS
)

# Every read of an account's posts, whether it found anything or not: the evidence that
# a post was still there (``post_ids``) or gone, and whether an account was read at all
# in a window. ``complete``: the whole window was listed (a read cut short by paging or a
# limit is never evidence that a post is missing). ``answer``: ``ok`` (a listing),
# ``not_found`` (the platform said this post, ``post_id``, does not exist), or the reason
# nothing could be read (``account_unavailable``, ``error``) -- the last two are never
# evidence about posts.
POST_READS_SCHEMA = pa.schema(
    [
        pa.field("platform", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("read_at", TS, nullable=False),
        pa.field("window_start", TS),
        pa.field("window_end", TS),
        pa.field("complete", pa.bool_(), nullable=False),
        pa.field("answer", pa.string(), nullable=False),
        pa.field("post_id", pa.string()),                   # the post asked about directly
        pa.field("post_ids", pa.list_(pa.string())),        # the posts the listing held
    ]
    + PROVENANCE_FIELDS
)

RUNS_SCHEMA = pa.schema(
    [
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("started_at", TS, nullable=False),
        pa.field("committed_at", TS, nullable=False),
        pa.field("command", pa.string()),
        pa.field("source", pa.string()),
        pa.field("source_ref", pa.string()),
        pa.field("tool_version", pa.string()),
        pa.field("rows", pa.string()),          # JSON: {"observations": 123, ...}
        pa.field("note", pa.string()),
    ]
)

# Published totals of status changes (FORMATS.md ``status_counts``): a tracker's daily
# totals, a platform's transparency numbers. ``publisher`` is the file's ``source`` cell
# (who published it); it is a content column, so two publishers' equal totals for the
# same period are two rows, not one row and a duplicate.
STATUS_COUNT_KINDS = ("suspension", "reinstatement")
STATUS_COUNTS_SCHEMA = pa.schema(
    [
        pa.field("platform", pa.string(), nullable=False),
        pa.field("period_start", TS, nullable=False),
        pa.field("period_end", TS, nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("count", pa.int64(), nullable=False),
        pa.field("publisher", pa.string(), nullable=False),
        pa.field("group", pa.string()),
        pa.field("category", pa.string()),
        pa.field("note", pa.string()),
    ]
    + PROVENANCE_FIELDS
)

# Withdrawn imports: one row per retracted batch. Every analysis hides the rows of a
# retracted batch; the rows stay stored, and this table says who withdrew them and why.
RETRACTIONS_SCHEMA = pa.schema(
    [
        pa.field("retracted_batch", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("at", TS, nullable=False),
        pa.field("rows", pa.string()),          # JSON: rows per table the batch held
    ]
    + PROVENANCE_FIELDS
)

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "observations": OBSERVATIONS_SCHEMA,
    "profiles": PROFILES_SCHEMA,
    "status_events": STATUS_EVENTS_SCHEMA,
    "status_counts": STATUS_COUNTS_SCHEMA,
    "retractions": RETRACTIONS_SCHEMA,
    "watchlist": WATCHLIST_SCHEMA,
    "accounts": ACCOUNTS_SCHEMA,
    "snapshots": SNAPSHOTS_SCHEMA,
    "posts": POSTS_SCHEMA,
    "post_reads": POST_READS_SCHEMA,
    "runs": RUNS_SCHEMA,
}


@dataclass
class Observation:
    """One look at one account at one moment, as a connector produces it."""

    platform: str
    account_id: str
    observed_at: datetime
    status: str
    status_raw: str | None = None
    followers_count: int | None = None
    following_count: int | None = None
    posts_count: int | None = None
    handle: str | None = None
    display_name: str | None = None
    created_at: datetime | None = None
    verified: bool | None = None
    default_profile_image: bool | None = None
    description: str | None = None
    detail: str | None = None
    label: str | None = None
    favourites_count: int | None = None
    listed_count: int | None = None
    default_profile: bool | None = None
    source: str | None = None
    source_ref: str | None = None
    payload_hash: str | None = None


@dataclass
class StatusEvent:
    platform: str
    account_id: str
    at: datetime
    status: str
    status_raw: str | None = None
    source: str | None = None
    source_ref: str | None = None
    payload_hash: str | None = None


@dataclass
class FollowerSnapshot:
    """A follower list read at one moment. ``follower_ids`` newest first when the
    platform gives order; ``partial`` when the list was not read to the end."""

    platform: str
    account_id: str
    observed_at: datetime
    follower_ids: list[str] = field(default_factory=list)
    partial: bool = False
    ordered: bool = True
    # Reading a long list takes time (hours, at real rate limits): a list read across an
    # event mixes before and after. ``completed_at`` bounds the read so explain can pick
    # snapshots that were wholly read before (or after) a drop.
    completed_at: datetime | None = None
    source: str | None = None
    source_ref: str | None = None
    payload_hash: str | None = None


TOOL_VERSION = __version__
