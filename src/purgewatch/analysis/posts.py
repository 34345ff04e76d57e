"""Posts: who said what, who stayed silent, and what was taken back.

Two questions over the ``posts`` and ``post_reads`` tables (model.py):

- :func:`search_posts` -- which watched accounts published a post matching a query in a
  window, per group: those that *spoke*, those read in the window that did not
  (*silent*), and those whose posts were not read over the whole window (*unread*: never
  counted as silent). The share that spoke, among accounts read, is compared between
  groups with the compare machinery (intervals, exact tests, warnings).
- :func:`deleted_posts` -- posts seen once and missing from a later *complete* listing
  that covers their publication time, or answered "not found" when asked for directly.
  Both reads are the evidence (``last_seen``, ``first_missing``). A listing that holds no
  post at all is never evidence: a suspended account, one that hides its posts and a
  failed read can all answer with an empty list.

Query syntax (:func:`parse_query`): words are ANDed (``attack suspended``), ``OR`` between
them makes alternatives (``attack OR censorship``), ``"a phrase"`` matches the words in
order, ``#tag`` matches the hashtag (from the platform's hashtag list or the text),
``-word`` excludes, ``lang:xx`` keeps one language. Matching ignores case and respects
word edges (``attack`` does not match ``attacker``). The query text only ever reaches SQL
as bound parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from purgewatch.errors import AnalysisError, InputError
from purgewatch.queries import account_names
from purgewatch.store import Store
from purgewatch.watchlist import current_watchlist


@dataclass(frozen=True)
class Term:
    """One query term: a word or phrase (``text``), a hashtag, or a language filter."""

    kind: str          # "text" | "hashtag" | "lang"
    value: str
    negated: bool = False


@dataclass(frozen=True)
class Query:
    """Alternatives (OR) of conjunctions (AND) of terms."""

    source: str
    alternatives: tuple[tuple[Term, ...], ...] = field(default_factory=tuple)


_TOKEN = re.compile(r'-?"([^"]*)"|\S+')


def parse_query(text: str) -> Query:
    """Parse the search syntax described in the module docstring."""
    if text.count('"') % 2:
        raise InputError(f"query {text!r}: a phrase's closing quote is missing",
                         hint='close the phrase\'s quotes: "like this"')
    # Only double quotes make phrases: an apostrophe ("don't") is part of a word. A
    # quoted phrase keeps a leading "-" (exclusion) outside its quotes.
    tokens = [m.group(0)[0] + m.group(1) if m.group(1) is not None and m.group(0)[0] == "-"
              else (m.group(1) if m.group(1) is not None else m.group(0))
              for m in _TOKEN.finditer(text)]
    alternatives: list[tuple[Term, ...]] = []
    current: list[Term] = []
    for tok in tokens:
        if tok == "OR":
            if not current:
                raise InputError(f"query {text!r}: OR needs a term on each side",
                                 hint="e.g. attack OR censorship")
            alternatives.append(tuple(current))
            current = []
            continue
        negated = tok.startswith("-") and len(tok) > 1
        word = tok[1:] if negated else tok
        if word.lower().startswith("lang:"):
            current.append(Term("lang", word[5:].lower(), negated))
        elif word.startswith("#") and len(word) > 1:
            current.append(Term("hashtag", word[1:].lower(), negated))
        elif word.strip():
            current.append(Term("text", word, negated))
    if not current:
        if alternatives:
            raise InputError(f"query {text!r}: OR needs a term on each side", hint="e.g. attack OR censorship")
        raise InputError("empty query", hint='give words, "a phrase", #hashtag or lang:xx')
    alternatives.append(tuple(current))
    if all(all(t.negated or t.kind == "lang" for t in alt) for alt in alternatives):
        raise InputError(f"query {text!r} has nothing to look for, only exclusions or a language",
                         hint="add a word, phrase or #hashtag")
    return Query(text, tuple(alternatives))


def _term_sql(term: Term, params: list[Any]) -> str:
    if term.kind == "lang":
        params.append(term.value)
        sql = "lower(coalesce(p.lang, '')) = ?"
    elif term.kind == "hashtag":
        # The platform's own list when it gave one, else the text (RE2 word edges).
        params.append(term.value)
        params.append(r"(^|[^\w])#" + re.escape(term.value) + r"\b")
        sql = ("(list_contains(CAST(coalesce(p.hashtags, '[]') AS VARCHAR[]), ?) "
               "OR regexp_matches(coalesce(p.text, ''), ?, 'i'))")
    else:
        words = term.value.split()
        pattern = r"\b" + r"\s+".join(re.escape(w) for w in words) + r"\b"
        # contains() first: a cheap byte scan that rejects most rows before the regex.
        params.append(words[0].lower())
        params.append(pattern)
        sql = "(contains(lower(coalesce(p.text, '')), ?) AND regexp_matches(coalesce(p.text, ''), ?, 'i'))"
    # Every term is true or false, never null (a post without text contains no word), so
    # an exclusion keeps it. No coalesce() around the term: DuckDB evaluates an AND inside
    # a function for every row, but a bare one only where its left side held (the regex
    # then runs on the few rows contains() let through: half the scan's CPU).
    return f"NOT {sql}" if term.negated else sql


def query_sql(query: Query) -> tuple[str, list[Any]]:
    """A SQL boolean over alias ``p`` of the posts table, and its bound parameters."""
    params: list[Any] = []
    ors = []
    for alt in query.alternatives:
        ors.append("(" + " AND ".join(_term_sql(t, params) for t in alt) + ")")
    return "(" + " OR ".join(ors) + ")", params


def _window_sql(column: str, start: datetime | None, end: datetime | None, params: list[Any]) -> str:
    parts = []
    if start is not None:
        parts.append(f"{column} >= ?")
        params.append(start)
    if end is not None:
        parts.append(f"{column} < ?")
        params.append(end)
    return " AND ".join(parts) or "true"


# The tables the posts questions read (views made for these only).
_TABLES = ("posts", "post_reads")


def _watched(store: Store, by: str) -> pd.DataFrame:
    wl = current_watchlist(store).to_pandas()
    if by not in ("group", "label"):
        raise InputError(f"--by {by!r}: posts are grouped by the watchlist's group or label",
                         hint="use --by group (the camps) or --by label")
    wl = wl[wl["account_id"].notna()]
    wl = wl.assign(by_value=wl[by])
    return wl[["platform", "account_id", "by_value", "label", "group"]].drop_duplicates(["platform", "account_id"])


def _deleted_keys(store: Store, hits: pd.DataFrame, con: Any) -> set[tuple[str, str, str]]:
    found = deleted_posts(store, only=hits, con=con)["deleted"]
    return {(d["platform"], d["account_id"], d["post_id"]) for d in found}


def search_posts(
    store: Store,
    query: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    by: str = "group",
    limit: int = 200,
) -> dict[str, Any]:
    """Answer ``purgewatch posts search`` (FORMATS.md): per group, accounts that spoke, were
    silent or were not read in ``[start, end)``; the share that spoke compared between
    groups; the matching posts (newest first, at most ``limit``)."""
    q = parse_query(query)
    match_sql, params = query_sql(q)
    watched = _watched(store, by)
    win_params: list[Any] = []
    window = _window_sql("p.created_at", start, end, win_params)
    con = store.duckdb(_TABLES)
    # Each post once: its newest version that matches (an edit may add or remove words).
    # The window reaches the Parquet scan, which skips row groups outside it (posts are
    # stored in publication order); only the matches are kept, in DuckDB.
    con.execute(f"""
        CREATE TEMP TABLE __hits AS
        SELECT p.platform, p.account_id, p.post_id, p.created_at, p.text, p.url
        FROM posts p
        WHERE {window} AND {match_sql}
        QUALIFY row_number() OVER (PARTITION BY p.platform, p.account_id, p.post_id
                                   ORDER BY p.observed_at DESC) = 1
    """, win_params + params)  # noqa: S608 -- built from this module's fragments; user text is bound
    n_matches = int(con.execute("SELECT count(*) FROM __hits").fetchone()[0])
    spoke_keys = set(con.execute("SELECT DISTINCT platform, account_id FROM __hits").fetchall())
    hits = con.execute("SELECT * FROM __hits ORDER BY created_at DESC NULLS LAST, platform, account_id, post_id "
                       "LIMIT ?", [limit]).df()

    read_keys: set[tuple[str, str]] = set()
    if len(watched):
        # Complete reads of watched accounts (the others are in no group) covering the
        # window: only such a read shows that an account published nothing matching in it.
        # An incomplete read (paging cut short, an import) never makes an account silent.
        read_params: list[Any] = []
        cover = []
        if start is not None:
            cover.append("window_start <= ?")
            read_params.append(start)
        if end is not None:
            cover.append("window_end >= ?")
            read_params.append(end)
        covered = " AND ".join(cover) or "true"
        con.register("__watched", watched[["platform", "account_id"]])
        read_sql = ("SELECT DISTINCT platform, account_id FROM post_reads "  # noqa: S608 -- fixed fragments; values bound
                    f"SEMI JOIN __watched USING (platform, account_id) WHERE answer = 'ok' AND complete AND {covered}")
        read_keys = set(con.execute(read_sql, read_params).fetchall())

    groups: list[dict[str, Any]] = []
    frame_rows: list[dict[str, Any]] = []
    for value, members in sorted(watched.groupby("by_value"), key=lambda kv: str(kv[0])):
        keys = list(zip(members["platform"], members["account_id"], strict=True))
        spoke = [k for k in keys if k in spoke_keys]
        silent = [k for k in keys if k not in spoke_keys and k in read_keys]
        unread = [k for k in keys if k not in spoke_keys and k not in read_keys]
        # The share is over the accounts read completely over the window, speakers or not:
        # a speaker known only from an incomplete read (an import, a cut listing) counts as
        # having spoken, but not in the share, or the share would favour speakers (their
        # posts show; a silent account's silence shows only through a complete read).
        read = [k for k in keys if k in read_keys]
        n_read, n_read_spoke = len(read), sum(k in spoke_keys for k in read)
        groups.append({
            "group": str(value), "accounts": len(keys), "spoke": len(spoke), "silent": len(silent),
            "unread": len(unread), "read": n_read,
            "share_spoke": round(n_read_spoke / n_read, 6) if n_read else None,
            "spoke_accounts": [k[1] for k in spoke], "silent_accounts": [k[1] for k in silent],
            "unread_accounts": [k[1] for k in unread],
            "spoke_unread": len(spoke) - n_read_spoke,
        })
        frame_rows += [{"group": str(value), "spoke": k in spoke_keys} for k in read]

    warnings: list[str] = []
    tests: list[dict[str, Any]] = []
    for g in groups:
        if g["unread"]:
            warnings.append(f"{g['unread']} of {g['accounts']} accounts in {g['group']} were not read over "
                            "the whole window: they are neither counted as silent nor in the share")
        if g["spoke_unread"]:
            warnings.append(f"{g['spoke_unread']} accounts in {g['group']} that spoke were not read completely "
                            "over the window: counted as having spoken, left out of the share")
    readable = [g for g in groups if g["read"]]
    if len(readable) >= 2:
        from purgewatch.analysis.compare import compare_groups

        try:
            answer = compare_groups(pd.DataFrame(frame_rows), outcome="spoke", outcome_name="spoke",
                                    permutations=0)
            tests = list(answer.get("tests", []))
            warnings += [w for w in answer.get("warnings", []) if w not in warnings]
        except (AnalysisError, InputError) as exc:
            warnings.append(f"the share that spoke cannot be compared: {exc}")
    elif groups:
        warnings.append("fewer than two groups have accounts read in the window: no comparison")

    # A watchlist without labels (or groups) reads them as NaN: null in the answer.
    info = {(r.platform, r.account_id): (_text(r.group), _text(r.label)) for r in watched.itertuples()}
    # Handles of the shown posts' authors only, through the one naming of accounts.
    names = account_names(store, set(zip(hits["platform"], hits["account_id"], strict=True)))
    handle = {k: n.handle for k, n in names.items()}
    deleted = _deleted_keys(store, hits, con) if len(hits) else set()
    posts = []
    for r in hits.itertuples():
        key = (r.platform, r.account_id)
        group, label = info.get(key, (None, None))
        posts.append({
            "platform": r.platform, "account_id": r.account_id, "handle": handle.get(key),
            "label": label, "group": group, "post_id": r.post_id,
            "created_at": _iso(r.created_at), "text": r.text, "url": r.url if isinstance(r.url, str) else None,
            "deleted": (r.platform, r.account_id, r.post_id) in deleted,
        })
    return {
        "query": query,
        "window": {"from": _iso(start), "to": _iso(end)},
        "by": by,
        "groups": groups,
        "tests": tests,
        "warnings": warnings,
        "matches": n_matches,
        "posts": posts,
    }


_DELETED_SQL = """
WITH latest AS (  -- each post's newest version and when it was first seen
    SELECT platform, account_id, post_id,
           arg_max(created_at, observed_at) AS created_at,
           arg_max(text, observed_at) AS text,
           min(observed_at) AS first_seen
    FROM {posts} GROUP BY platform, account_id, post_id
),
authors AS (SELECT DISTINCT platform, account_id FROM latest),
reads AS (     -- the reads of those posts' authors only
    SELECT r.* FROM {reads} r SEMI JOIN authors USING (platform, account_id)
),
listings AS (  -- complete listings that held at least one post
    SELECT platform, account_id, read_at, window_start, window_end, post_ids, source_ref
    FROM reads
    WHERE answer = 'ok' AND complete AND len(coalesce(post_ids, [])) > 0
),
missing AS (   -- complete listings covering its time that did not hold it, or a direct "not found"
    SELECT l.platform, l.account_id, l.post_id, r.read_at, r.source_ref
    FROM latest l JOIN listings r
      ON r.platform = l.platform AND r.account_id = l.account_id
     AND r.read_at > l.first_seen
     AND l.created_at IS NOT NULL
     AND (r.window_start IS NULL OR r.window_start <= l.created_at)
     AND r.window_end >= l.created_at
    WHERE NOT list_contains(r.post_ids, l.post_id)
    UNION ALL
    SELECT l.platform, l.account_id, l.post_id, r.read_at, r.source_ref
    FROM latest l JOIN reads r
      ON r.platform = l.platform AND r.account_id = l.account_id AND r.post_id = l.post_id
     AND r.answer = 'not_found' AND r.read_at > l.first_seen
),
first_missing AS (
    SELECT platform, account_id, post_id, min(read_at) AS first_missing,
           arg_min(source_ref, read_at) AS evidence
    FROM missing GROUP BY ALL
),
present AS (   -- every read (complete or not) that listed one of the posts gone missing
    SELECT x.* FROM (SELECT r.platform, r.account_id, unnest(r.post_ids) AS post_id, r.read_at
                     FROM reads r SEMI JOIN first_missing USING (platform, account_id)
                     WHERE r.answer = 'ok') x
    SEMI JOIN first_missing USING (platform, account_id, post_id)
)
SELECT l.platform, l.account_id, l.post_id, l.created_at, l.text, f.first_missing, f.evidence,
       greatest(l.first_seen, (SELECT max(p.read_at) FROM present p
                                WHERE p.platform = l.platform AND p.account_id = l.account_id
                                  AND p.post_id = l.post_id AND p.read_at < f.first_missing)) AS last_seen
FROM latest l JOIN first_missing f USING (platform, account_id, post_id)
-- a post listed again after it went missing was not deleted (a flaky listing)
WHERE NOT EXISTS (SELECT 1 FROM present p
                  WHERE p.platform = l.platform AND p.account_id = l.account_id
                    AND p.post_id = l.post_id AND p.read_at > f.first_missing)
ORDER BY f.first_missing, l.platform, l.account_id, l.post_id
"""

# Accounts with a read that can show a post gone: a complete listing or a direct "not
# found". Each filter is on constants, so the Parquet scan skips row groups by their
# statistics (an imported file's reads are all incomplete listings: nothing is read).
_EVIDENCE_SQL = """
SELECT DISTINCT platform, account_id FROM post_reads WHERE complete AND answer = 'ok' {also}
UNION
SELECT DISTINCT platform, account_id FROM post_reads WHERE answer = 'not_found' {also}
"""
# Up to this many accounts are named as constants in the scans' filters (DuckDB pushes
# such an IN list into the Parquet reader); more are matched by a join.
_MAX_LISTED = 256


def deleted_posts(store: Store, *, account_id: str | None = None,
                  only: pd.DataFrame | None = None, con: Any = None) -> dict[str, Any]:
    """Answer ``purgewatch posts deleted`` (FORMATS.md): posts seen and later gone, with
    the reads that show it. ``only`` (platform, account_id, post_id rows) limits the
    question to those posts, so a search asks it of its matches, not of every post."""
    con = con if con is not None else store.duckdb(_TABLES)
    wanted = None if only is None else only[["platform", "account_id", "post_id"]].drop_duplicates()
    if wanted is not None and not len(wanted):
        return {"deleted": []}
    # Only the posts of accounts with evidence can be deleted: find those accounts first,
    # from columns that cost little to scan, and look at nothing else.
    asked = ({account_id} if account_id is not None
             else set(wanted["account_id"].astype(str)) if wanted is not None else None)
    also, also_params = _listed("account_id", asked)
    evidence = con.execute(_EVIDENCE_SQL.format(also=also), also_params + also_params).df()  # noqa: S608 -- fixed fragments; values bound
    if wanted is not None:
        evidence = evidence.merge(wanted[["platform", "account_id"]].drop_duplicates(), on=["platform", "account_id"])
    if not len(evidence):
        return {"deleted": []}
    con.register("__evidence", evidence)
    listed, params = _listed("account_id", set(evidence["account_id"].astype(str)))
    # Only placeholders and this module's fragments reach the SQL; every value is bound.
    posts = f"(SELECT p.* FROM posts p SEMI JOIN __evidence USING (platform, account_id) WHERE true {listed}"  # noqa: S608
    reads = f"(SELECT r.* FROM post_reads r SEMI JOIN __evidence USING (platform, account_id) WHERE true {listed})"  # noqa: S608
    posts_params = list(params)
    if wanted is not None:
        # Constants reach the Parquet scan: the posts not asked about are never
        # materialised (a join alone would read every post's text first).
        ids, id_params = _listed("post_id", set(wanted["post_id"].astype(str)))
        con.register("__only", wanted)
        posts += f" {ids} AND (p.platform, p.account_id, p.post_id) IN (SELECT platform, account_id, post_id FROM __only)"  # noqa: S608
        posts_params += id_params
    posts += ")"
    df = con.execute(_DELETED_SQL.format(posts=posts, reads=reads), posts_params + params).df()  # noqa: S608 -- fixed fragments; values bound
    out = []
    for r in df.itertuples():
        out.append({
            "platform": r.platform, "account_id": r.account_id, "post_id": r.post_id,
            "created_at": _iso(r.created_at), "last_seen": _iso(r.last_seen),
            "first_missing": _iso(r.first_missing), "evidence": r.evidence, "text": r.text,
        })
    return {"deleted": out}


def _listed(column: str, values: set[str] | None) -> tuple[str, list[Any]]:
    """``AND column IN (?, ...)`` over ``values`` when few enough (else nothing: a join
    does the matching), and its parameters."""
    if values is None or len(values) > _MAX_LISTED:
        return "", []
    ordered = sorted(values)
    return f"AND {column} IN ({', '.join('?' for _ in ordered)})", list(ordered)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _iso(t: Any) -> str | None:
    if t is None or (isinstance(t, float) and t != t) or t is pd.NaT:
        return None
    ts = pd.Timestamp(t)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").isoformat().replace("+00:00", "Z")
