"""The interval a pass rate (or any share) is given with, in the daily report and the checks:
a small sample's rate says little, and its interval says how little."""

import math
from statistics import NormalDist

Z_975 = NormalDist().inv_cdf(0.975)


def wilson_interval(passed: int, attempts: int) -> tuple[float, float]:
    """The 95% Wilson score interval of `passed` out of `attempts`, the closed
    form scipy's `binomtest(...).proportion_ci(method="wilson")` computes: importing
    scipy.stats for it would cost the daily report most of a second."""
    p, z = passed / attempts, Z_975
    z2n = z * z / attempts
    center = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / attempts + z2n / (4 * attempts))
    # exact at the ends: rounding left 0 of 10 from 2.8e-17 and 15 of 15 to 0.9999999999999999,
    # an interval that missed its own rate (the chart's error bar came out negative)
    low = 0.0 if passed == 0 else min(p, max(0.0, center - half))
    high = 1.0 if passed == attempts else max(p, min(1.0, center + half))
    return low, high
