"""The public labelled sets the shipped model learned from, and a user's own labelled
profiles; files are read by :func:`purgewatch.sources.files.read_profiles`, typed exactly
as the importers type them (no store needed)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from purgewatch.errors import InputError, Location
from purgewatch.sources.files import FACT_COLUMNS, read_profiles

__all__ = ["FACT_COLUMNS", "LABELLED_SETS", "load_labelled", "read_labelled_file", "read_profiles"]

# The labelled sets (folder under the datasets directory, what a row is). Labels: 1 = bot.
CRESCI_CLASSES = (
    "genuine_acconts", "fake_followers", "social_spambots_1", "social_spambots_2",
    "social_spambots_3", "traditional_spambots_1", "traditional_spambots_2",
    "traditional_spambots_3", "traditional_spambots_4",
)
BOTOMETER_SETS = ("verified-2019", "botwiki-2019", "cresci-rtbust-2019", "vendor-purchased-2019")
LABELLED_SETS = ("cresci-2017", *BOTOMETER_SETS)


def _botometer(folder: Path, name: str) -> pd.DataFrame:
    tsv = folder / name / f"{name}.tsv"
    labels = pd.read_csv(tsv, sep="\t", header=None, names=["account_id", "truth"], dtype=str)
    labels = labels[labels["truth"].isin(["bot", "human"])]  # cresci-rtbust's header line
    prof = read_profiles(folder / name / f"{name}_tweets.json")
    prof = prof.drop_duplicates("account_id", keep="last")
    # Join on user.id and drop the rest: accounts without an object are not missing at random.
    out = prof.merge(labels.drop_duplicates("account_id"), on="account_id", how="inner")
    out["y"] = (out.pop("truth") == "bot").astype(int)
    out["dataset"] = name
    out["subset"] = name
    return out


def _cresci(folder: Path) -> pd.DataFrame:
    parts = []
    for cls in CRESCI_CLASSES:
        f = folder / "cresci-2017" / f"users_{cls}.csv"
        # ``updated`` (crawl time, zone-less UTC) is the observation time.
        prof = read_profiles(f, naive_utc=True, empty_is_false=True)
        prof["y"] = int(cls != "genuine_acconts")
        prof["dataset"] = "cresci-2017"
        prof["subset"] = "genuine" if cls == "genuine_acconts" else cls
        parts.append(prof)
    return pd.concat(parts, ignore_index=True)


def load_labelled(folder: str | Path, names: tuple[str, ...] | list[str] = LABELLED_SETS) -> pd.DataFrame:
    """The labelled sets ``names`` under ``folder`` (the shared datasets directory) as one
    profile table with ``y`` (1 = bot), ``dataset`` and ``subset`` (cresci class)."""
    base = Path(folder)
    parts: list[pd.DataFrame] = []
    for name in names:
        if name == "cresci-2017":
            parts.append(_cresci(base))
        elif name in BOTOMETER_SETS:
            parts.append(_botometer(base, name))
        else:
            raise InputError(f"unknown labelled set {name!r}", hint=f"one of {', '.join(LABELLED_SETS)}")
    return pd.concat(parts, ignore_index=True)


def read_labelled_file(path: str | Path, label_column: str = "label") -> pd.DataFrame:
    """A user's own labelled profiles: any :func:`read_profiles` file whose ``label``
    column says ``bot`` or ``human`` (rows with another label are left out)."""
    prof = read_profiles(path)
    if label_column not in prof.columns:
        raise InputError(f"no {label_column!r} column", location=Location(str(path)),
                         hint="label each profile bot or human in the label column")
    lab = prof[label_column].astype("string").str.lower()
    keep = lab.isin(["bot", "human"]).to_numpy()
    prof = prof[keep].copy()
    prof["y"] = (lab[keep] == "bot").astype(int).to_numpy()
    prof["dataset"] = Path(path).name
    prof["subset"] = Path(path).name
    return prof
