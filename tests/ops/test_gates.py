"""The release gates' verdicts over a phase, on recorded numbers: the shadow gate (healthy, slower, erroring,
too little traffic) and the A/B gate (non-inferiority and superiority, checked by hand)."""

import math
import re

import pytest

from constructs_lib.ops.gates import (FAIL, PASS, SUPERIORITY, WAIT, ABGate, Sample, ShadowGate, Side, judge_ab,
                                     judge_shadow)

GATE = ShadowGate(min_duration_seconds=3600, min_requests=1000, max_latency_increase_pct=10,
                  max_error_rate_increase_points=0.5, deadline_seconds=6 * 3600)


def side(invocations, p50=20.0, p99=80.0, errors_5xx=0, model=0):
    return Side(invocations, p50, p99, {"4xx": 0, "5xx": errors_5xx, "model": model})


PRODUCTION = side(20_000, errors_5xx=20, model=20)  # 0.1 % each


def test_a_healthy_shadow_waits_for_its_window_then_passes():
    """Recorded every 20 minutes: the shadow keeps up, so the gate waits for the hour and the 1000 requests."""
    series = [(1200, side(400, 20.5, 82)), (2400, side(800, 20.4, 83)), (3600, side(1200, 20.6, 84))]
    verdicts = [judge_shadow(PRODUCTION, shadow, GATE, elapsed) for elapsed, shadow in series]
    assert [v.decision for v in verdicts] == [WAIT, WAIT, PASS]
    assert verdicts[0].reason == "40 min of the minimum duration left, 400 of 1000 requests"
    assert verdicts[2].reason == "1200 requests over 1 h, every check within its limit"


def test_a_slower_shadow_fails_once_its_latency_is_measured_over_enough_requests():
    # 25 % slower at p99: not believed over 300 requests, conclusive over 1000 even before the hour is up.
    early = judge_shadow(PRODUCTION, side(300, 20, 100), GATE, 600)
    assert early.decision == WAIT
    late = judge_shadow(PRODUCTION, side(1000, 20, 100), GATE, 1800)
    assert late.decision == FAIL
    assert late.reason == "latency p99 +25.0% (limit +10%)"


def test_an_erroring_shadow_fails_at_once_when_the_increase_is_significant():
    # 3 % 5XX against production's 0.1 %, over 200 requests: significant long before the window closes.
    verdict = judge_shadow(PRODUCTION, side(200, errors_5xx=6), GATE, 300)
    assert verdict.decision == FAIL
    assert verdict.reason.startswith("5xx error rate +2.90 points (limit +0.5; p = ")
    # One error in 20 requests is over the limit too, but not yet significant: wait for more traffic.
    assert judge_shadow(PRODUCTION, side(20, errors_5xx=1), GATE, 300).decision == WAIT


def test_too_little_traffic_waits_then_fails_at_the_deadline():
    quiet = side(150)
    assert judge_shadow(PRODUCTION, quiet, GATE, 3 * 3600).decision == WAIT
    verdict = judge_shadow(PRODUCTION, quiet, GATE, 6 * 3600)
    assert verdict.decision == FAIL
    assert verdict.reason == "too little traffic to judge by the deadline (6 h): 150 of 1000 requests"


def test_a_check_without_data_keeps_the_gate_from_passing():
    """No ModelLatency percentiles: the release gate cannot call the shadow fast enough, so it waits, and fails at
    the deadline; the report (require_every_check=False) shows the check as "no data" and judges the rest."""
    no_latency = Side(1500, None, None, {"5xx": 0})
    waiting = judge_shadow(PRODUCTION, no_latency, GATE, 4000)
    assert (waiting.decision, waiting.reason) == (WAIT, "no data for latency p50, no data for latency p99")
    assert judge_shadow(PRODUCTION, no_latency, GATE, 6 * 3600).decision == FAIL
    report = ShadowGate(min_duration_seconds=0, min_requests=100, require_every_check=False)
    assert judge_shadow(PRODUCTION, no_latency, report, 4000).decision == PASS


def test_error_counts_above_the_invocations_are_clamped_not_a_crash():
    """CloudWatch's windows of Invocations and of the error metrics can be misaligned by a period."""
    verdict = judge_shadow(PRODUCTION, Side(10, 20, 80, {"5xx": 12}), GATE, 60)
    assert verdict.decision == FAIL and "5xx error rate +99.90 points" in verdict.reason


@pytest.mark.parametrize("elapsed", [0, 3599.5, 10 * 365 * 86400])
def test_a_window_without_a_deadline_never_fails_for_lack_of_traffic(elapsed):
    """``shadow-report`` judges its window with no deadline: too little traffic is WAIT (INSUFFICIENT DATA)."""
    gate = ShadowGate(min_duration_seconds=0, min_requests=100, deadline_seconds=math.inf)
    assert judge_shadow(PRODUCTION, side(40), gate, elapsed).decision == WAIT


# --------------------------------------------------------------------------------------------------- A/B gate
CHAMPION = Sample(20_000, successes=2_000)  # 10 % conversion
CHALLENGER = Sample(2_000, successes=210)  # 10.5 % on a tenth of the traffic
DAY = 86_400


def test_non_inferiority_passes_when_the_interval_clears_the_margin():
    """By hand: difference 0.005, SE = sqrt(.1 x .9 / 20000 + .105 x .895 / 2000) = 0.007176, one-sided 5 %
    bound 0.005 - 1.645 x 0.007176 = -0.0068, above the -0.01 margin: not worse by more than a point."""
    verdict = judge_ab(CHAMPION, CHALLENGER, ABGate(margin=0.01), elapsed_seconds=DAY)
    assert verdict.decision == PASS
    assert verdict.reason == ("difference +0.005 (higher is better), 90% interval [-0.006803, +0.0168], "
                              "non-inferiority threshold -0.01")


def test_at_the_horizon_an_undecided_challenger_fails_once_and_for_all():
    """A fixed-horizon test: at the planned duration and sample the verdict is decided, never WAIT again, because
    looking again and again until the interval happens to clear the margin would pass a challenger at the margin
    far more often than alpha."""
    gate = ABGate(margin=0.005)
    early = judge_ab(CHAMPION, CHALLENGER, gate, elapsed_seconds=3600)
    assert (early.decision, early.reason) == (WAIT, "23 h of the minimum duration left")
    verdict = judge_ab(CHAMPION, CHALLENGER, gate, elapsed_seconds=DAY)
    assert verdict.decision == FAIL and verdict.reason.endswith("non-inferiority threshold -0.005")


def test_too_little_traffic_by_the_deadline_fails():
    few = Sample(400, successes=40)
    assert judge_ab(few, few, ABGate(), elapsed_seconds=6 * DAY).decision == WAIT
    verdict = judge_ab(few, few, ABGate(), elapsed_seconds=7 * DAY)
    assert verdict.decision == FAIL and verdict.reason == (
        "too little data by the deadline (7 d): 400 of 1000 samples per variant")


def test_a_tiny_sample_never_fails_early_on_an_interval_without_width():
    """1 success of 1 against 0 of 1: the Wald interval has no width; that is no evidence."""
    assert judge_ab(Sample(1, successes=1), Sample(1, successes=0), ABGate(), elapsed_seconds=60).decision == WAIT


def test_non_inferiority_where_lower_is_better():
    """Seconds to serve an order: the challenger may be at most 2 s slower."""
    champion = Sample(5_000, mean=120.0, variance=400.0, df=23)
    gate = ABGate(margin=2.0, lower_is_better=True)
    assert judge_ab(champion, Sample(5_000, mean=120.5, variance=400.0, df=23), gate, DAY).decision == PASS
    assert judge_ab(champion, Sample(5_000, mean=126.0, variance=400.0, df=23), gate, DAY).decision == FAIL


@pytest.mark.parametrize("settings, message", [
    ({"decision": "better"}, "decision: must be non_inferiority or superiority, got 'better'"),
    ({"alpha": 0.5}, "alpha: must be between 0 and 0.5 (one-sided), got 0.5"),
    ({"min_duration_seconds": 10 * DAY}, "min_duration_seconds: must be at most the deadline (604800 s), got 864000"),
    ({"margin": -0.1}, "margin: must be at least 0, got -0.1"),
    ({"min_samples": True}, "min_samples: must be a whole number, got true"),
])
def test_a_gate_with_impossible_settings_is_refused(settings, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ABGate(**settings)


@pytest.mark.parametrize("settings, message", [
    ({"max_latency_increase_pct": 0}, "max_latency_increase_pct: must be between 0.01 and 1000 percent, got 0"),
    ({"min_requests": 0}, "min_requests: must be at least 1, got 0"),
    ({"min_agreement_pct": 101}, "min_agreement_pct: must be between 0.01 and 100 percent, got 101"),
    ({"min_duration_seconds": 7200, "deadline_seconds": 3600},
     "min_duration_seconds: must be at most the deadline (3600 s), got 7200"),
])
def test_a_shadow_gate_with_impossible_settings_is_refused(settings, message):
    """The shadow gate checks itself too (it used to take any number): the same rules the config shows."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ShadowGate(**settings)


def test_a_clearly_worse_challenger_fails_before_its_window_closes():
    verdict = judge_ab(CHAMPION, Sample(2_000, successes=100), ABGate(), elapsed_seconds=3600)  # 5 % vs 10 %
    assert verdict.decision == FAIL and verdict.reason.startswith("the challenger is worse: difference -0.05")


def test_the_window_and_the_samples_come_before_a_pass():
    assert judge_ab(CHAMPION, CHALLENGER, ABGate(), elapsed_seconds=3600).reason == \
        "23 h of the minimum duration left"
    few = judge_ab(Sample(500, successes=50), Sample(500, successes=52), ABGate(margin=0.2), elapsed_seconds=DAY)
    assert (few.decision, few.reason) == (WAIT, "500 of 1000 samples per variant")


def test_superiority_on_a_mean_where_lower_is_better():
    """Order handling time in seconds (lower is better), batch-means variances: the challenger is 4 s faster
    with a tight interval, so it is better at 5 %; the same numbers the other way round fail conclusively."""
    champion = Sample(5_000, mean=120.0, variance=400.0, df=23)
    faster = Sample(5_000, mean=116.0, variance=400.0, df=23)
    gate = ABGate(decision=SUPERIORITY, lower_is_better=True)
    assert judge_ab(champion, faster, gate, elapsed_seconds=DAY).decision == PASS
    assert judge_ab(faster, champion, gate, elapsed_seconds=DAY).decision == FAIL


def test_no_data_waits_and_is_a_failure_at_the_deadline():
    empty = Sample(0, successes=0)
    assert judge_ab(empty, empty, ABGate(), elapsed_seconds=DAY).decision == WAIT
    assert judge_ab(empty, empty, ABGate(), elapsed_seconds=8 * DAY).decision == FAIL


def test_a_shadow_that_disagrees_fails_and_one_without_pairs_waits():
    """Prediction agreement from data capture, when the gate checks it: 90 % within 0.05, over 100 pairs."""
    gate = ShadowGate(min_duration_seconds=3600, min_requests=1000, deadline_seconds=6 * 3600, min_agreement_pct=90,
                      agreement_tolerance=0.05, min_agreement_pairs=100)
    healthy = side(1200, 20.5, 82)
    agreeing = {"compared": 240, "agreement_percent": 96.25}
    disagreeing = {"compared": 240, "agreement_percent": 71.67}
    assert judge_shadow(PRODUCTION, healthy, gate, 3600, agreeing).decision == PASS
    failed = judge_shadow(PRODUCTION, healthy, gate, 3600, disagreeing)
    assert (failed.decision, failed.reason) == (FAIL, "prediction agreement 71.67% of 240 paired predictions agree "
                                                      "within 0.05 (at least 90%)")
    few = judge_shadow(PRODUCTION, healthy, gate, 3600, {"compared": 40, "agreement_percent": 100.0})
    assert (few.decision, few.reason) == (WAIT, "no data for prediction agreement")
    assert judge_shadow(PRODUCTION, healthy, gate, 6 * 3600, None).decision == FAIL  # no capture by the deadline
    # Not asked for: no such check at all.
    assert "prediction agreement" not in [c.check for c in judge_shadow(PRODUCTION, healthy, GATE, 3600).checks]
