"""Release gates: the verdict on a shadow variant, or an A/B challenger, from the numbers CloudWatch holds.

Pure functions, no AWS call: ``mlops shadow-report`` judges with them, and so will the progressive release's gate
(the same checks, the same thresholds). A verdict is one of

* ``PASS``: the phase has lasted ``min_duration_seconds``, the shadow has answered ``min_requests`` requests,
  and every check holds;
* ``FAIL``: a check fails (at once, before the minimum duration, when the evidence is already conclusive: an
  increase measured over at least ``min_requests`` requests, or, with fewer, an error-rate increase whose
  one-sided Fisher exact test against equal rates is below ``fail_fast_alpha``), or the deadline came with too
  little traffic, or a check still without data, to judge;
* ``WAIT``: not enough time or traffic yet, and nothing conclusive.

Latency is compared per percentile (p50, p99) as a relative increase over production's; error rates (5XX, model
errors, 4XX) as an increase in percentage points, with a two-proportion z-test for significance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import stats
from .rules import ConfigError, Limit, _fmt

#: The error rates compared: key -> CloudWatch metric.
ERROR_METRICS = {"4xx": "Invocation4XXErrors", "5xx": "Invocation5XXErrors", "model": "InvocationModelErrors"}
PERCENTILES = ("p50", "p99")
PASS, FAIL, WAIT = "PASS", "FAIL", "WAIT"


#: The gates' numeric rules: each gate checks itself with them, and the config's release section shows them.
DURATION_SECONDS = Limit(0, None, "seconds")
SAMPLES = Limit(1, None, whole=True)
LATENCY_INCREASE_PCT = Limit(0.01, 1000, "percent")
ERROR_INCREASE_POINTS = Limit(0.01, 100, "percentage points")
AGREEMENT_PCT = Limit(0.01, 100, "percent")
AGREEMENT_TOLERANCE = Limit(0, None)
MARGIN = Limit(0, None)
#: Gate field -> the config key of a release phase that sets it (``ConfigError.under``).
CONFIG_KEYS = {"min_duration_seconds": "min_duration", "max_latency_increase_pct": "max_latency_increase_percent",
               "deadline_seconds": "deadline", "min_agreement_pct": "min_agreement_percent"}


@dataclass(frozen=True)
class Side:
    """One variant's numbers over the window: invocations, latency percentiles (ms) and error counts."""

    invocations: int
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: dict[str, int] = field(default_factory=dict)

    def count(self, key: str) -> int:
        """Errors of a kind, at most the invocations (CloudWatch's windows of two metrics can be misaligned)."""
        return max(0, min(int(self.errors.get(key, 0)), self.invocations))

    def rate_pct(self, key: str) -> float | None:
        return 100 * self.count(key) / self.invocations if self.invocations else None


@dataclass(frozen=True)
class ShadowGate:
    """When a shadow may be promoted. Defaults are a cautious team's: an hour and a thousand requests at least,
    no more than 10 % slower at p50 or p99, no more than half a point more errors, a day to gather the traffic."""

    min_duration_seconds: float = 3600
    min_requests: int = 1000
    max_latency_increase_pct: float = 10.0
    max_error_rate_increase_points: float = 0.5
    deadline_seconds: float = 86400
    alpha: float = 0.05
    fail_fast_alpha: float = 0.001
    #: A check without data (no ModelLatency percentiles, no production traffic) keeps the gate from passing.
    #: ``mlops shadow-report`` turns this off and shows the check as "no data".
    require_every_check: bool = True
    #: Prediction agreement from data capture (``capture.agreement``): at least this share of paired predictions
    #: agree within ``agreement_tolerance``, over at least ``min_agreement_pairs`` pairs; None: not checked.
    min_agreement_pct: float | None = None
    agreement_tolerance: float = 1e-6
    min_agreement_pairs: int = 100

    def __post_init__(self) -> None:
        DURATION_SECONDS.check("min_duration_seconds", self.min_duration_seconds)
        SAMPLES.check("min_requests", self.min_requests)
        LATENCY_INCREASE_PCT.check("max_latency_increase_pct", self.max_latency_increase_pct)
        ERROR_INCREASE_POINTS.check("max_error_rate_increase_points", self.max_error_rate_increase_points)
        if self.min_agreement_pct is not None:
            AGREEMENT_PCT.check("min_agreement_pct", self.min_agreement_pct)
        AGREEMENT_TOLERANCE.check("agreement_tolerance", self.agreement_tolerance)
        SAMPLES.check("min_agreement_pairs", self.min_agreement_pairs)
        _check_window(self.min_duration_seconds, self.deadline_seconds)
        _check_alphas(self.alpha, self.fail_fast_alpha)


@dataclass(frozen=True)
class Check:
    """One comparison: ``status`` is ok, fail or no data; ``conclusive`` marks a failure that needs no more
    traffic to be believed."""

    check: str
    status: str
    detail: str
    value: float | None = None
    p_value: float | None = None
    conclusive: bool = False

    def as_dict(self) -> dict:
        data = {"check": self.check, "status": self.status, "detail": self.detail}
        if self.value is not None:
            data["value"] = self.value
        if self.p_value is not None:
            data["p_value"] = self.p_value
        return data


@dataclass(frozen=True)
class Verdict:
    decision: str
    reason: str
    checks: tuple[Check, ...]


def shadow_checks(production: Side, shadow: Side, gate: ShadowGate, agreement: dict | None = None) -> list[Check]:
    """Latency per percentile and each error rate, shadow against production; with ``gate.min_agreement_pct``,
    the prediction agreement measured from data capture (``agreement``, as ``capture.agreement`` returns it)."""
    checks = []
    enough = shadow.invocations >= gate.min_requests
    for percentile in PERCENTILES:
        base, new = getattr(production, f"{percentile}_ms"), getattr(shadow, f"{percentile}_ms")
        if base is None or new is None or base == 0:
            checks.append(Check(f"latency {percentile}", "no data", "no ModelLatency data"))
            continue
        increase = 100 * (new - base) / base
        failed = increase > gate.max_latency_increase_pct
        checks.append(Check(f"latency {percentile}", "fail" if failed else "ok",
                            f"{increase:+.1f}% (limit +{gate.max_latency_increase_pct:g}%)", round(increase, 2),
                            conclusive=failed and enough))
    for key, metric in ERROR_METRICS.items():
        if not production.invocations or not shadow.invocations:
            checks.append(Check(f"{key} error rate", "no data", "no invocations"))
            continue
        increase = shadow.rate_pct(key) - production.rate_pct(key)
        test = stats.two_proportion_test(production.count(key), production.invocations,
                                         shadow.count(key), shadow.invocations, gate.alpha)
        failed = increase > gate.max_error_rate_increase_points
        checks.append(Check(f"{key} error rate", "fail" if failed else "ok",
                            f"{increase:+.2f} points (limit +{gate.max_error_rate_increase_points:g}; "
                            f"p = {test.p_value:.3g}) [{metric}]", round(increase, 3), test.p_value,
                            conclusive=failed and (enough or _exact_p_greater(
                                shadow.count(key), shadow.invocations, production.count(key),
                                production.invocations) < gate.fail_fast_alpha)))
    if gate.min_agreement_pct is not None:
        checks.append(_agreement_check(agreement, gate))
    return checks


def _agreement_check(agreement: dict | None, gate: ShadowGate) -> Check:
    compared = (agreement or {}).get("compared") or 0
    if compared < gate.min_agreement_pairs:
        return Check("prediction agreement", "no data", f"{compared} of {gate.min_agreement_pairs} paired "
                     "predictions in the captured data")
    share = agreement["agreement_percent"]
    return Check("prediction agreement", "ok" if share >= gate.min_agreement_pct else "fail",
                 f"{share:g}% of {compared} paired predictions agree within {gate.agreement_tolerance:g} (at least "
                 f"{gate.min_agreement_pct:g}%)", share)


def judge_shadow(production: Side, shadow: Side, gate: ShadowGate, elapsed_seconds: float,
                 agreement: dict | None = None) -> Verdict:
    """The gate's verdict after ``elapsed_seconds`` of the phase (see the module docstring); ``agreement`` is the
    captured predictions' agreement when the gate checks it."""
    checks = tuple(shadow_checks(production, shadow, gate, agreement))
    failed = [c for c in checks if c.status == "fail"]
    conclusive = [c for c in failed if c.conclusive]
    if conclusive:
        return Verdict(FAIL, "; ".join(f"{c.check} {c.detail}" for c in conclusive), checks)
    short_of = []
    if elapsed_seconds < gate.min_duration_seconds:
        short_of.append(f"{_duration(gate.min_duration_seconds - elapsed_seconds)} of the minimum duration left")
    if shadow.invocations < gate.min_requests:
        short_of.append(f"{shadow.invocations} of {gate.min_requests} requests")
    if gate.require_every_check:
        short_of += [f"no data for {c.check}" for c in checks if c.status == "no data"]
    if short_of:
        if elapsed_seconds >= gate.deadline_seconds:
            return Verdict(FAIL, f"too little traffic to judge by the deadline ({_duration(gate.deadline_seconds)}): "
                                 + ", ".join(short_of), checks)
        return Verdict(WAIT, ", ".join(short_of), checks)
    if failed:
        return Verdict(FAIL, "; ".join(f"{c.check} {c.detail}" for c in failed), checks)
    return Verdict(PASS, f"{shadow.invocations} requests over {_duration(elapsed_seconds)}, every check within its "
                         "limit", checks)


def _exact_p_greater(errors: int, n: int, base_errors: int, base_n: int) -> float:
    """One-sided Fisher exact test: how likely an error rate at least this far above the baseline's is by chance
    when both variants share one rate."""
    return stats.fisher_exact_greater(errors, n - errors, base_errors, base_n - base_errors)


def _duration(seconds: float) -> str:
    if math.isinf(seconds):
        return "no limit"
    seconds = max(0, math.ceil(seconds))
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds >= 60:
        return f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds % 60 else "")
    return f"{seconds} s"


# ----------------------------------------------------------------------------------------------------- A/B gate
NON_INFERIORITY, SUPERIORITY = "non_inferiority", "superiority"


@dataclass(frozen=True)
class Sample:
    """One variant's business metric over the window: ``rate`` (``successes`` of ``n`` trials) or ``mean``
    (``mean`` and per-observation ``variance`` of ``n`` observations, ``df`` degrees of freedom of the variance,
    as ``stats.batch_means`` gives them)."""

    n: float
    successes: int | None = None
    mean: float | None = None
    variance: float | None = None
    df: float | None = None


@dataclass(frozen=True)
class ABGate:
    """When an A/B challenger may go on to the rollout.

    ``non_inferiority``: the challenger is not worse than the champion by more than ``margin`` (in the metric's
    unit: 0.01 is one point of a rate), at one-sided level ``alpha``; ``superiority``: it is better, at that
    level. Defaults are a cautious team's: a day at least (business metrics swing over a day), 1000 samples per
    variant, a week to decide. ``min_samples`` is the planned sample of a fixed-horizon test: choose it from the
    effect to detect (``stats.required_sample_size_*``)."""

    decision: str = NON_INFERIORITY
    margin: float = 0.01
    lower_is_better: bool = False
    min_duration_seconds: float = 86400
    min_samples: int = 1000
    deadline_seconds: float = 7 * 86400
    alpha: float = 0.05
    fail_fast_alpha: float = 0.001

    def __post_init__(self) -> None:
        if self.decision not in (NON_INFERIORITY, SUPERIORITY):
            raise ConfigError("decision", f"must be {NON_INFERIORITY} or {SUPERIORITY}, got {self.decision!r}")
        MARGIN.check("margin", self.margin)
        SAMPLES.check("min_samples", self.min_samples)
        DURATION_SECONDS.check("min_duration_seconds", self.min_duration_seconds)
        _check_window(self.min_duration_seconds, self.deadline_seconds)
        _check_alphas(self.alpha, self.fail_fast_alpha)


def _check_window(min_duration_seconds: float, deadline_seconds: float) -> None:
    if not min_duration_seconds <= deadline_seconds:
        raise ConfigError("min_duration_seconds", f"must be at most the deadline ({_fmt(deadline_seconds)} s), got "
                          f"{_fmt(min_duration_seconds)}")


def _check_alphas(alpha: float, fail_fast_alpha: float) -> None:
    for name, value in (("alpha", alpha), ("fail_fast_alpha", fail_fast_alpha)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 0.5:
            raise ConfigError(name, f"must be between 0 and 0.5 (one-sided), got {value!r}")


def compare(champion: Sample, challenger: Sample, alpha: float) -> stats.TestResult:
    """The two-sample test ``mlops ab-report`` uses: two proportions for rates, Welch's t for means."""
    if champion.successes is not None and challenger.successes is not None:
        return stats.two_proportion_test(champion.successes, int(champion.n), challenger.successes,
                                         int(challenger.n), alpha)
    if None in (champion.mean, champion.variance, challenger.mean, challenger.variance):
        raise ValueError("each variant needs a rate (successes) or a mean and variance")
    return stats.welch_t_test(champion.mean, champion.variance, champion.n, challenger.mean, challenger.variance,
                              challenger.n, alpha, df_a=champion.df, df_b=challenger.df)


def judge_ab(champion: Sample, challenger: Sample, gate: ABGate, elapsed_seconds: float) -> Verdict:
    """The A/B gate's verdict after ``elapsed_seconds``: a fixed-horizon test. One-sided decisions read a
    two-sided ``1 - 2 alpha`` interval of the difference (challenger - champion), oriented so that "better" is
    positive; the threshold is ``-margin`` (non-inferiority) or 0 (superiority).

    * Before the horizon (``min_duration_seconds`` and ``min_samples`` per variant) the only verdict besides WAIT
      is an early FAIL: the whole ``1 - 2 fail_fast_alpha`` interval below the threshold, with ``min_samples``
      in each variant already (a small sample's interval can have no width at all).
    * At the horizon the verdict is decided once: PASS when the interval's lower end is above the threshold,
      else FAIL (the challenger did not prove itself with the planned sample). Deciding again on every later
      look would pass a challenger at the margin far more often than ``alpha``.
    * The deadline with the horizon not reached (too little traffic) is a FAIL.
    """
    sign = -1.0 if gate.lower_is_better else 1.0
    threshold = -gate.margin if gate.decision == NON_INFERIORITY else 0.0
    name = gate.decision.replace("_", "-")
    n = min(champion.n, challenger.n)
    checks: tuple[Check, ...] = ()
    try:
        at_alpha = compare(champion, challenger, 2 * gate.alpha)
        strict = compare(champion, challenger, 2 * gate.fail_fast_alpha)
    except ValueError as error:  # no trials yet, no variance yet
        detail = f"not enough data for the test ({error})"
    else:
        low = min(sign * at_alpha.ci_low, sign * at_alpha.ci_high)
        strict_high = max(sign * strict.ci_low, sign * strict.ci_high)
        detail = (f"difference {at_alpha.difference:+.4g} ({'lower' if gate.lower_is_better else 'higher'} is "
                  f"better), {100 * (1 - 2 * gate.alpha):g}% interval [{at_alpha.ci_low:+.4g}, "
                  f"{at_alpha.ci_high:+.4g}], {name} threshold {sign * threshold:+.4g}")
        conclusive = strict_high < threshold and n >= gate.min_samples
        checks = (Check(f"{name} ({at_alpha.test})", "ok" if low > threshold else "fail", detail,
                        round(at_alpha.difference, 6), at_alpha.p_value, conclusive=conclusive),)
        if conclusive:
            return Verdict(FAIL, f"the challenger is worse: {detail}", checks)
    short_of = []
    if elapsed_seconds < gate.min_duration_seconds:
        short_of.append(f"{_duration(gate.min_duration_seconds - elapsed_seconds)} of the minimum duration left")
    if n < gate.min_samples:
        short_of.append(f"{n:g} of {gate.min_samples} samples per variant")
    if not short_of and checks:
        return Verdict(PASS if checks[0].status == "ok" else FAIL, detail, checks)
    if elapsed_seconds >= gate.deadline_seconds:
        return Verdict(FAIL, f"too little data by the deadline ({_duration(gate.deadline_seconds)}): "
                             + ", ".join(short_of or [detail]), checks)
    return Verdict(WAIT, ", ".join(short_of or [detail]), checks)
