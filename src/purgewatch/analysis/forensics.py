"""Account forensics: when were these accounts made, in what order did they arrive, and
who came back after a drop.

Everything here is a pure function over arrays or tables, so it works on any
population: an account's followers, a set of suspended accounts, a camp, a dataset.

- :func:`snowflake_time` - creation time encoded in X (Twitter) snowflake ids.
- :func:`creation_profile` - how many accounts were created per period.
- :func:`creation_batches` - periods in which far more accounts were created than the
  surrounding periods (or a reference population) predict: the signature of a batch of
  accounts registered together.
- :func:`follower_order_bands` - the "Follower Factory" picture (follower order against
  creation date) and a detector for the dense bands that bought followers leave in it.
- :func:`bot_likeness` - probability that an account is automated or fake, from the
  trained model of :mod:`purgewatch.analysis.bots` (the hand-weighted score of earlier
  versions stays as :func:`heuristic_bot_likeness`, the benchmark's baseline).
- :func:`regain_campaign` - after a drop, was the next gain abnormal and made of young or
  batch-created accounts?

Thresholds are module constants, documented in docs/forensics.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from purgewatch.errors import AnalysisError, InputError
from purgewatch.store import Store
from purgewatch.store import snapshots as snap
from purgewatch.timefmt import iso_utc, parse_zoned

# X snowflake epoch (ms since Unix epoch) and the smallest id treated as a snowflake.
# Before ~2013 X user ids were sequential 32-bit integers that encode no time.
SNOWFLAKE_EPOCH_MS = 1288834974657
SNOWFLAKE_MIN_ID = 2**32

# creation_batches defaults
BATCH_FREQ = "MS"              # calendar months
BATCH_NEIGHBOURS = 6           # periods on each side used for the local baseline
BATCH_ALPHA = 0.01             # family-wise error over all periods (Bonferroni)
BATCH_MIN_COUNT = 10           # a batch has at least this many accounts
BATCH_MIN_RATIO = 3.0          # and at least this many times the baseline
BATCH_FLOOR = 1.0              # smallest baseline rate per period (avoids 0-expectation)

# follower_order_bands defaults
BAND_WINDOW = 200              # followers per sliding window (in list order)
BAND_SPAN_DAYS = 30.0          # "narrow": created within this many days of each other
BAND_MIN_SHARE = 0.5           # at least half the window inside one such span
BAND_PERMUTATIONS = 20         # order shuffles for the null distribution
BAND_QUANTILE = 0.999          # window flagged above this quantile of the null
BAND_IQR_RATIO = 0.5           # or: creation-date IQR below half the null's median IQR ...
BAND_IQR_QUANTILE = 0.001      # ... and below this quantile of the null IQRs

# regain_campaign defaults
REGAIN_YOUNG_DAYS = 30.0       # "young": created less than this before it was first seen
REGAIN_HORIZON_DAYS = 14.0   # default regain window: this long after the drop
REGAIN_ABNORMAL_RATIO = 3.0    # gain at least this many times the median earlier gain


def snowflake_time(ids: Sequence[Any] | np.ndarray | pd.Series) -> pd.Series:
    """Creation time (UTC) encoded in X snowflake ids: ``(id >> 22) + 1288834974657`` ms.

    Ids below 2**32 (sequential pre-snowflake ids) and non-numeric ids give NaT.
    """
    s = pd.Series(ids)
    num = pd.to_numeric(s, errors="coerce")
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ms, UTC]")
    # Parse as Python ints: ids above 2**53 lose precision through float.
    valid = num.notna() & (num >= SNOWFLAKE_MIN_ID)
    if valid.any():
        as_int = np.array([int(str(v).split(".")[0]) for v in s[valid]], dtype=np.uint64)
        ms = (as_int >> np.uint64(22)).astype(np.int64) + SNOWFLAKE_EPOCH_MS
        out[valid] = pd.to_datetime(ms, unit="ms", utc=True)
    return out


def creation_times(
    created_at: Sequence[Any] | pd.Series | None,
    ids: Sequence[Any] | pd.Series | None = None,
    *,
    platform: str | None = None,
) -> pd.Series:
    """Creation times from profile ``created_at`` values, falling back to the snowflake
    time of the id on X when the profile has none."""
    if created_at is None and ids is None:
        raise AnalysisError("creation_times needs created_at values or ids")
    if created_at is not None:
        ca = pd.Series(created_at)
        if not isinstance(ca.dtype, pd.DatetimeTZDtype):
            ca = pd.to_datetime(ca, utc=True, errors="coerce", format="mixed")
        ca = ca.astype("datetime64[ms, UTC]")
    else:
        ca = pd.Series(pd.NaT, index=pd.Series(ids).index, dtype="datetime64[ms, UTC]")
    if ids is not None and (platform is None or platform == "x"):
        sf = snowflake_time(pd.Series(ids).reset_index(drop=True))
        sf.index = ca.index
        ca = ca.fillna(sf)
    return ca


def creation_profile(created: pd.Series | Sequence[Any], *, freq: str = BATCH_FREQ) -> pd.Series:
    """Accounts created per period (index: period start, UTC), zero-filled between the
    first and last creation."""
    t = pd.to_datetime(pd.Series(created), utc=True).dropna()
    if t.empty:
        return pd.Series(dtype="int64")
    counts = t.dt.tz_convert(None).dt.to_period(_period_freq(freq)).value_counts().sort_index()
    pidx = pd.PeriodIndex(counts.index)
    full = pd.period_range(pidx.min(), pidx.max(), freq=pidx.freq)
    counts = counts.reindex(full, fill_value=0)
    counts.index = full.to_timestamp().tz_localize("UTC")
    return counts.astype("int64")


def profile_json(profile: pd.Series) -> dict[str, int]:
    """A creation profile as {period start ISO 8601: count}."""
    return {
        str(iso_utc(ts)): int(v)
        for ts, v in zip(pd.DatetimeIndex(profile.index), profile.to_numpy(), strict=True)
    }


def _period_freq(freq: str) -> str:
    return {"MS": "M", "M": "M", "ME": "M", "D": "D", "W": "W", "QS": "Q", "Q": "Q"}.get(freq, freq)


@dataclass
class CreationBatch:
    start: pd.Timestamp      # first period of the batch
    end: pd.Timestamp        # end of the last period (exclusive)
    count: int               # accounts created in the batch
    expected: float          # baseline expectation over the same periods
    ratio: float             # count / expected
    p_value: float           # Poisson upper tail of the most extreme period (unadjusted)
    share: float             # share of the whole population
    peak: pd.Timestamp       # the period with the most accounts
    peak_count: int

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("start", "end", "peak"):
            d[k] = iso_utc(getattr(self, k))
        return d


def creation_batches(
    created: pd.Series | Sequence[Any],
    *,
    freq: str = BATCH_FREQ,
    neighbours: int = BATCH_NEIGHBOURS,
    alpha: float = BATCH_ALPHA,
    min_count: int = BATCH_MIN_COUNT,
    min_ratio: float = BATCH_MIN_RATIO,
    reference: pd.Series | Sequence[Any] | None = None,
) -> list[CreationBatch]:
    """Periods in which many more accounts were created than a baseline predicts.

    Baseline: the median count of the ``neighbours`` periods on each side (excluding the
    period itself, so a batch cannot raise its own baseline), floored at
    ``BATCH_FLOOR``; or, when ``reference`` creation times are given (e.g. genuine
    accounts), the reference profile scaled to the population's size. A period is
    flagged when its count is at least ``min_count`` and ``min_ratio`` times the
    baseline and the Poisson upper-tail p-value is below ``alpha / n_periods``
    (Bonferroni over periods). Adjacent flagged periods merge into one batch.
    """
    counts = creation_profile(created, freq=freq)
    if counts.empty:
        return []
    n_total = int(counts.sum())
    values = counts.to_numpy(dtype=float)
    if reference is not None:
        ref_counts = creation_profile(reference, freq=freq)
        ref_values = ref_counts.reindex(counts.index, fill_value=0).to_numpy(dtype=float)
        # A reference count of 0 would make any single account "infinitely" surprising:
        # add one pseudo-account per period before scaling.
        ref_values = ref_values + 1.0
        baseline = ref_values / ref_values.sum() * n_total
    else:
        padded = np.concatenate([np.full(neighbours, np.nan), values, np.full(neighbours, np.nan)])
        baseline = np.empty_like(values)
        for i in range(len(values)):
            ring = np.concatenate(
                [padded[i : i + neighbours], padded[i + neighbours + 1 : i + 2 * neighbours + 1]]
            )
            ring = ring[~np.isnan(ring)]
            baseline[i] = np.median(ring) if ring.size else 0.0
    baseline = np.maximum(baseline, BATCH_FLOOR)
    # P(X >= count) under Poisson(baseline): sf(count - 1).
    p = stats.poisson.sf(values - 1, baseline)
    threshold = alpha / len(values)
    flagged = (values >= min_count) & (values >= min_ratio * baseline) & (p < threshold)
    out: list[CreationBatch] = []
    idx = pd.DatetimeIndex(counts.index)
    step = _period_step(freq)
    i = 0
    while i < len(values):
        if not flagged[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(values) and flagged[j + 1]:
            j += 1
        c = int(values[i : j + 1].sum())
        e = float(baseline[i : j + 1].sum())
        out.append(
            CreationBatch(
                start=idx[i],
                end=idx[j] + step,
                count=c,
                expected=round(e, 3),
                ratio=round(c / e, 3),
                p_value=float(p[i : j + 1].min()),
                share=round(c / n_total, 4),
                peak=idx[i + int(np.argmax(values[i : j + 1]))],
                peak_count=int(values[i : j + 1].max()),
            )
        )
        i = j + 1
    return out


def _period_step(freq: str) -> Any:
    return pd.tseries.frequencies.to_offset({"M": "MS", "ME": "MS", "Q": "QS"}.get(freq, freq))


# ---------------------------------------------------------------- follower order


@dataclass
class Band:
    """A run of consecutive followers (list order) created within a narrow span."""

    first_position: int      # in oldest-first order (0 = the oldest follower)
    last_position: int
    size: int                # followers in the run
    in_span: int             # of which created inside the dense span
    span_start: pd.Timestamp
    span_end: pd.Timestamp
    share: float             # in_span / size
    null_share: float        # the same statistic's null quantile (order shuffled)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["span_start"] = iso_utc(self.span_start)
        d["span_end"] = iso_utc(self.span_end)
        return d


def _day_numbers(created: pd.Series | Sequence[Any]) -> np.ndarray:
    """Creation times as float days since the Unix epoch (NaN when unknown)."""
    t = pd.to_datetime(pd.Series(created), utc=True)
    epoch = pd.Timestamp(0, tz="UTC")
    return ((t - epoch).dt.total_seconds() / 86_400).to_numpy(dtype=float)


def _densest_share(days: np.ndarray, window: int, span: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each half-overlapping window of ``days`` (creation day numbers in list order):
    the largest share of its members inside any ``span``-day interval, that interval's
    start, and the interquartile range of the window's creation days."""
    n = len(days)
    step = max(window // 2, 1)
    starts = np.arange(0, max(n - window, 0) + 1, step)
    shares = np.zeros(len(starts))
    lo = np.zeros(len(starts))
    iqr = np.full(len(starts), np.nan)
    for k, s in enumerate(starts):
        w = np.sort(days[s : s + window])
        w = w[~np.isnan(w)]
        if w.size == 0:
            continue
        ends = np.searchsorted(w, w + span, side="right")
        best = int(np.argmax(ends - np.arange(w.size)))
        shares[k] = (ends[best] - best) / window
        lo[k] = w[best]
        if w.size >= window // 2:
            q1, q3 = np.quantile(w, [0.25, 0.75])
            iqr[k] = q3 - q1
    return shares, lo, iqr


def follower_order_bands(
    created_oldest_first: pd.Series | Sequence[Any],
    *,
    window: int = BAND_WINDOW,
    span_days: float = BAND_SPAN_DAYS,
    min_share: float = BAND_MIN_SHARE,
    permutations: int = BAND_PERMUTATIONS,
    quantile: float = BAND_QUANTILE,
    seed: int = 0,
) -> list[Band]:
    """Dense bands in the follower-order vs creation-date picture.

    Input: creation times of the followers in the order they followed (oldest first,
    as in the New York Times "Follower Factory" charts). Organic followers arrive with
    creation dates spread over years; a batch of bought followers arrives together and
    was registered together, so a run of consecutive positions sits in a narrow
    creation span. Two statistics per sliding window of ``window`` followers, each
    compared with its distribution after shuffling the order (``permutations`` times,
    which keeps the creation-date distribution and destroys only the order):

    - tight batch: the largest share created within ``span_days`` of each other is at
      least ``min_share`` and above the null's ``quantile``;
    - concentrated block: the interquartile range of creation dates is below
      ``BAND_IQR_RATIO`` times the null's median IQR and below its ``BAND_IQR_QUANTILE``
      quantile (a block bought from a vendor whose accounts come from a few batches).

    Overlapping flagged windows merge into one band.
    """
    days = _day_numbers(created_oldest_first)
    n = len(days)
    if n < window:
        return []
    shares, _, iqr = _densest_share(days, window, span_days)
    rng = np.random.default_rng(seed)
    null_s, null_i = [], []
    for _ in range(permutations):
        s_, _, i_ = _densest_share(rng.permutation(days), window, span_days)
        null_s.append(s_)
        null_i.append(i_)
    null_all = np.concatenate(null_s) if null_s else np.zeros(1)
    cut = float(np.quantile(null_all, quantile))
    ni = np.concatenate(null_i) if null_i else np.array([np.nan])
    ni = ni[~np.isnan(ni)]
    if ni.size:
        iqr_cut = min(float(np.quantile(ni, BAND_IQR_QUANTILE)), BAND_IQR_RATIO * float(np.median(ni)))
        concentrated = np.nan_to_num(iqr, nan=np.inf) < iqr_cut
    else:
        concentrated = np.zeros(len(shares), dtype=bool)
    flagged = ((shares >= min_share) & (shares > cut)) | concentrated
    step = max(window // 2, 1)
    bands: list[Band] = []
    k = 0
    while k < len(shares):
        if not flagged[k]:
            k += 1
            continue
        j = k
        while j + 1 < len(shares) and flagged[j + 1]:
            j += 1
        first = k * step
        last = min(j * step + window, n) - 1
        # Re-measure the merged run: densest span over the whole run.
        run = np.sort(days[first : last + 1][~np.isnan(days[first : last + 1])])
        ends = np.searchsorted(run, run + span_days, side="right")
        best = int(np.argmax(ends - np.arange(run.size)))
        in_span = int(ends[best] - best)
        lo = run[best]
        bands.append(
            Band(
                first_position=int(first),
                last_position=int(last),
                size=int(last - first + 1),
                in_span=in_span,
                span_start=pd.Timestamp(lo * 86_400, unit="s", tz="UTC"),
                span_end=pd.Timestamp((lo + span_days) * 86_400, unit="s", tz="UTC"),
                share=round(in_span / (last - first + 1), 4),
                null_share=round(cut, 4),
            )
        )
        k = j + 1
    return bands


# ---------------------------------------------------------------- bot-likeness

# The hand-weighted score PurgeWatch used before the trained model (analysis/bots); kept
# as the baseline benchmarks/bots.py measures the model against.
# (feature, points, why). The score is points earned / points available, using only
# the features present for the account, so a missing field neither helps nor hurts.
BOT_FEATURES: list[tuple[str, float, str]] = [
    ("default_profile_image", 1.0, "never set a profile picture"),
    ("empty_description", 1.0, "no bio"),
    ("low_follower_ratio", 1.0, "follows >= 100 accounts and has < 0.1 followers per follow"),
    ("extreme_posting", 1.0, "posts nothing, or more than 50 posts a day on average"),
    ("young_account", 1.0, "created less than 90 days before it was observed"),
    ("digit_handle", 1.0, "handle ends in 4 or more digits"),
    ("few_likes", 1.0, "has liked fewer than 5 posts (when the platform counts likes)"),
]
_DIGITS = re.compile(r"\d{4,}$")


def bot_likeness_features(profiles: pd.DataFrame, *, as_of: Any = None) -> pd.DataFrame:
    """The 0/1 features behind :func:`heuristic_bot_likeness` (NaN where the input lacks the field).

    Columns read when present: ``default_profile_image``, ``description``,
    ``followers_count``, ``following_count``, ``posts_count``, ``created_at``,
    ``observed_at`` (or ``as_of``), ``handle``, ``favourites_count``.
    """
    p = profiles
    n = len(p)
    out = pd.DataFrame(index=p.index)

    def col(name: str) -> pd.Series | None:
        return p[name] if name in p.columns else None

    def flag(values: pd.Series, known: pd.Series) -> pd.Series:
        return values.astype(float).where(known, np.nan)

    # Exports often leave a field empty for False / no bio (cresci-2017 does), so a null
    # counts as False/empty when some row of the column has a value; a column that is
    # null everywhere was not collected and its feature is unknown.
    dpi = col("default_profile_image")
    if dpi is not None and dpi.notna().any():
        v = dpi.map(lambda x: None if x is None or (isinstance(x, float) and np.isnan(x)) else bool(x))
        out["default_profile_image"] = v.fillna(False).astype(float)
    desc = col("description")
    if desc is not None and desc.notna().any():
        out["empty_description"] = desc.fillna("").astype(str).str.strip().eq("").astype(float)
    fol, fing = col("followers_count"), col("following_count")
    if fol is not None and fing is not None:
        fo = pd.to_numeric(fol, errors="coerce")
        fi = pd.to_numeric(fing, errors="coerce")
        known = fo.notna() & fi.notna()
        out["low_follower_ratio"] = flag((fi >= 100) & (fo < 0.1 * fi), known)
    created = col("created_at")
    ref: pd.Series | None = None
    if as_of is not None:
        ref = pd.Series(pd.to_datetime(as_of, utc=True), index=p.index)
    elif "observed_at" in p.columns:
        ref = pd.to_datetime(p["observed_at"], utc=True, errors="coerce", format="mixed")
    age_days: pd.Series | None = None
    if created is not None and ref is not None:
        c = pd.to_datetime(created, utc=True, errors="coerce", format="mixed")
        age_days = (ref - c).dt.total_seconds() / 86_400
        out["young_account"] = flag(age_days < 90, age_days.notna())
    posts = col("posts_count")
    if posts is not None:
        po = pd.to_numeric(posts, errors="coerce")
        if age_days is not None:
            per_day = po / age_days.clip(lower=1)
            known = po.notna() & age_days.notna()
            out["extreme_posting"] = flag((po == 0) | (per_day > 50), known)
        else:
            out["extreme_posting"] = flag(po == 0, po.notna())
    handle = col("handle")
    if handle is not None:
        h = handle.fillna("").astype(str)
        out["digit_handle"] = flag(h.str.contains(_DIGITS), h.ne(""))
    likes = col("favourites_count")
    if likes is not None:
        lk = pd.to_numeric(likes, errors="coerce")
        out["few_likes"] = flag(lk < 5, lk.notna())
    if n and out.shape[1] == 0:
        raise AnalysisError(
            "no profile feature available for bot-likeness",
            hint="needs at least one of default_profile_image, description, followers/following "
            "counts, posts_count with created_at, handle",
        )
    return out


def bot_likeness(profiles: pd.DataFrame, *, as_of: Any = None) -> pd.Series:
    """Probability (0..1) that each profile is a bot, from the shipped (or configured)
    model of :mod:`purgewatch.analysis.bots`; NaN for a row that is not a profile read
    (none of the posts, followers and following counts known). Columns: the store's
    account facts (see ``bots.FEATURES``)."""
    from purgewatch.analysis.bots import feature_matrix, load_model, scorable

    X = feature_matrix(profiles, as_of=as_of)
    scores = load_model().score_matrix(X)
    known = scorable(X)
    return pd.Series(np.where(known, scores, np.nan), index=profiles.index)


def heuristic_bot_likeness(profiles: pd.DataFrame, *, as_of: Any = None) -> pd.Series:
    """The earlier hand-weighted score: share of the documented bot-like features
    (``BOT_FEATURES``) an account shows, 0..1, counting only features known for that
    account. NaN when none is known. Kept as a baseline (benchmarks/bots.py)."""
    feats = bot_likeness_features(profiles, as_of=as_of)
    weights = {name: w for name, w, _ in BOT_FEATURES}
    w = pd.Series({c: weights[c] for c in feats.columns})
    known = feats.notna().astype(float).mul(w, axis=1).sum(axis=1)
    earned = feats.fillna(0.0).mul(w, axis=1).sum(axis=1)
    return (earned / known).where(known > 0)


# ---------------------------------------------------------------- regain campaigns


@dataclass
class RegainReport:
    gained: int                      # followers gained after the drop
    baseline_gain_median: float      # median gain per interval (per day with interval lengths) before the drop
    gain_ratio: float | None         # gained / baseline (None without a baseline)
    abnormal_gain: bool
    young_share: float | None        # share of gained created < REGAIN_YOUNG_DAYS before seen
    young_share_baseline: float | None   # same for followers gained before the drop
    young_p_value: float | None      # Fisher exact (one-sided, greater)
    batch_share: float | None        # share of gained inside creation batches
    batches: list[CreationBatch] = field(default_factory=list)
    verdict: str = "insufficient_data"   # regain_campaign | organic | insufficient_data
    reasons: list[str] = field(default_factory=list)
    # Bot-likeness (analysis/bots) of the new followers vs the reference population.
    bot_share: float | None = None            # share of scored gained with score >= threshold
    bot_share_baseline: float | None = None   # same for the reference (e.g. remaining followers)
    bot_p_value: float | None = None          # Fisher exact (one-sided, greater)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["batches"] = [b.to_json() for b in self.batches]
        return d


def regain_campaign(
    *,
    gained_created: pd.Series,
    gained_seen: pd.Timestamp | pd.Series,
    earlier_gains: Sequence[int],
    earlier_days: Sequence[float] | None = None,
    gain_days: float | None = None,
    earlier_gained_created: pd.Series | None = None,
    earlier_gained_seen: pd.Timestamp | pd.Series | None = None,
    reference_created: pd.Series | None = None,
    young_days: float = REGAIN_YOUNG_DAYS,
    abnormal_ratio: float = REGAIN_ABNORMAL_RATIO,
    alpha: float = 0.05,
    gained_bot_scores: Sequence[float] | np.ndarray | None = None,
    reference_bot_scores: Sequence[float] | np.ndarray | None = None,
    bot_threshold: float = 0.5,
) -> RegainReport:
    """Was the gain after a drop a campaign?

    ``gained_created``: creation times of the followers gained after the drop, first seen
    at ``gained_seen``. ``earlier_gains``: follower gains per snapshot interval before
    the drop (the baseline for "abnormal"); with ``earlier_days`` (each interval's length)
    and ``gain_days`` (the regain window's) the comparison is per day, so a long regain
    window is not mistaken for an abnormal gain. ``earlier_gained_*``: the same for followers
    gained before the drop (baseline share of young accounts). ``reference_created``:
    creation times of a baseline population for the batch detector (e.g. the followers
    that stayed). Verdict ``regain_campaign`` when the gain is abnormal (at least
    ``abnormal_ratio`` times the median earlier gain) AND the new followers are either
    significantly younger than earlier ones (Fisher exact, one-sided, p < ``alpha``), or
    at least a third of them sit in creation batches, or (with ``gained_bot_scores`` and
    ``reference_bot_scores``, the bot-likeness model's scores) significantly more of them
    score as bots (>= ``bot_threshold``) than the reference (Fisher exact, p < ``alpha``).
    """
    gained = len(gained_created)
    reasons: list[str] = []
    eg = np.asarray(list(earlier_gains), dtype=float)
    per_day = earlier_days is not None and gain_days is not None and gain_days > 0
    if per_day and eg.size:
        ed = np.asarray(list(earlier_days or []), dtype=float)
        eg = eg / np.clip(ed, 1e-9, None)
    base = float(np.median(eg)) if eg.size else float("nan")
    if not eg.size:
        ratio = None
    elif per_day:
        assert gain_days is not None
        # Floor: one follower per regain window, so a zero baseline is not "infinite".
        ratio = (gained / gain_days) / max(base, 1.0 / gain_days)
    else:
        ratio = gained / max(base, 1.0)
    abnormal = ratio is not None and ratio >= abnormal_ratio

    def young(created: pd.Series, seen: Any) -> tuple[int, int]:
        c = pd.to_datetime(created, utc=True)
        s = pd.to_datetime(seen, utc=True)
        age = (s - c).dt.total_seconds() / 86_400
        known = age.notna()
        return int((age[known] < young_days).sum()), int(known.sum())

    y, yk = young(gained_created, gained_seen)
    young_share = y / yk if yk else None
    young_base = None
    p_young = None
    if earlier_gained_created is not None and earlier_gained_seen is not None:
        by, byk = young(earlier_gained_created, earlier_gained_seen)
        if byk:
            young_base = by / byk
            if yk:
                p_young = float(
                    stats.fisher_exact([[y, yk - y], [by, byk - by]], alternative="greater").pvalue
                )
    bot_share = bot_base = bot_p = None
    if gained_bot_scores is not None:
        from purgewatch.analysis.bots import compare_shares

        g = np.asarray(gained_bot_scores, dtype=float)
        g = g[np.isfinite(g)]
        if len(g):
            bot_share = float((g >= bot_threshold).mean())
            if reference_bot_scores is not None:
                r = np.asarray(reference_bot_scores, dtype=float)
                r = r[np.isfinite(r)]
                if len(r):
                    bot_base = float((r >= bot_threshold).mean())
                    bot_p = compare_shares(g, r, threshold=bot_threshold)["p_value"]
    batches = creation_batches(gained_created, reference=reference_created) if gained else []
    in_batches = sum(b.count for b in batches)
    batch_share = in_batches / yk if yk else None
    if gained == 0 or ratio is None:
        verdict = "insufficient_data"
        reasons.append("no gain after the drop" if gained == 0 else "no earlier gains to compare with")
    else:
        reasons.append(
            f"gain {gained} is {ratio:.1f}x the median earlier gain ({base:.3g}{' per day' if per_day else ''}); "
            f"abnormal at >= {abnormal_ratio}x"
        )
        young_signal = p_young is not None and p_young < alpha
        batch_signal = batch_share is not None and batch_share >= 1 / 3
        bot_signal = bot_p is not None and bot_p < alpha
        if bot_share is not None:
            reasons.append(
                f"{bot_share:.1%} of scored new followers score as bots (>= {bot_threshold:g})"
                + (f" vs {bot_base:.1%} of the reference (Fisher p={bot_p:.3g})" if bot_base is not None and bot_p is not None else "")
            )
        if young_share is not None:
            reasons.append(
                f"{young_share:.1%} of new followers were < {young_days:g} days old when first seen"
                + (f" vs {young_base:.1%} before (Fisher p={p_young:.3g})" if young_base is not None and p_young is not None else "")
            )
        if batch_share is not None:
            reasons.append(f"{batch_share:.1%} of new followers fall in creation batches")
        verdict = "regain_campaign" if abnormal and (young_signal or batch_signal or bot_signal) else "organic"
    return RegainReport(
        gained=gained,
        baseline_gain_median=base,
        gain_ratio=None if ratio is None else round(ratio, 3),
        abnormal_gain=bool(abnormal),
        young_share=young_share,
        young_share_baseline=young_base,
        young_p_value=p_young,
        batch_share=batch_share,
        batches=batches,
        verdict=verdict,
        reasons=reasons,
        bot_share=bot_share,
        bot_share_baseline=bot_base,
        bot_p_value=bot_p,
    )


# ---------------------------------------------------------------- over the store


def stored_creation_times(store: Store, platform: str, account_ids: Sequence[str] | pa.Array) -> pd.Series:
    """Creation time per account id (index), from the latest stored profile or
    observation that has one; on X, from the snowflake id when no record has one."""
    ids = pd.Series(
        account_ids.to_pylist() if isinstance(account_ids, pa.Array | pa.ChunkedArray) else list(account_ids),
        dtype="object",
    )
    if ids.empty:
        return pd.Series([], dtype="datetime64[us, UTC]")
    con = store.ibis()
    parts = []
    for table in ("profiles", "observations"):
        t = con.table(table)
        t = t.filter((t.platform == platform) & t.created_at.notnull())
        parts.append(t.select("account_id", "observed_at", "created_at"))
    wanted = ibis.memtable(pd.DataFrame({"account_id": ids.drop_duplicates()}))
    u = ibis.union(*parts).join(wanted, "account_id")
    w = ibis.window(group_by=u.account_id, order_by=ibis.desc(u.observed_at))
    latest = u.mutate(_r=ibis.row_number().over(w))
    latest = latest.filter(latest._r == 0).select("account_id", "created_at").to_pandas()
    known = pd.to_datetime(latest.set_index("account_id")["created_at"], utc=True)
    out = pd.Series(known.reindex(ids.to_numpy()).to_numpy(), dtype="datetime64[us, UTC]")
    if platform == "x":
        out = out.fillna(snowflake_time(ids).astype("datetime64[us, UTC]"))
    out.index = pd.Index(ids)
    return out


def _pair(store: Store, platform: str, account_id: str, start: Any, end: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    from purgewatch.analysis.explain import _select_pair

    meta = snap.list_snapshots(store, platform=platform, account_id=account_id).to_pandas()
    sel = _select_pair(meta, parse_zoned(start, "--from"), parse_zoned(end, "--to"))
    if sel is None:
        raise AnalysisError(
            f"fewer than two complete follower snapshots of {platform}:{account_id} bracket the window",
            hint="collect or import complete follower lists before and after the change",
        )
    return sel


def follower_creation_profiles(
    store: Store, platform: str, account_id: str, *, start: Any = None, end: Any = None,
    freq: str = BATCH_FREQ,
) -> dict[str, Any]:
    """Creation-date profiles and batches of the followers an account lost, kept and
    gained between the two snapshots bracketing the window (see explain)."""
    old, new = _pair(store, platform, account_id, start, end)
    a = snap.load_followers(store, old["snapshot_id"])
    b = snap.load_followers(store, new["snapshot_id"])
    sets = {
        "lost": np.setdiff1d(a, b, assume_unique=True),
        "remaining": np.intersect1d(a, b, assume_unique=True),
        "gained": np.setdiff1d(b, a, assume_unique=True),
    }
    out: dict[str, Any] = {
        "platform": platform, "account_id": account_id,
        "snapshots": [
            {"snapshot_id": s["snapshot_id"], "observed_at": iso_utc(s["observed_at"])}
            for s in (old, new)
        ],
        "sets": {},
    }
    remaining_created: pd.Series | None = None
    for name in ("remaining", "lost", "gained"):
        ids = snap.sids_to_ids(store, platform, sets[name])
        created = stored_creation_times(store, platform, ids)
        if name == "remaining":
            remaining_created = created
        prof = creation_profile(created, freq=freq)
        ref = remaining_created if name != "remaining" else None
        batches = creation_batches(created, freq=freq, reference=ref) if created.notna().any() else []
        out["sets"][name] = {
            "accounts": int(len(ids)),
            "with_creation_date": int(created.notna().sum()),
            "median_created": None if created.notna().sum() == 0 else iso_utc(created.dropna().median()),
            "profile": profile_json(prof),
            "batches": [bt.to_json() for bt in batches],
        }
    return out


def follower_order(
    store: Store, platform: str, account_id: str, *, snapshot_id: str | None = None, **band_args: Any
) -> dict[str, Any]:
    """The Follower-Factory data (position oldest-first, creation time) of one ordered
    follower snapshot (default: the latest complete ordered one) and its dense bands."""
    meta = snap.list_snapshots(store, platform=platform, account_id=account_id).to_pandas()
    if meta.empty:
        raise AnalysisError(f"no follower snapshots stored for {platform}:{account_id}")
    if snapshot_id is None:
        complete = meta[~meta["partial"]]
        cands = complete if len(complete) else meta
        order = None
        for sid in reversed(cands["snapshot_id"].tolist()):
            order = snap.load_order(store, sid)
            if order is not None:
                snapshot_id = sid
                break
        if order is None:
            raise AnalysisError(
                f"no stored follower list of {platform}:{account_id} keeps the list order",
                hint="the Follower-Factory view needs a snapshot taken with ordered=True",
            )
    else:
        if snapshot_id not in set(meta["snapshot_id"]):
            raise InputError(f"snapshot {snapshot_id!r} is not a snapshot of {platform}:{account_id}")
        order = snap.load_order(store, snapshot_id)
        if order is None:
            raise AnalysisError(f"snapshot {snapshot_id} does not keep the list order")
    oldest_first = order[::-1]
    ids = snap.sids_to_ids(store, platform, oldest_first)
    created = stored_creation_times(store, platform, ids).reset_index(drop=True)
    bands = follower_order_bands(created, **band_args)
    in_bands = sum(b.size for b in bands)
    return {
        "platform": platform,
        "account_id": account_id,
        "snapshot_id": snapshot_id,
        "followers": int(len(ids)),
        "with_creation_date": int(created.notna().sum()),
        "bands": [b.to_json() for b in bands],
        "followers_in_bands": int(in_bands),
        "share_in_bands": round(in_bands / len(ids), 6) if len(ids) else None,
        "points": {"position": list(range(len(ids))), "account_id": ids.to_pylist(),
                   "created_at": [None if pd.isna(t) else iso_utc(t) for t in created]},
    }


def regain_for_account(
    store: Store, platform: str, account_id: str, *, start: Any = None, end: Any = None,
    until: Any = None,
) -> dict[str, Any]:
    """After the drop between the snapshots bracketing [start, end] (see explain), did
    the gain up to ``until`` (default: the last complete snapshot within
    ``REGAIN_HORIZON_DAYS`` of the drop, else the next one) look like a campaign?"""

    old, new = _pair(store, platform, account_id, start, end)
    meta = snap.list_snapshots(store, platform=platform, account_id=account_id).to_pandas()
    meta = meta[~meta["partial"]].sort_values("observed_at").reset_index(drop=True)
    t_new = pd.Timestamp(new["observed_at"])
    later = meta[meta["observed_at"] > t_new]
    u = parse_zoned(until, "--until")
    if u is not None:
        later = later[later["observed_at"] <= u]
    if later.empty:
        raise AnalysisError(
            f"no complete follower snapshot of {platform}:{account_id} after the drop ({iso_utc(t_new)})",
            hint="a regain can only be judged once a later follower list is stored",
        )
    if u is None:
        # Campaigns to win followers back start days after a drop, not by the next list:
        # by default judge everything gained within the horizon.
        horizon = t_new + pd.Timedelta(days=REGAIN_HORIZON_DAYS)
        within = later[later["observed_at"] <= horizon]
        later = within if not within.empty else later.iloc[:1]
    after = later.iloc[-1]
    d = snap.diff_snapshots(store, new["snapshot_id"], after["snapshot_id"], complete=True)
    gained_ids = snap.sids_to_ids(store, platform, d.added)
    gained_created = stored_creation_times(store, platform, gained_ids)
    # Baseline: every consecutive pair before the drop.
    before = meta[meta["observed_at"] <= pd.Timestamp(old["observed_at"])]
    earlier_gains: list[int] = []
    earlier_days: list[float] = []
    eg_created: list[pd.Series] = []
    eg_seen: list[pd.Series] = []
    for i in range(1, len(before)):
        dd = snap.diff_snapshots(store, before.iloc[i - 1]["snapshot_id"], before.iloc[i]["snapshot_id"], complete=True)
        earlier_gains.append(int(len(dd.added)))
        earlier_days.append(
            (pd.Timestamp(before.iloc[i]["observed_at"]) - pd.Timestamp(before.iloc[i - 1]["observed_at"]))
            .total_seconds() / 86_400
        )
        ids = snap.sids_to_ids(store, platform, dd.added)
        c = stored_creation_times(store, platform, ids).reset_index(drop=True)
        eg_created.append(c)
        eg_seen.append(pd.Series(pd.Timestamp(before.iloc[i]["observed_at"]), index=c.index))
    remaining = np.intersect1d(
        snap.load_followers(store, old["snapshot_id"]), snap.load_followers(store, new["snapshot_id"]),
        assume_unique=True,
    )
    remaining_ids = snap.sids_to_ids(store, platform, remaining)
    ref = stored_creation_times(store, platform, remaining_ids)
    bots_part = _regain_bot_scores(store, platform, gained_ids.to_pylist(), remaining_ids.to_pylist())
    rep = regain_campaign(
        gained_created=gained_created.reset_index(drop=True),
        gained_seen=pd.Timestamp(after["observed_at"]),
        earlier_gains=earlier_gains,
        earlier_days=earlier_days,
        gain_days=(pd.Timestamp(after["observed_at"]) - t_new).total_seconds() / 86_400,
        earlier_gained_created=pd.concat(eg_created, ignore_index=True) if eg_created else None,
        earlier_gained_seen=pd.concat(eg_seen, ignore_index=True) if eg_seen else None,
        reference_created=ref if ref.notna().any() else None,
        gained_bot_scores=bots_part["gained_scores"],
        reference_bot_scores=bots_part["remaining_scores"],
        bot_threshold=bots_part["threshold"],
    )
    out = rep.to_json()
    out["bot_likeness"] = bots_part["summary"]
    out.update({
        "platform": platform,
        "account_id": account_id,
        "drop": {"from": iso_utc(old["observed_at"]), "to": iso_utc(t_new),
                 "lost": int(len(np.setdiff1d(snap.load_followers(store, old["snapshot_id"]),
                                               snap.load_followers(store, new["snapshot_id"])))) },
        "regain_window": {"from": iso_utc(t_new), "to": iso_utc(after["observed_at"])},
        "snapshots": [old["snapshot_id"], new["snapshot_id"], after["snapshot_id"]],
    })
    return out


def _regain_bot_scores(store: Store, platform: str, gained: list[str], remaining: list[str]) -> dict[str, Any]:
    """Bot-likeness scores of the new followers and of those that stayed (the reference),
    from their latest stored profiles, with the distributions summarised."""
    from purgewatch.analysis.bots import load_model, stored_scores, summarize

    model = load_model()
    g = stored_scores(store, platform, gained, model=model)
    r = stored_scores(store, platform, remaining, model=model)
    t = model.threshold
    return {
        "gained_scores": g.to_numpy(), "remaining_scores": r.to_numpy(), "threshold": t,
        "summary": {"threshold": t, "model": model.meta.get("version"),
                    "gained": {"accounts": len(gained), **summarize(g, threshold=t)},
                    "remaining": {"accounts": len(remaining), **summarize(r, threshold=t)},
                    "genuine_reference": model.meta.get("reference", {}).get("genuine")},
    }
