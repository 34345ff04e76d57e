"""The analyses that answer per drop or per camp: explain the largest drops, compare the
camps, and the forensics of each explained drop. Each is called directly; an analysis
that cannot answer is said in its section ("not available: why"), never estimated."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from purgewatch.analysis.compare import compare_store
from purgewatch.analysis.explain import explain, no_snapshots_error
from purgewatch.analysis.forensics import (
    follower_creation_profiles,
    follower_order,
    regain_for_account,
)
from purgewatch.errors import PurgeWatchError
from purgewatch.findings._jsonable import iso, plain
from purgewatch.findings._watched import anchor
from purgewatch.store import Store
from purgewatch.store.snapshots import list_snapshots

MAX_EXPLAIN = 12  # follower drops explained in one report
COMPARE_OUTCOMES = ("suspended", "drop")
MAX_ORDER_POINTS = 5000


def explain_drops(
    store: Store, events: list[dict[str, Any]], limit: int, detect_ok: bool, keys: set[tuple[str, str]]
) -> tuple[list[dict[str, Any]], str]:
    """Explain the largest detected follower drops. Without detection (or without any
    detected drop), explain each watched account's largest fall between consecutive
    follower snapshots (explain's own default), so the section still rests on real diffs."""
    targets: list[dict[str, Any]] = []
    meta = list_snapshots(store)
    drops = [e for e in events if e["kind"] == "follower_drop"]
    if detect_ok and drops:
        drops.sort(key=lambda e: (-(e.get("magnitude") or 0), e["id"]))
        targets = [
            {"event": e["id"], "platform": e["platform"], "account_id": e["account_id"], "group": e.get("group"),
             "handle": e.get("handle"), "label": e.get("label"), "start": e.get("start"), "end": e.get("end")}
            for e in drops[:limit]
        ]
    else:
        have = sorted({(str(p), str(a)) for p, a in zip(meta["platform"].to_pylist(), meta["account_id"].to_pylist(), strict=True)} & keys)
        targets = [
            {"event": anchor("d", f"{p}:{a}"), "platform": p, "account_id": a, "group": None, "handle": None,
             "label": None, "start": None, "end": None}
            for p, a in have[:limit]
        ]
    # A detected drop's account is an id of its platform (read from observations), so
    # explain would resolve it to itself; without follower snapshots its answer is known
    # without resolving it (a scan of every table per account on a large store).
    with_snapshots = set(zip(meta["platform"].to_pylist(), meta["account_id"].to_pylist(), strict=True))
    out = []
    for item in targets:
        try:
            if (item["platform"], item["account_id"]) not in with_snapshots:
                raise no_snapshots_error(item["platform"], item["account_id"])
            item["result"] = plain(
                explain(store, item["account_id"], platform=item["platform"], start=item["start"], end=item["end"])
            )
        except PurgeWatchError as exc:
            item["result"], item["error"] = None, str(exc)
        except Exception as exc:  # noqa: BLE001 - shown in the report, never hidden
            item["result"], item["error"] = None, f"the analysis failed ({type(exc).__name__}: {exc})"
        res = item.get("result") or {}
        snaps = (res.get("evidence") or {}).get("snapshots") or []
        if item["start"] is None and len(snaps) == 2:
            item["start"], item["end"] = snaps[0].get("observed_at"), snaps[1].get("observed_at")
        item["group"] = item["group"] or res.get("group")
        item["handle"] = item["handle"] or res.get("handle")
        item["label"] = item["label"] or res.get("label")
        out.append(item)
    note = "ok" if detect_ok and drops else (
        "ok (no detected follower drop: each watched account's largest fall between follower snapshots)"
    )
    return out, note


def compare_groups_of(
    store: Store, t0: pd.Timestamp | None, t1: pd.Timestamp | None
) -> tuple[list[dict[str, Any]], str]:
    """Camp comparisons for each outcome (FORMATS.md ``compare --by group --json``)."""
    out: list[dict[str, Any]] = []
    errors = []
    for outcome in COMPARE_OUTCOMES:
        try:
            res = plain(compare_store(store, by="group", outcome=outcome, start=iso(t0), end=iso(t1)))
        except PurgeWatchError as exc:
            errors.append(f"{outcome}: {exc.message}")
            continue
        except Exception as exc:  # noqa: BLE001 - a failing analysis must not take the report down
            errors.append(f"{outcome}: the analysis failed ({type(exc).__name__}: {exc})")
            continue
        if isinstance(res, dict):
            res.setdefault("outcome", outcome)
            out.append(res)
    if not out:
        return [], "not available: " + "; ".join(errors)
    return out, "ok" if not errors else "ok (" + "; ".join(errors) + ")"


def forensics_of(store: Store, explains: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Creation-date profiles, follower order and regain checks around each explained drop."""
    calls: dict[str, Callable[..., Any]] = {
        "creation": follower_creation_profiles, "order": follower_order, "regain": regain_for_account,
    }
    out = []
    for x in explains:
        if x.get("result") is None or not (x["result"] or {}).get("lost"):
            continue
        item: dict[str, Any] = {"event": x["event"], "platform": x["platform"], "account_id": x["account_id"],
                                "handle": x.get("handle"), "label": x.get("label"), "errors": []}
        for name, fn in calls.items():
            try:
                if name == "order":
                    res = plain(fn(store, x["platform"], x["account_id"]))
                    res = thin_order(res)
                else:
                    res = plain(fn(store, x["platform"], x["account_id"], start=x["start"], end=x["end"]))
            except PurgeWatchError as exc:
                item["errors"].append(f"{name}: {exc.message}")
                res = None
            except Exception as exc:  # noqa: BLE001 - shown in the report, never hidden
                item["errors"].append(f"{name}: the analysis failed ({type(exc).__name__}: {exc})")
                res = None
            item[name] = res
        out.append(item)
    return out, "ok"


def thin_order(res: dict[str, Any]) -> dict[str, Any]:
    """Keep the Follower-Factory points small enough for a report (evenly thinned)."""
    pts = res.pop("points", None) or {}
    pos, created = pts.get("position") or [], pts.get("created_at") or []
    step = max(1, math.ceil(len(pos) / MAX_ORDER_POINTS))
    res["points"] = {"position": pos[::step], "created_at": created[::step], "thinned_every": step}
    return res
