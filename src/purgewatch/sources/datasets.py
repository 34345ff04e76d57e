"""Loaders for public research datasets (a local copy; PurgeWatch never downloads them).

Each loader knows its files: their columns, their time zone conventions and what their
labels mean, and writes account facts, status events and watchlist groups with
provenance (``source`` = ``dataset:<name>`` or ``web-archive``; ``source_ref`` = file:line
or the memento URL). Loaders stream through the same vectorised typing as the file
importers, and re-running one adds nothing.

The folder holding the dataset folders comes from ``--path``, else the environment
variable ``PURGEWATCH_DATASETS``. See docs/datasets.md for what each one maps to.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from purgewatch.errors import ConfigError, InputError, Location
from purgewatch.sources.files._foreign import import_foreign
from purgewatch.sources.files._interchange import (
    _FACTS,
    SPECS,
    ImportReport,
    Progress,
    to_store_rows,
    write_batches,
)
from purgewatch.sources.files._read import LINE_COL, RawFile, read_bytes, read_cells
from purgewatch.sources.files._validate import Validated, validate
from purgewatch.store import Store
from purgewatch.watchlist import import_watchlist

ENV_DATASETS = "PURGEWATCH_DATASETS"
Loader = Callable[[Store, Path, "int | None", "Progress | None"], ImportReport]


@dataclass(frozen=True)
class Dataset:
    name: str
    folder: str
    what: str
    rows: str
    into: str
    upstream: str
    licence: str
    loader: Loader

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "folder": self.folder, "what": self.what, "rows": self.rows,
                "into": self.into, "upstream": self.upstream, "licence": self.licence}


def datasets_dir(path: str | Path | None, *, required: bool = True) -> Path | None:
    """``path``, else ``$PURGEWATCH_DATASETS``; ConfigError when required and unset."""
    chosen = path if path is not None else os.environ.get(ENV_DATASETS)
    if chosen is None:
        if required:
            raise ConfigError(
                "no datasets folder given",
                hint=f"pass --path DIR or set {ENV_DATASETS} to the folder holding the dataset folders",
            )
        return None
    return Path(chosen).expanduser()


# --------------------------------------------------------------------------- helpers
def _facts(path: str, n: int, lines: pa.Array, *, file_sha256: str | None,
           **cols: pa.Array | str | None) -> RawFile:
    """Cells for the account-fact columns; a str value is repeated on every row.
    ``file_sha256`` (of the source file) is every row's payload hash."""
    table: dict[str, pa.Array] = {}
    for name, value in cols.items():
        if isinstance(value, str):
            table[name] = pa.repeat(pa.scalar(value, pa.string()), n)
        elif value is None:
            table[name] = pa.nulls(n, pa.string())
        else:
            table[name] = pc.cast(value, pa.string())
    table[LINE_COL] = lines
    return RawFile(path, "csv", pa.table(table), list(cols), file_sha256=file_sha256)


def _check(v: Validated) -> None:
    """Dataset files are known: any bad cell is a damaged copy, reported precisely."""
    if v.n_bad:
        err = v.first_error()
        raise InputError(f"{err.message} (is this an unmodified copy of the dataset?)")


def _store(store: Store, v: Validated, table: str, source: str, report: ImportReport,
           progress: Progress | None, source_ref: pa.Array | None = None) -> None:
    rows = to_store_rows(table, v)
    rows = rows.set_column(rows.schema.get_field_index("source"), "source",
                           pa.repeat(pa.scalar(source, pa.string()), rows.num_rows))
    if source_ref is not None:
        rows = rows.set_column(rows.schema.get_field_index("source_ref"), "source_ref", source_ref)
    with store.writer(command=f"datasets import {report.kind}", source=source, source_ref=v.path) as w:
        write_batches(w, table, rows, 500_000, report, progress)
        report.duplicates += w.duplicates.get(table, 0)


def _ref(base: Path, path: str | Path) -> str:
    """A dataset file as ``<dataset folder>/<file>``: provenance that does not depend on
    where the local copy lives."""
    try:
        return Path(path).resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def _line_refs(name: str, lines: pa.ChunkedArray | pa.Array) -> pa.Array:
    out = pc.binary_join_element_wise(pa.scalar(name), pc.cast(lines, pa.string()), ":")
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _need(base: Path, *parts: str) -> Path:
    p = base.joinpath(*parts)
    if not p.exists():
        raise InputError("dataset file not found", location=Location(str(p)),
                         hint="point --path (or PURGEWATCH_DATASETS) at the folder holding the dataset folders")
    return p


def _limit(raw: RawFile, limit: int | None) -> RawFile:
    if limit is not None and raw.table.num_rows > limit:
        raw.table = raw.table.slice(0, limit)
    return raw


def _watch(store: Store, report: ImportReport, entries: pa.Table, source: str) -> None:
    change = import_watchlist(store, entries, source=source, command=f"datasets import {report.kind}")
    report.tables["watchlist"] = report.tables.get("watchlist", 0) + change.added + change.changed
    report.notes.append(f"watchlist: added {change.added}, changed {change.changed}, "
                        f"unchanged {change.unchanged}")


# --------------------------------------------------------------------------- loaders
def load_ira(store: Store, base: Path, limit: int | None, progress: Progress | None) -> ImportReport:
    """Follower/following/post counts of IRA accounts at each tweet (observations) and
    each author's Linvill & Warren category as its watchlist group.

    Accounts are keyed by handle (``author_id``): the numeric ids in authors.csv went
    through a float and many are rounded (906000000000000000), so they are not used.
    Times are UTC as published; ``harvested_date`` (when the counts were read) is the
    observation time, ``publish_date`` when it is missing."""
    report = ImportReport(kind="ira-follower-series")
    folder = _need(base, "ira-follower-series")
    series = str(_need(folder, "follower_series.csv.gz"))
    authors = str(_need(folder, "authors.csv"))
    t0 = time.perf_counter()
    raw = read_cells(series, ["author_id", "publish_date", "harvested_date", "following",
                              "followers", "updates"], ["author_id", "publish_date"], limit=limit)
    t = raw.table
    n = t.num_rows
    when = pc.if_else(pc.equal(t.column("harvested_date"), ""), t.column("publish_date"),
                      t.column("harvested_date"))
    # Two rows give -1 for all three counts: the harvester's "not read", not a count
    # (imports refuse negative counts). They are stored without counts, and said so.
    counts = {}
    unread = 0
    for c in ("followers", "following", "updates"):
        neg = pc.fill_null(pc.starts_with(pc.utf8_trim_whitespace(t.column(c)), "-"), False)
        unread = max(unread, int(pc.sum(neg).as_py() or 0))
        counts[c] = pc.if_else(neg, pa.scalar("", pa.string()), t.column(c))
    if unread:
        report.notes.append(f"{unread} row(s) with count -1 (not read by the harvester) stored without counts")
    facts = _facts(series, n, t.column(LINE_COL), file_sha256=raw.file_sha256, platform="x", account_id=t.column("author_id"),
                   observed_at=when, status="active", followers_count=counts["followers"],
                   following_count=counts["following"], posts_count=counts["updates"],
                   handle=t.column("author_id"))
    facts.ref_name = _ref(base, series)
    facts.aliases = {"account_id": "author_id", "observed_at": "harvested_date",
                     "followers_count": "followers", "following_count": "following",
                     "posts_count": "updates"}
    v = validate(facts, _FACTS, naive_utc=True)
    _check(v)
    report.files.append(series)
    report.rows_read += n
    _store(store, v, "observations", "dataset:ira-follower-series", report, progress)
    a = read_cells(authors, ["author_id", "account_category", "account_type"],
                   ["author_id", "account_category"]).table
    entries = pa.table({"platform": pa.repeat(pa.scalar("x", pa.string()), a.num_rows), "account": a.column("author_id"),
                        "account_id": a.column("author_id"), "group": a.column("account_category"),
                        "label": pa.nulls(a.num_rows, pa.string()),
                        "source_ref": _line_refs(_ref(base, authors), a.column(LINE_COL))})
    report.files.append(authors)
    _watch(store, report, entries, "dataset:ira-follower-series")
    report.seconds = time.perf_counter() - t0
    return report


_CRESCI_LABEL_FIX = {"genuine_acconts": "genuine_accounts"}  # upstream file-name typo


def load_cresci(store: Store, base: Path, limit: int | None, progress: Progress | None) -> ImportReport:
    """v1.1 user objects of the cresci-2017 classes -> profiles, ``label`` = class (the
    file name, upstream typo fixed). ``updated`` (when the profile was crawled, UTC) is the
    observation time; created_at in Java milliseconds (``1183552203000L``, in
    traditional_spambots_1) is converted to seconds."""
    report = ImportReport(kind="cresci-2017")
    folder = _need(base, "cresci-2017")
    files = sorted(folder.glob("users_*.csv"))
    if not files:
        raise InputError("no users_*.csv files", location=Location(str(folder)))
    t0 = time.perf_counter()

    def fix(raw: RawFile) -> RawFile:
        raw.ref_name = _ref(base, raw.path)
        col = raw.table.column("created_at")
        fixed = pc.replace_substring_regex(col, r"^([0-9]+)[0-9]{3}L$", r"\1")
        raw.table = raw.table.set_column(raw.table.schema.get_field_index("created_at"), "created_at", fixed)
        return _limit(raw, limit)

    for f in files:
        label = f.stem.removeprefix("users_")
        sub = import_foreign(store, "v1-users", [f], label=_CRESCI_LABEL_FIX.get(label, label),
                             naive_utc=True, source="dataset:cresci-2017", transform=fix,
                             progress=progress)
        _merge(report, sub)
    report.seconds = time.perf_counter() - t0
    return report


def _merge(report: ImportReport, sub: ImportReport) -> None:
    report.files += sub.files
    report.rows_read += sub.rows_read
    report.imported += sub.imported
    report.duplicates += sub.duplicates
    report.batches += sub.batches
    report.notes += sub.notes
    for t, n in sub.tables.items():
        report.tables[t] = report.tables.get(t, 0) + n


VOTERFRAUD_OBSERVED = "2021-01-10T00:00:00Z"  # user_active_status "as of January 10th" (2021)


def load_voterfraud(store: Store, base: Path, limit: int | None, progress: Progress | None) -> ImportReport:
    """users/*.csv -> profiles with the enforcement outcome observed 2021-01-10, and each
    user's retweet-graph community as watchlist group (``community_0`` = detractors of
    the fraud claims, ``community_1``..``4`` = promoters, ``community_none`` when Infomap
    gave none; label ``detractor``/``promoter``). Upstream ``deleted`` means "not found",
    which a deleted and a deactivated account look like, so it is stored as ``not_found``
    with ``status_raw`` = ``deleted``."""
    report = ImportReport(kind="voterfraud2020")
    folder = _need(base, "voterfraud2020", "data", "users")
    files = sorted(folder.glob("*.csv"))
    t0 = time.perf_counter()
    for f in files:
        raw = read_cells(f, ["user_id", "user_community", "user_active_status"],
                         ["user_id", "user_active_status"], limit=limit)
        t = raw.table
        n = t.num_rows
        word = pc.utf8_lower(pc.utf8_trim_whitespace(t.column("user_active_status")))
        status = pc.if_else(pc.equal(word, "deleted"), pa.scalar("not_found"), t.column("user_active_status"))
        facts = _facts(str(f), n, t.column(LINE_COL), file_sha256=raw.file_sha256, platform="x", account_id=t.column("user_id"),
                       observed_at=VOTERFRAUD_OBSERVED, status=status)
        facts.aliases = {"account_id": "user_id", "status": "user_active_status"}
        facts.ref_name = _ref(base, f)
        v = validate(facts, _FACTS)
        _check(v)
        raw_word = pc.if_else(pc.equal(word, "deleted"), t.column("user_active_status"),
                              pa.scalar(None, pa.string()))
        keep = v.good.column("status_raw")
        v.good = v.good.set_column(v.good.schema.get_field_index("status_raw"), "status_raw",
                                   pc.coalesce(keep, raw_word))
        report.files.append(str(f))
        report.rows_read += n
        _store(store, v, "profiles", "dataset:voterfraud2020", report, progress)
        comm = pc.utf8_trim_whitespace(t.column("user_community"))
        group = pc.if_else(pc.equal(comm, ""), pa.scalar("community_none"),
                           pc.binary_join_element_wise(pa.scalar("community"), comm, "_"))
        label = pc.if_else(pc.equal(comm, "0"), pa.scalar("detractor"),
                           pc.if_else(pc.equal(comm, ""), pa.scalar(None, pa.string()), pa.scalar("promoter")))
        entries = pa.table({"platform": pa.repeat(pa.scalar("x", pa.string()), n), "account": t.column("user_id"),
                            "group": group, "label": label,
                            "source_ref": _line_refs(_ref(base, f), t.column(LINE_COL))})
        _watch(store, report, entries, "dataset:voterfraud2020")
    report.seconds = time.perf_counter() - t0
    return report


def load_unsuspensions(store: Store, base: Path, limit: int | None, progress: Progress | None) -> ImportReport:
    """timestamps.csv (no header: twitter_id, suspension_observed_epoch,
    reversal_observed_epoch) -> status events: ``suspended`` when the suspension was
    observed (if known), ``active`` when its reversal was. Observation lags the change,
    by hours to days (see the upstream README)."""
    report = ImportReport(kind="unsuspensions-2022")
    path = str(_need(base, "unsuspensions-2022", "timestamps.csv"))
    t0 = time.perf_counter()
    data = read_bytes(path)
    file_hash = hashlib.sha256(data).hexdigest()
    names = ["twitter_id", "suspension_observed_epoch", "reversal_observed_epoch"]
    t = pacsv.read_csv(pa.BufferReader(data), read_options=pacsv.ReadOptions(column_names=names),
                       convert_options=pacsv.ConvertOptions(
                           column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False))
    if data.count(b"\n") + (0 if data.endswith(b"\n") else 1) != t.num_rows:
        raise InputError("unexpected layout (blank or multi-line rows)", location=Location(path))
    if limit is not None:
        t = t.slice(0, limit)
    n = t.num_rows
    lines = pa.array(range(1, n + 1), pa.int64())
    spec = SPECS["status_events"]
    parts = []
    for col, status in (("suspension_observed_epoch", "suspended"), ("reversal_observed_epoch", "active")):
        has = pc.not_equal(pc.utf8_trim_whitespace(t.column(col)), "")
        sub = t.filter(has)
        raw = RawFile(path, "csv", pa.table({
            "platform": pa.repeat(pa.scalar("x", pa.string()), sub.num_rows),
            "account_id": sub.column("twitter_id"),
            "at": sub.column(col),
            "status": pa.repeat(pa.scalar(status, pa.string()), sub.num_rows),
            LINE_COL: lines.filter(has),
        }), ["account_id", "at", "status"], aliases={"account_id": "twitter_id", "at": col},
            ref_name=_ref(base, path), file_sha256=file_hash)
        v = validate(raw, spec)
        _check(v)
        parts.append(v)
    report.files.append(path)
    report.rows_read += n
    for v in parts:
        _store(store, v, "status_events", "dataset:unsuspensions-2022", report, progress)
    totals = base / "unsuspensions-2022" / "report_daily_totals.csv"
    if totals.exists():
        _load_unsuspension_totals(store, base, str(totals), limit, report, progress)
    report.seconds = time.perf_counter() - t0
    return report


UNSUSPENSIONS_PUBLISHER = "travisbrown/unsuspensions daily report"


def _next_day(day: str) -> str | None:
    try:
        return (date.fromisoformat(day) + timedelta(days=1)).isoformat() + "T00:00:00Z"
    except ValueError:
        return None


def _load_unsuspension_totals(store: Store, base: Path, path: str, limit: int | None,
                              report: ImportReport, progress: Progress | None) -> None:
    """report_daily_totals.csv (``report_date, reversals_observed``: reinstatements the
    tracker observed per UTC day) -> ``status_counts`` rows, one UTC day each, so the
    tracker's own totals can be scanned and checked against its per-account rows."""
    raw = _limit(read_cells(path, ["report_date", "reversals_observed"],
                            ["report_date", "reversals_observed"]), limit)
    days = [d.strip() for d in raw.table.column("report_date").to_pylist()]
    start = pa.array([f"{d}T00:00:00Z" for d in days], pa.string())
    # The period ends at the next UTC day (an unreadable date is reported on its line, by
    # validate, through period_start).
    end = pa.array([_next_day(d) for d in days], pa.string())
    n = raw.table.num_rows
    cells = RawFile(path, "csv", pa.table({
        "platform": pa.repeat(pa.scalar("x", pa.string()), n),
        "period_start": start,
        "period_end": end,
        "kind": pa.repeat(pa.scalar("reinstatement", pa.string()), n),
        "count": raw.table.column("reversals_observed"),
        "source": pa.repeat(pa.scalar(UNSUSPENSIONS_PUBLISHER, pa.string()), n),
        LINE_COL: raw.table.column(LINE_COL),
    }), ["period_start", "count"], aliases={"period_start": "report_date", "count": "reversals_observed"},
        ref_name=_ref(base, path), file_sha256=raw.file_sha256)
    v = validate(cells, SPECS["status_counts"])
    _check(v)
    report.files.append(path)
    report.rows_read += n
    rows = to_store_rows("status_counts", v)
    rows = rows.set_column(rows.schema.get_field_index("source"), "source",
                           pa.repeat(pa.scalar("dataset:unsuspensions-2022", pa.string()), rows.num_rows))
    with store.writer(command="datasets import unsuspensions-2022", source="dataset:unsuspensions-2022",
                      source_ref=path) as w:
        write_batches(w, "status_counts", rows, 500_000, report, progress)
        report.duplicates += w.duplicates.get("status_counts", 0)


NBC_OBSERVED = "2018-02-14T00:00:00Z"  # NBC News published the reconstructed profiles


def load_nbc(store: Store, base: Path, limit: int | None, progress: Progress | None) -> ImportReport:
    """users.csv (v1.1 fields) of IRA accounts that Twitter suspended -> profiles with
    status ``suspended``, label ``ira``, observed at the upstream publication date
    (2018-02-14; the counts themselves are from before the suspension, as archived).
    61 rows carry only a handle: their account_id is the handle."""
    path = _need(base, "nbc-ira-users", "users.csv")

    def fix(raw: RawFile) -> RawFile:
        raw.ref_name = _ref(base, raw.path)
        t = raw.table
        aid = pc.if_else(pc.equal(pc.utf8_trim_whitespace(t.column("account_id")), ""),
                         t.column("handle"), t.column("account_id"))
        t = t.set_column(t.schema.get_field_index("account_id"), "account_id", aid)
        t = t.set_column(t.schema.get_field_index("status"), "status",
                         pa.repeat(pa.scalar("suspended", pa.string()), t.num_rows))
        raw.table = t
        return _limit(raw, limit)

    from datetime import datetime

    report = import_foreign(store, "v1-users", [path], label="ira",
                            observed_at=datetime.fromisoformat(NBC_OBSERVED.replace("Z", "+00:00")),
                            source="dataset:nbc-ira-users", transform=fix, progress=progress)
    report.kind = "nbc-ira-users"
    return report


def load_wayback(store: Store, base: Path, limit: int | None, progress: Progress | None) -> ImportReport:
    """follower_history_long.csv -> observations (status ``active``: the archived profile
    page showed the account) with ``source`` = ``web-archive`` and the memento URL as
    ``source_ref``. The time is the memento's 14-digit timestamp (UTC), else the date at
    00:00 UTC (the upstream ``date`` column sometimes holds a 14-digit Wayback timestamp
    instead: used as such). Accounts are keyed by handle (the only identifier in the data)."""
    report = ImportReport(kind="wayback-follower-history")
    path = str(_need(base, "wayback-follower-history", "follower_history_long.csv"))
    t0 = time.perf_counter()
    raw = read_cells(path, ["account", "date", "followers", "memento_url"],
                     ["account", "date", "followers"], limit=limit)
    t = raw.table
    # The upstream file concatenates per-account CSVs; one kept its header row.
    header_again = pc.equal(t.column("date"), "date")
    if pc.any(header_again).as_py():
        report.notes.append(f"skipped {pc.sum(header_again).as_py()} repeated header row(s)")
        t = t.filter(pc.invert(header_again))
    n = t.num_rows
    url = t.column("memento_url") if "memento_url" in t.column_names else pa.nulls(n, pa.string())
    # Wayback timestamps (14 digits, UTC) from the memento URL, or from `date` where the
    # upstream CSV holds one there instead of a day.
    digits = pc.coalesce(
        pc.struct_field(pc.extract_regex(url, r"/web/(?P<ts>[0-9]{14})"), "ts"),
        pc.struct_field(pc.extract_regex(t.column("date"), r"^(?P<ts>[0-9]{14})$"), "ts"),
    )
    iso = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(digits, 0, 4), pa.scalar("-"), pc.utf8_slice_codeunits(digits, 4, 6),
        pa.scalar("-"), pc.utf8_slice_codeunits(digits, 6, 8), pa.scalar("T"),
        pc.utf8_slice_codeunits(digits, 8, 10), pa.scalar(":"), pc.utf8_slice_codeunits(digits, 10, 12),
        pa.scalar(":"), pc.utf8_slice_codeunits(digits, 12, 14), pa.scalar("Z"), "")
    when = pc.coalesce(iso, pc.binary_join_element_wise(t.column("date"), pa.scalar("T00:00:00Z"), ""))
    facts = _facts(path, n, t.column(LINE_COL), file_sha256=raw.file_sha256, platform="x", account_id=t.column("account"),
                   observed_at=when, status="active", followers_count=t.column("followers"),
                   handle=t.column("account"))
    facts.aliases = {"account_id": "account", "observed_at": "memento_url", "followers_count": "followers"}
    facts.ref_name = _ref(base, path)
    v = validate(facts, _FACTS)
    _check(v)
    report.files.append(path)
    report.rows_read += n
    pos = pc.index_in(v.good.column(LINE_COL), value_set=t.column(LINE_COL))
    mem = pc.take(url, pos)
    ref = pc.coalesce(pc.if_else(pc.equal(mem, ""), pa.scalar(None, pa.string()), mem),
                      v.good.column("__source_ref"))
    _store(store, v, "observations", "web-archive", report, progress, source_ref=ref)
    report.seconds = time.perf_counter() - t0
    return report


DATASETS: dict[str, Dataset] = {d.name: d for d in [
    Dataset("ira-follower-series", "ira-follower-series",
            "follower/following/post counts of 2,839 IRA accounts at each tweet; author categories",
            "2,463,944", "observations + watchlist (group = account_category)",
            "FiveThirtyEight russian-troll-tweets (Linvill & Warren), per-author re-slice "
            "bet4a/russian-troll-tweets-by-author", "MIT", load_ira),
    Dataset("cresci-2017", "cresci-2017",
            "Twitter v1.1 user objects of genuine accounts, fake followers and spambots",
            "14,368", "profiles (label = class)",
            "Cresci et al. 2017, 'The paradigm-shift of social spambots' (cite it)",
            "none stated", load_cresci),
    Dataset("voterfraud2020", "voterfraud2020",
            "users with retweet-graph community and enforcement status as of 2021-01-10",
            "59,018", "profiles + watchlist (group = community_N)",
            "Abilov et al., ICWSM 2021, arXiv 2101.08210 (VoterFraud2020)", "none stated",
            load_voterfraud),
    Dataset("unsuspensions-2022", "unsuspensions-2022",
            "suspension and reversal observation times of accounts unsuspended after 2022-10-27; the tracker's daily totals",
            "89,539", "status_events + status_counts (daily totals)", "travisbrown/unsuspensions", "none stated", load_unsuspensions),
    Dataset("nbc-ira-users", "nbc-ira-users",
            "profiles of suspended IRA accounts reconstructed by NBC News", "454",
            "profiles (status suspended, label ira)", "NBC News (2018)", "none stated", load_nbc),
    Dataset("wayback-follower-history", "wayback-follower-history",
            "follower counts of 15 accounts from Wayback Machine captures", "2,348",
            "observations (source web-archive)", "oduwsdl/FollowerCountHistory", "MIT", load_wayback),
]}


def import_dataset(store: Store, name: str, path: str | Path | None = None, *,
                   limit: int | None = None, progress: Progress | None = None) -> ImportReport:
    """Import dataset ``name`` from ``path`` (the folder holding the dataset folders;
    default ``$PURGEWATCH_DATASETS``). ``limit`` keeps the first N rows of each file."""
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r}", hint=f"one of: {', '.join(DATASETS)}")
    base = datasets_dir(path)
    assert base is not None
    if not base.is_dir():
        raise ConfigError(f"datasets folder {base} does not exist",
                          hint=f"pass --path DIR or set {ENV_DATASETS}")
    return DATASETS[name].loader(store, base, limit, progress)
