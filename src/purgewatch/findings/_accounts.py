"""The account records of the findings: who is in scope, each one's latest reading, and
the follower series of the accounts charted (those with events first)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from purgewatch.findings._events import event_refs, evidence_times
from purgewatch.findings._facts import FactRegistry
from purgewatch.findings._jsonable import downsample, iso_series
from purgewatch.findings._observations import MAX_POINTS, ObservationIndex
from purgewatch.findings._watched import AccountKey, anchor, display_name, key_of

MAX_ACCOUNTS = 200          # accounts shown when there is no watchlist
MAX_SERIES_ACCOUNTS = 60    # accounts whose series is charted


def accounts_in_scope(ob: ObservationIndex, watch: list[dict[str, Any]], group_filter: list[str] | None,
                      notes: list[str]) -> set[AccountKey]:
    """The watched accounts; without a watchlist, the MAX_ACCOUNTS most observed ones."""
    if watch:
        return {key_of(w) for w in watch}
    n_per = ob.counts()
    order = sorted(range(len(ob.names)), key=lambda i: (-int(n_per[i]), ob.names[i]))
    if len(order) > MAX_ACCOUNTS:
        notes.append(f"No watchlist: showing the {MAX_ACCOUNTS} accounts with most observations "
                     f"out of {len(order):,}.")
    if group_filter is not None:
        return set()
    return {ob.names[i] for i in order[:MAX_ACCOUNTS]}


def charted_accounts(keys: set[AccountKey], events_of: dict[AccountKey, list[dict[str, Any]]],
                     group_of: dict[AccountKey, Any], notes: list[str]) -> set[AccountKey]:
    """Full series for at most MAX_SERIES_ACCOUNTS accounts: those with events first
    (largest first), then in watchlist order; the others keep their latest reading."""
    size = {k: max(abs(float(e.get("magnitude") or 0)) for e in evs) for k, evs in events_of.items()}
    ranked = sorted(keys, key=lambda k: (k not in size, -size.get(k, 0.0), str(group_of.get(k)), k))
    if len(ranked) > MAX_SERIES_ACCOUNTS:
        notes.append(
            f"Follower series are shown for {MAX_SERIES_ACCOUNTS} of {len(ranked):,} accounts (those with "
            "detected events first); the others are listed with their latest reading."
        )
    return set(ranked[:MAX_SERIES_ACCOUNTS])


def shown_events_by_account(events: list[dict[str, Any]]) -> dict[AccountKey, list[dict[str, Any]]]:
    out: dict[AccountKey, list[dict[str, Any]]] = {}
    for e in events:
        if e.get("account_id") is not None and e["shown"]:
            out.setdefault(key_of(e), []).append(e)
    return out


class SeriesRefs:
    """References drawn on charts: ``cited`` rows (a status change or an event's
    evidence: a number cites them) go to the facts' referenced set, the others only to
    the JSON/CSV appendix (the line is drawn from all)."""

    def __init__(self, facts: FactRegistry) -> None:
        self.facts = facts
        self.drawn: set[str] = set()

    def add(self, ref: str, cited: bool) -> None:
        (self.facts.referenced if cited else self.drawn).add(ref)


def account_series(ob: ObservationIndex, part: pd.DataFrame, key: AccountKey, acc_events: list[dict[str, Any]],
                   refs: SeriesRefs, thinned: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
    """The charted points of one account, thinned to MAX_POINTS keeping every status
    change and every reading an event's evidence names (``thinned`` gets the account,
    its readings and the points kept when it is)."""
    ev_times = {t for e in acc_events for t in evidence_times(e)}
    status_change = part["status"].ne(part["status"].shift()).to_numpy()
    iso_t = iso_series(part["observed_at"])
    in_evidence = iso_t.isin(ev_times).to_numpy() if ev_times else np.zeros(len(part), bool)
    idx = downsample(np.arange(len(part)), status_change | in_evidence, MAX_POINTS)
    if len(idx) < len(part):
        thinned.append((f"{key[0]}:{key[1]}", len(part), len(idx)))
    shown = part.iloc[idx]
    cited = (status_change | in_evidence)[idx].tolist()
    series = []
    r: Any
    for r, t_iso, c in zip(shown.itertuples(index=False), iso_t.iloc[idx], cited, strict=True):
        series.append({"t": t_iso, "followers": None if pd.isna(r.followers_count) else int(r.followers_count),
                       "status": r.status, "ref": r.ref, "cited": c})
        ob.use(r.ref, int(r.row))
        refs.add(r.ref, c)
    return series


def thinning_note(thinned: list[tuple[str, int, int]]) -> str:
    """One note for every thinned chart (a note per account filled the report's first
    screen with 60 boxes on the IRA series), naming the most thinned."""
    worst = sorted(thinned, key=lambda t: (-(t[1] - t[2]), t[0]))[:3]
    examples = "; ".join(f"{name} {before:,} → {after:,}" for name, before, after in worst)
    who = "1 account is" if len(thinned) == 1 else f"{len(thinned):,} accounts are"
    return (f"The follower series of {who} thinned for display to about {MAX_POINTS:,} points, keeping "
            f"every status change and every reading an event rests on ({examples}); the store keeps every "
            "reading (`purgewatch history`).")


def cite_event_rows(ob: ObservationIndex, part: pd.DataFrame, acc_events: list[dict[str, Any]]) -> None:
    """Each per-account event's ``refs``: the observations it rests on."""
    row_of = dict(zip(part["ref"], part["row"].tolist(), strict=True))
    for e in acc_events:
        e["refs"] = event_refs(e, part)
        for r in e["refs"]:
            ob.use(r, row_of[r])


def account_record(key: AccountKey, group: Any, label: Any, latest: dict[str, Any] | None,
                   series: list[dict[str, Any]], series_shown: bool, events: list[str],
                   n_observations: int = 0, names: dict[str, Any] | None = None) -> dict[str, Any]:
    names = names or {}
    return {
        "key": f"{key[0]}:{key[1]}", "anchor": anchor("a", f"{key[0]}:{key[1]}"),
        "platform": key[0], "account_id": key[1], "handle": names.get("handle"),
        "display_name": names.get("display_name"), "description": names.get("description"),
        "group": group, "label": label, "n_observations": n_observations, "latest": latest,
        "series": series, "series_shown": series_shown, "events": events,
    }


def observed_accounts(ob: ObservationIndex, keys: set[AccountKey], events_of: dict[AccountKey, list[dict[str, Any]]],
                      with_series: set[AccountKey], watch: list[dict[str, Any]], facts: FactRegistry,
                      refs: SeriesRefs, notes: list[str]) -> list[dict[str, Any]]:
    """One record per account in scope that has observations, then the watched ones never
    observed (with nothing to show)."""
    group_of = {key_of(w): w["group"] for w in watch}
    labels = {key_of(w): w.get("label") for w in watch}
    accounts: list[dict[str, Any]] = []
    observed = [i for i, k in enumerate(ob.names) if k in keys]
    thinned: list[tuple[str, int, int]] = []
    for i, lt in zip(observed, ob.latest_rows(observed), strict=True):
        key = ob.names[i]
        acc_events = events_of.get(key, [])
        series: list[dict[str, Any]] = []
        if key in with_series or acc_events:
            part = ob.frame(i)
            if key in with_series:
                series = account_series(ob, part, key, acc_events, refs, thinned)
            cite_event_rows(ob, part, acc_events)
        ob.use(lt["ref"], lt["row"])
        latest = {"t": lt["t"], "status": lt["status"], "followers": lt["followers"], "ref": lt["ref"]}
        acc = account_record(key, group_of.get(key), labels.get(key), latest, series, key in with_series,
                             [e["id"] for e in acc_events], lt["n"], lt)
        latest["fact"] = facts.add(f"latest followers of {display_name(acc)}", latest["followers"], [lt["ref"]])
        accounts.append(acc)
    if thinned:
        notes.append(thinning_note(thinned))
    seen = {key_of(a) for a in accounts}
    for w in watch:
        k = key_of(w)
        if k not in seen:
            accounts.append(account_record(k, w["group"], w.get("label"), None, [], False, []))
    accounts.sort(key=lambda a: (str(a["group"]), a["platform"], a["account_id"]))
    return accounts


def _latest_elsewhere(info: dict[str, Any]) -> dict[str, Any]:
    # No fact per account here (a population file can hold 10^5 of them): the latest row
    # is cited by its ref and listed in the appendix when cited.
    return {k: info[k] for k in ("t", "status", "followers", "ref", "source")} | {"fact": None}


def add_known_elsewhere(accounts: list[dict[str, Any]], elsewhere: dict[AccountKey, dict[str, Any]],
                        list_more: bool, notes: list[str]) -> None:
    """Each account's source tables; the latest profile or status-event row of accounts
    with no observation; and (``list_more``: no watchlist, no group filter) accounts known
    only from those tables, up to MAX_ACCOUNTS in all."""
    for a in accounts:
        info = elsewhere.get(key_of(a))
        a["sources"] = [t for t, n in (("observations", a["n_observations"]), ("profiles", (info or {}).get("n_profiles")),
                                       ("status_events", (info or {}).get("n_status_events"))) if n]
        if a["latest"] is None and info is not None:
            a["latest"] = _latest_elsewhere(info)
    if not list_more:
        return
    have = {key_of(a) for a in accounts}
    extra = sorted((k for k in elsewhere if k not in have),
                   key=lambda k: (-(elsewhere[k]["n_profiles"] + elsewhere[k]["n_status_events"]), k))
    room = max(0, MAX_ACCOUNTS - len(accounts))
    if len(extra) > room:
        notes.append(f"{len(extra):,} accounts are known only from profiles or status events; "
                     f"{room} are listed (those with most rows).")
    for k in extra[:room]:
        info = elsewhere[k]
        acc = account_record(k, None, None, _latest_elsewhere(info), [], False, [])
        # same key order as before the findings layer (the CSV columns follow it)
        acc = {kk: acc[kk] for kk in ("key", "anchor", "platform", "account_id", "handle", "display_name",
                                      "description", "group", "label", "n_observations")}
        acc["sources"] = [t for t in ("profiles", "status_events") if info[f"n_{t}"]]
        acc |= {"latest": _latest_elsewhere(info), "series": [], "series_shown": False, "events": []}
        accounts.append(acc)
    accounts.sort(key=lambda a: (str(a["group"]), a["platform"], a["account_id"]))
