"""The record shapes of the evidence store, shared by every part.

Column names follow ../shared/FORMATS.md (the public contract). Each stored row also
carries provenance columns (``PROVENANCE_FIELDS``) so any number can be traced back to
the file line or request it came from.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from purgewatch import __version__


class Status(enum.StrEnum):
    """Account status vocabulary (FORMATS.md). Unknown platform words map to UNKNOWN,
    and the platform's own word is kept verbatim in ``status_raw``."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    TAKENDOWN = "takendown"
    DEACTIVATED = "deactivated"
    DELETED = "deleted"
    PROTECTED = "protected"
    LIMITED = "limited"
    NOT_FOUND = "not_found"
    UNKNOWN = "unknown"


STATUS_VALUES: frozenset[str] = frozenset(s.value for s in Status)
# Statuses that mean "the platform acted against the account".
ENFORCEMENT_STATUSES: frozenset[str] = frozenset({"suspended", "takendown"})
GONE_STATUSES: frozenset[str] = frozenset(
    {"suspended", "takendown", "deactivated", "deleted", "not_found"}
)


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

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "observations": OBSERVATIONS_SCHEMA,
    "profiles": PROFILES_SCHEMA,
    "status_events": STATUS_EVENTS_SCHEMA,
    "watchlist": WATCHLIST_SCHEMA,
    "accounts": ACCOUNTS_SCHEMA,
    "snapshots": SNAPSHOTS_SCHEMA,
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
