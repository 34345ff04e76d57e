"""Status changes in scope (the raw data behind the wave timeline and the status counts)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from purgewatch.findings._jsonable import iso, iso_series, key_hex, text_or_none
from purgewatch.findings._observations import ObservationIndex
from purgewatch.model import NOT_A_CHANGE, status_changes
from purgewatch.store import Store


class StatusChangeTable:
    """Status changes seen in observations, profiles and status events, as one frame
    (directions from :func:`purgewatch.model.status_changes`, as the wave detector's).

    ``unknown`` is never a status (a failed look-up), so it is skipped, not a change.
    """

    COLS = ["platform", "account_id", "status", "source", "source_ref", "retrieved_at", "tool_version",
            "payload_hash", "batch_id", "record_key"]
    PROVENANCE = ["source", "source_ref", "retrieved_at", "tool_version", "payload_hash", "batch_id"]

    def __init__(self, store: Store, obs: pd.DataFrame, t0: pd.Timestamp | None, t1: pd.Timestamp | None,
                 group_of: dict[tuple[str, str], Any]) -> None:
        frames = []
        if len(obs):
            # observation rows without provenance (``row`` in the ObservationIndex: read
            # for the few cited, see appendix)
            o = obs[["platform", "account_id", "status", "record_key", "observed_at", "followers_count", "row"]].rename(
                columns={"observed_at": "at"})
            o["table"], o["prefix"] = "observations", "o"
            frames.append(o)
        prof = _in_window(store.read("profiles", columns=self.COLS + ["observed_at", "followers_count"]).to_pandas(), "observed_at", t0, t1)
        if len(prof):
            prof = prof.rename(columns={"observed_at": "at"})
            prof["table"], prof["prefix"] = "profiles", "p"
            frames.append(prof)
        se = _in_window(store.read("status_events", columns=self.COLS + ["at"]).to_pandas(), "at", t0, t1)
        if len(se):
            se["followers_count"] = np.nan
            se["table"], se["prefix"] = "status_events", "s"
            frames.append(se)
        self.elsewhere = pd.DataFrame(columns=["platform", "account_id", "at", "status", "followers_count", "ref", "table"])
        if not frames:
            self.df = pd.DataFrame(columns=["ref", "table", "platform", "account_id", "group", "at", "iso", "prev_status", "to", "direction"])
            return
        df = pd.concat(frames, ignore_index=True)
        df = df[df["status"] != "unknown"]
        df["ref"] = df["prefix"] + "-" + df["record_key"].map(key_hex)
        df = df.sort_values(["platform", "account_id", "at", "ref"], kind="stable")
        # One definition of a change (model.status_changes), shared with the wave detector:
        # suspended_or_deleted after an enforcement reading is that suspension, etc.
        acct = df.groupby(["platform", "account_id"], sort=False).ngroup().to_numpy()
        changes = status_changes(acct, df["status"].to_numpy(dtype=object), (df["table"] == "status_events").to_numpy())
        df["status"] = changes.status
        # Latest profile / status-event row per account: accounts known only from those
        # tables are accounts too (their latest state, with its table as source).
        other = df[df["table"] != "observations"]
        self.elsewhere = other.groupby(["platform", "account_id"], sort=False).tail(1).copy()
        if len(other):
            n = other.groupby(["platform", "account_id"], sort=False)["table"].value_counts().unstack(fill_value=0)
            self.elsewhere = self.elsewhere.join(n, on=["platform", "account_id"])
        df["prev_status"] = changes.previous
        df["direction"] = changes.direction
        df = df[df["direction"] != NOT_A_CHANGE].copy()
        df["to"] = df["status"]
        keys = list(zip(df["platform"].astype(str), df["account_id"].astype(str), strict=True))
        df["group"] = [group_of.get(k) for k in keys]
        df["iso"] = iso_series(df["at"])
        self.df = df.sort_values(["at", "platform", "account_id", "ref"], kind="stable").reset_index(drop=True)

    def rows(self, limit: int) -> list[dict[str, Any]]:
        out = []
        r: Any
        for r in self.df.head(limit).itertuples(index=False):
            out.append({
                "ref": r.ref, "table": r.table, "platform": r.platform, "account_id": r.account_id,
                "group": r.group if isinstance(r.group, str) else None, "at": r.iso, "from": r.prev_status if isinstance(r.prev_status, str) else None,
                "to": r.to, "direction": r.direction,
            })
        return out

    def count(self, direction: str) -> int:
        return int((self.df["direction"] == direction).sum()) if len(self.df) else 0

    def daily(self) -> list[dict[str, Any]]:
        df = self.df[self.df["direction"] != "other"] if len(self.df) else self.df
        if not len(df):
            return []
        day = df["iso"].str.slice(0, 10)
        grp = df["group"].map(lambda g: g if isinstance(g, str) else "not watched")
        counts = pd.crosstab([day, grp], df["direction"])
        out = []
        key: Any
        for key, row in counts.sort_index().iterrows():
            d, g = key
            out.append({"day": d, "group": g, "suspended": int(row.get("suspended", 0)), "reinstated": int(row.get("reinstated", 0)),
                        "suspended_or_deleted": int(row.get("suspended_or_deleted", 0))})
        return out

    def refs(self, direction: str, start: pd.Timestamp | None, end: pd.Timestamp | None, platform: str | None) -> list[str]:
        df = self.df
        if not len(df):
            return []
        m = df["direction"] == direction
        if start is not None:
            m &= df["at"] >= start
        if end is not None:
            m &= df["at"] <= end
        if platform:
            m &= df["platform"] == platform
        return df.loc[m, "ref"].tolist()

    def observation_rows(self, wanted: set[str]) -> list[int]:
        """ObservationIndex rows of the wanted status changes read from observations."""
        if not len(self.df) or "row" not in self.df:
            return []
        df = self.df[self.df["ref"].isin(wanted) & (self.df["table"] == "observations")]
        return [int(x) for x in df["row"]]

    def appendix(self, wanted: set[str], ob: ObservationIndex) -> list[dict[str, Any]]:
        df = self.df[self.df["ref"].isin(wanted)] if len(self.df) else self.df
        prov: dict[int, dict[str, Any]] = {}
        rows = self.observation_rows(wanted)
        if rows:
            got = ob.take(rows, ["record_key", *self.PROVENANCE]).to_pylist()
            prov = dict(zip(rows, got, strict=True))
        out = []
        r: Any
        for r in df.itertuples(index=False):
            if r.table == "observations":  # its provenance, read for it
                r = SimpleNamespace(**{**r._asdict(), **prov[int(r.row)]})
            out.append(appendix_row(r, r.table, r.at))
        seen = set(df["ref"]) if len(df) else set()
        if len(self.elsewhere):
            for r in self.elsewhere[self.elsewhere["ref"].isin(wanted - seen)].itertuples(index=False):
                out.append(appendix_row(r, r.table, r.at))
        return out

    def known_elsewhere(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Per account: its latest profile or status-event row (status, time, followers,
        ref, table) and how many rows each of those tables holds."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        r: Any
        for r in self.elsewhere.itertuples(index=False):
            row = r._asdict()
            out[(str(r.platform), str(r.account_id))] = {
                "t": iso(r.at), "status": r.status, "ref": r.ref, "source": r.table,
                "followers": None if pd.isna(r.followers_count) else int(r.followers_count),
                "n_profiles": int(row.get("profiles", 0) or 0), "n_status_events": int(row.get("status_events", 0) or 0),
            }
        return out


def _in_window(df: pd.DataFrame, col: str, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    if start is not None:
        df = df[df[col] >= start]
    if end is not None:
        df = df[df[col] <= end]
    return df


def appendix_row(r: Any, table: str, at: Any) -> dict[str, Any]:
    return {
        "ref": r.ref,
        "table": table,
        "platform": r.platform,
        "account_id": r.account_id,
        "at": iso(at),
        "status": r.status,
        "followers_count": None if pd.isna(getattr(r, "followers_count", None)) else int(r.followers_count),
        "source": text_or_none(r.source),
        "source_ref": text_or_none(r.source_ref),
        "retrieved_at": iso(r.retrieved_at),
        "tool_version": text_or_none(r.tool_version),
        "payload_hash": text_or_none(r.payload_hash),
        "batch_id": text_or_none(r.batch_id),
    }
