"""The A/B statistics against published textbook values (sources cited per test)."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy.stats import norm

from constructs_lib.ops import stats


def test_two_proportion_z_matches_hyperstat_worked_example():
    # D. M. Lane, HyperStat Online (Rice University), "Tests of Differences between Proportions": early
    # childhood intervention, 73 of 85 graduated vs 43 of 82 in the control group: z = 4.69, p < 0.0001.
    result = stats.two_proportion_test(43, 82, 73, 85)
    assert result.statistic == pytest.approx(4.69, abs=0.005)
    assert result.p_value < 0.0001
    assert result.significant
    assert result.ci_low > 0  # the interval of a significant difference excludes 0


def test_welch_matches_wikipedia_example_1():
    # Wikipedia, "Welch's t-test", Examples (example 1, equal sizes): t = -2.46, nu = 24.99, p = 0.021
    # (sample 1 minus sample 2; our difference is b - a, so a is sample 2 here).
    a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    result = stats.welch_t_test(statistics.mean(a2), statistics.variance(a2), len(a2),
                                statistics.mean(a1), statistics.variance(a1), len(a1))
    assert result.statistic == pytest.approx(-2.46, abs=0.005)
    assert result.df == pytest.approx(24.99, abs=0.005)
    assert result.p_value == pytest.approx(0.021, abs=0.0005)
    assert result.ci_high < 0


def test_welch_matches_nist_car_mileage_example():
    # NIST/SEMATECH e-Handbook of Statistical Methods, 1.3.5.3 Two-Sample t-Test (AUTO83B: US cars N=249,
    # mean 20.14458, sd 6.41470; Japanese cars N=79, mean 30.48101, sd 6.10771); unequal-variance results
    # as published in the Boost.Math worked example on that data: T = -12.94627, df = 136.87499, p = 1.571e-25.
    result = stats.welch_t_test(30.48101, 6.10771 ** 2, 79, 20.14458, 6.41470 ** 2, 249)
    assert result.statistic == pytest.approx(-12.94627, abs=5e-5)
    assert result.df == pytest.approx(136.87499, abs=5e-4)
    assert result.p_value == pytest.approx(1.571e-25, rel=1e-3)
    assert result.relative_lift == pytest.approx(20.14458 / 30.48101 - 1)


@pytest.mark.parametrize("d, n", [(0.5, 64), (0.8, 26)])
def test_sample_size_for_means_matches_cohen_table(d, n):
    # J. Cohen, Statistical Power Analysis for the Behavioral Sciences (2nd ed., 1988), Table 2.4.1:
    # two-sided alpha 0.05, power 0.80: n = 64 per group for d = 0.5 and 26 for d = 0.8.
    assert stats.required_sample_size_means(d, 1.0) == n


def test_sample_size_for_proportions_by_hand_and_power():
    # By hand (Fleiss, no continuity correction): p = 0.20 vs 0.25, p_bar = 0.225;
    # 1.95996 * sqrt(2 * 0.225 * 0.775) = 1.15746; 0.84162 * sqrt(0.16 + 0.1875) = 0.49613;
    # (1.65359)^2 / 0.05^2 = 1093.7 -> 1094 per group.
    n = stats.required_sample_size_proportions(0.20, 0.25)
    assert n == 1094

    def power(size):  # the same normal approximation, solved for power
        z_a, p_bar = norm.ppf(0.975), 0.225
        spread = math.sqrt(0.2 * 0.8 + 0.25 * 0.75)
        return norm.cdf((0.05 * math.sqrt(size) - z_a * math.sqrt(2 * p_bar * (1 - p_bar))) / spread)

    assert power(n) >= 0.8 > power(n - 1)
    assert stats.required_sample_size_proportions(0.3, 0.3) is None
    assert stats.required_sample_size_means(0.0, 1.0) is None


def test_batch_means_recovers_the_observation_variance():
    # One observation per period: the plain sample variance of [1, 2, 3] (= 1) with 2 degrees of freedom.
    single = stats.batch_means([1, 1, 1], [1, 2, 3])
    assert (single.n, single.mean, single.variance, single.df) == (3, 2.0, 1.0, 2)
    # Unequal periods (2 observations with mean 1, 4 with mean 3, one empty period ignored): overall mean 14/6,
    # variance sum(m_i (x_i - x)^2) / (k - 1) with k - 1 = 1.
    unequal = stats.batch_means([2, 4, 0], [2, 12, 0])
    mean = 14 / 6
    assert unequal.mean == pytest.approx(mean)
    assert unequal.variance == pytest.approx(2 * (1 - mean) ** 2 + 4 * (3 - mean) ** 2)
    assert unequal.df == 1


@pytest.mark.parametrize("call, message", [
    (lambda: stats.two_proportion_test(5, 0, 1, 10), "group a needs at least one trial, got 0"),
    (lambda: stats.two_proportion_test(11, 10, 1, 10), "group a: successes must be between 0 and 10 trials, got 11"),
    (lambda: stats.two_proportion_test(1, 10, 1, 10, alpha=1.5), "alpha must be between 0 and 1"),
    (lambda: stats.welch_t_test(1, 1, 1, 2, 1, 10), "each group needs at least 2 observations"),
    (lambda: stats.welch_t_test(1, 0, 5, 2, 0, 5), "both groups have zero variance"),
    (lambda: stats.batch_means([5], [10]), "need at least 2 periods with data"),
])
def test_bad_inputs_are_rejected(call, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        call()


def test_equal_rates_at_the_extremes_are_not_significant():
    result = stats.two_proportion_test(0, 100, 0, 50)
    assert (result.statistic, result.p_value, result.significant) == (0.0, 1.0, False)
    assert result.relative_lift is None


def test_the_standard_library_distributions_match_scipy():
    """The gate runs in a Lambda function without scipy: the normal, Student's t and Fisher's exact test are
    computed with the standard library, checked here against scipy over a grid (tails and fractional df
    included)."""
    from scipy import stats as scipy_stats

    for df in (0.3, 1, 1.5, 2, 3, 7.3, 23, 120, 5000, 1e9):
        for t in (-8, -2.5, -0.3, 0, 0.7, 1.96, 4, 12, 1e4):
            assert stats.t_sf(t, df) == pytest.approx(scipy_stats.t.sf(t, df), rel=1e-9, abs=1e-300)
        for p in (0.5, 0.8, 0.95, 0.975, 0.999, 0.99995):
            assert stats.t_ppf(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-7)
    for x in (-6, -1, 0, 1.5, 5, 9):
        assert stats.normal_sf(x) == pytest.approx(scipy_stats.norm.sf(x), rel=1e-12)
    for p in (1e-6, 0.025, 0.5, 0.8, 0.975, 1 - 1e-6):
        assert stats.normal_ppf(p) == pytest.approx(scipy_stats.norm.ppf(p), rel=1e-12, abs=1e-12)
    for table in ([[1, 19], [20, 19_980]], [[6, 194], [20, 19_980]], [[0, 50], [3, 97]], [[30, 70], [30, 70]],
                  [[12, 1_988], [150, 19_850]]):
        (a, b), (c, d) = table
        expected = scipy_stats.fisher_exact(table, alternative="greater").pvalue
        assert stats.fisher_exact_greater(a, b, c, d) == pytest.approx(expected, rel=1e-9)
    assert stats.t_ppf(0.5, 7) == 0.0
    with pytest.raises(ValueError, match="degrees of freedom must be positive"):
        stats.t_sf(1.0, 0)
    with pytest.raises(ValueError, match="a contingency table holds counts"):
        stats.fisher_exact_greater(3, -1, 2, 5)
