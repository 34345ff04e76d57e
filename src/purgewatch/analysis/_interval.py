"""The Wilson score interval, in plain Python.

``statsmodels.stats.proportion.proportion_confint(k, n, method="wilson")`` gives the same
numbers, but importing it loads SciPy's statistics (about 0.6 s of a fresh process), and
``purgewatch explain`` needs one interval per answer. The arithmetic below is statsmodels'
own, operation for operation (IEEE double, correctly rounded ``sqrt``), so the bounds are
equal to the last bit; tests/test_explain.py checks that against statsmodels.
"""

from __future__ import annotations

import math

# scipy.stats.norm.isf(0.025): the two-sided 95% critical value statsmodels uses.
Z_95 = 1.9599639845400545


def wilson_interval(count: int, n: int) -> tuple[float, float]:
    """Two-sided 95% Wilson interval of ``count`` successes in ``n`` > 0 trials."""
    q = count / n
    crit2 = Z_95**2
    denom = 1 + crit2 / n
    center = (q + crit2 / (2 * n)) / denom
    dist = Z_95 * math.sqrt(q * (1.0 - q) / n + crit2 / (4.0 * n**2))
    dist /= denom
    return min(max(center - dist, 0.0), 1.0), min(max(center + dist, 0.0), 1.0)
