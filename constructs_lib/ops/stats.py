"""Significance tests and sample sizes for A/B and shadow reports, in plain functions (no boto3, no AWS).

Conventions: group ``a`` is the champion (baseline), group ``b`` the challenger; every difference is
``b - a`` and the relative lift is ``(b - a) / a``. Tests are two-sided.

The distributions are computed here with the standard library (the normal from ``math.erfc`` and
``statistics.NormalDist``, Student's t from the regularized incomplete beta function, Fisher's exact test from
hypergeometric terms): the release gate runs this code in a Lambda function, whose runtime has no scipy, and the
``mlops`` command starts without loading scipy's ~0.6 s of modules. The tests check every one against scipy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

DEFAULT_POWER = 0.8
_NORMAL = NormalDist()


# ------------------------------------------------------------------------------------------- distributions
def normal_sf(x: float) -> float:
    """P(Z > x) for a standard normal Z, accurate far into the tail (``erfc``, not ``1 - cdf``)."""
    return 0.5 * math.erfc(x / math.sqrt(2))


def normal_ppf(p: float) -> float:
    """The standard normal quantile of ``p`` (0 < p < 1)."""
    return _NORMAL.inv_cdf(p)


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes 6.4)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom (any positive real ``df``, as Welch's gives).
    Beyond 1e7 degrees of freedom the beta function's log-gammas would cancel: the normal tail with the first
    term of the t's expansion in 1/df, ``phi(t) (t^3 + t) / (4 df)``, is exact to O(1/df^2) there."""
    if not df > 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if df > 1e7:
        return normal_sf(t) + _NORMAL.pdf(t) * (t ** 3 + t) / (4 * df)
    tail = 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1 - tail


def t_ppf(p: float, df: float) -> float:
    """The quantile of Student's t for ``0.5 <= p < 1`` (the upper quantiles intervals need), by bisection."""
    if not 0.5 <= p < 1:
        raise ValueError(f"t_ppf needs 0.5 <= p < 1, got {p}")
    if p == 0.5:
        return 0.0
    low, high = 0.0, max(1.0, normal_ppf(p))
    while t_sf(high, df) > 1 - p:
        low, high = high, high * 2
    for _ in range(200):
        middle = (low + high) / 2
        if t_sf(middle, df) > 1 - p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact_greater(a: int, b: int, c: int, d: int) -> float:
    """One-sided Fisher exact test of the table [[a, b], [c, d]]: the probability, with the margins fixed and no
    association, of a top-left count of ``a`` or more (scipy's ``fisher_exact(..., alternative="greater")``)."""
    if min(a, b, c, d) < 0:
        raise ValueError(f"a contingency table holds counts, got {[[a, b], [c, d]]}")
    row, column, total = a + b, a + c, a + b + c + d
    denominator = _log_comb(total, row)
    terms = [math.exp(_log_comb(column, k) + _log_comb(total - column, row - k) - denominator)
             for k in range(a, min(row, column) + 1)]
    return min(1.0, math.fsum(terms))


@dataclass(frozen=True)
class TestResult:
    """The outcome of a two-sample comparison.

    ``difference`` is ``estimate_b - estimate_a`` with its ``1 - alpha`` confidence interval
    (``ci_low``, ``ci_high``); ``relative_lift`` is the difference over the baseline (None when the baseline
    is 0) with the interval scaled the same way (the baseline is treated as known, an approximation);
    ``statistic`` is z or t; ``df`` is None for a z-test.
    """

    test: str
    estimate_a: float
    estimate_b: float
    difference: float
    ci_low: float
    ci_high: float
    relative_lift: float | None
    lift_ci_low: float | None
    lift_ci_high: float | None
    statistic: float
    p_value: float
    alpha: float
    df: float | None = None

    @property
    def significant(self) -> bool:
        """True when the p-value is below ``alpha``."""
        return self.p_value < self.alpha

    def as_dict(self) -> dict:
        """Plain dict (for ``--json``), including ``significant``."""
        return {**asdict(self), "significant": self.significant}


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha}")


def _lift(difference: float, low: float, high: float, baseline: float) -> tuple[float | None, ...]:
    if baseline == 0:
        return None, None, None
    return difference / baseline, low / abs(baseline), high / abs(baseline)


def two_proportion_test(successes_a: int, n_a: int, successes_b: int, n_b: int,
                        alpha: float = 0.05) -> TestResult:
    """Two-proportion z-test of ``successes_b / n_b`` against ``successes_a / n_a``.

    The statistic uses the pooled proportion (the null hypothesis says both rates are equal); the confidence
    interval of the difference uses the unpooled (Wald) standard error, as textbooks do.
    """
    _check_alpha(alpha)
    for name, successes, n in (("a", successes_a, n_a), ("b", successes_b, n_b)):
        if n <= 0:
            raise ValueError(f"group {name} needs at least one trial, got {n}")
        if not 0 <= successes <= n:
            raise ValueError(f"group {name}: successes must be between 0 and {n} trials, got {successes}")
    p_a, p_b = successes_a / n_a, successes_b / n_b
    difference = p_b - p_a
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se_null = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se_null == 0:
        z, p_value = 0.0, 1.0  # both rates 0% or both 100%: no evidence of a difference
    else:
        z = difference / se_null
        p_value = 2 * normal_sf(abs(z))
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    margin = normal_ppf(1 - alpha / 2) * se
    low, high = difference - margin, difference + margin
    lift, lift_low, lift_high = _lift(difference, low, high, p_a)
    return TestResult("two-proportion z-test", p_a, p_b, difference, low, high, lift, lift_low, lift_high,
                      z, p_value, alpha)


def welch_t_test(mean_a: float, var_a: float, n_a: float, mean_b: float, var_b: float, n_b: float,
                 alpha: float = 0.05, df_a: float | None = None, df_b: float | None = None) -> TestResult:
    """Welch's unequal-variance t-test from summary statistics, with Welch-Satterthwaite degrees of freedom.

    ``var_*`` are sample variances (n - 1 denominators). ``df_*`` are the degrees of freedom of each variance
    estimate; they default to ``n - 1`` and are smaller when the variance comes from batch means
    (see :func:`batch_means`).
    """
    _check_alpha(alpha)
    df_a = n_a - 1 if df_a is None else df_a
    df_b = n_b - 1 if df_b is None else df_b
    if df_a < 1 or df_b < 1:
        raise ValueError(f"each group needs at least 2 observations (1 degree of freedom), got {df_a} and {df_b}")
    if var_a < 0 or var_b < 0:
        raise ValueError(f"variances cannot be negative, got {var_a} and {var_b}")
    w_a, w_b = var_a / n_a, var_b / n_b
    se = math.sqrt(w_a + w_b)
    difference = mean_b - mean_a
    if se == 0:
        raise ValueError("both groups have zero variance: the t-test is undefined")
    df = (w_a + w_b) ** 2 / (w_a ** 2 / df_a + w_b ** 2 / df_b)
    t = difference / se
    p_value = 2 * t_sf(abs(t), df)
    margin = t_ppf(1 - alpha / 2, df) * se
    low, high = difference - margin, difference + margin
    lift, lift_low, lift_high = _lift(difference, low, high, mean_a)
    return TestResult("Welch's t-test", mean_a, mean_b, difference, low, high, lift, lift_low, lift_high,
                      t, p_value, alpha, df)


@dataclass(frozen=True)
class BatchMeans:
    """Mean and per-observation variance of a metric known only through per-period counts and sums."""

    n: float
    mean: float
    variance: float
    df: int


def batch_means(counts: list[float], sums: list[float]) -> BatchMeans:
    """Estimate a metric's mean and per-observation variance from per-period ``SampleCount`` and ``Sum``.

    CloudWatch keeps no sum of squares, so the variance comes from how the period means scatter around the
    overall mean (the method of batch means): with ``m_i`` observations and mean ``x_i`` in period ``i``,
    ``sigma^2 = sum(m_i (x_i - x)^2) / (k - 1)`` is unbiased for i.i.d. observations, with ``k - 1`` degrees
    of freedom. Differences between periods (time of day) inflate it, which makes the test conservative.
    """
    pairs = [(float(c), float(s)) for c, s in zip(counts, sums) if c and c > 0]
    if len(pairs) < 2:
        raise ValueError(f"need at least 2 periods with data to estimate a variance, got {len(pairs)}")
    n = sum(c for c, _ in pairs)
    mean = sum(s for _, s in pairs) / n
    variance = sum(c * (s / c - mean) ** 2 for c, s in pairs) / (len(pairs) - 1)
    return BatchMeans(n=n, mean=mean, variance=variance, df=len(pairs) - 1)


def required_sample_size_proportions(p_a: float, p_b: float, alpha: float = 0.05,
                                     power: float = DEFAULT_POWER) -> int | None:
    """Observations per group for a two-sided two-proportion test to detect ``p_a`` vs ``p_b`` with ``power``.

    Fleiss' formula without continuity correction (Fleiss, *Statistical Methods for Rates and Proportions*,
    2nd ed., 1981, chapter 3). None when the rates are equal (no difference to detect).
    """
    _check_alpha(alpha)
    if p_a == p_b:
        return None
    z_a = normal_ppf(1 - alpha / 2)
    z_b = normal_ppf(power)
    p_bar = (p_a + p_b) / 2
    root = z_a * math.sqrt(2 * p_bar * (1 - p_bar)) + z_b * math.sqrt(p_a * (1 - p_a) + p_b * (1 - p_b))
    return math.ceil(root ** 2 / (p_b - p_a) ** 2)


def required_sample_size_means(difference: float, sd_a: float, sd_b: float | None = None, alpha: float = 0.05,
                               power: float = DEFAULT_POWER) -> int | None:
    """Observations per group for a two-sided two-sample t-test to detect ``difference`` with ``power``.

    Normal approximation ``(z_a + z_b)^2 (sd_a^2 + sd_b^2) / difference^2`` plus Guenther's ``z_a^2 / 4``
    correction for estimating the variance (which reproduces the t-based tables, e.g. Cohen's 64 per group
    for d = 0.5). None when the difference is 0.
    """
    _check_alpha(alpha)
    if difference == 0:
        return None
    sd_b = sd_a if sd_b is None else sd_b
    z_a = normal_ppf(1 - alpha / 2)
    z_b = normal_ppf(power)
    n = (z_a + z_b) ** 2 * (sd_a ** 2 + sd_b ** 2) / difference ** 2 + z_a ** 2 / 4
    return math.ceil(n)
