"""Bot-likeness: a trained, calibrated model over profile features (docs/bots.md).

    from purgewatch.analysis import bots
    model = bots.load_model()                    # the shipped model (or --model / env)
    p = model.score(profiles)                     # probability of "bot", 0..1, per row
    answer = bots.score_answer(bots.read_profiles("users.jsonl"))

Features follow BotometerLite (Yang et al., AAAI 2020): counts, rates per day of age at
observation, ratios, handle / name / bio statistics, default-image and default-profile
flags (``FEATURES`` says which platform gives each). The model is a gradient-boosted tree
ensemble with isotonic calibration trained by ``python -m purgewatch.analysis.bots.train``
on public labelled sets; it ships as JSON and scores with numpy alone.
"""

from __future__ import annotations

from purgewatch.analysis.bots._data import (
    LABELLED_SETS,
    load_labelled,
    read_labelled_file,
    read_profiles,
)
from purgewatch.analysis.bots._features import (
    FEATURE_NAMES,
    FEATURES,
    Feature,
    feature_frame,
    feature_matrix,
    scorable,
)
from purgewatch.analysis.bots._model import ENV_MODEL, SHIPPED_MODEL, BotModel, load_model
from purgewatch.analysis.bots._score import (
    compare_shares,
    has_profile_reads,
    latest_profiles,
    score_answer,
    stored_scores,
    summarize,
)

__all__ = [
    "ENV_MODEL", "FEATURES", "FEATURE_NAMES", "LABELLED_SETS", "SHIPPED_MODEL", "BotModel", "Feature",
    "compare_shares", "feature_frame", "feature_matrix", "has_profile_reads", "latest_profiles", "load_labelled",
    "load_model", "read_labelled_file", "read_profiles", "score_answer", "scorable", "stored_scores", "summarize",
]
