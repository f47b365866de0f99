"""The pure statistics (analytics/stats.py) against published values, an independent implementation
(scipy, statsmodels, lifelines) and a tiny case worked by hand, as lifelines and statsmodels test
theirs against R."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from lifelines import KaplanMeierFitter
from statsmodels.stats.proportion import proportion_confint

from analytics import stats


@pytest.mark.parametrize("confidence, z", [(0.95, 1.959964), (0.998, 3.090232), (0.90, 1.644854)])
def test_normal_quantile(confidence, z):
    assert stats.normal_quantile(confidence) == pytest.approx(z, abs=1e-6)
    assert stats.normal_quantile(confidence) == pytest.approx(scipy.stats.norm.ppf(0.5 + confidence / 2), rel=1e-12)


# --- t-interval for a mean ---------------------------------------------------------------------

# Student's sleep data (Cushny and Peebles 1905; R's `sleep`, group 1). R: t.test(sleep$extra[1:10])
# prints "95 percent confidence interval: -0.5297804 2.0297804".
SLEEP_GROUP_1 = np.array([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0])


def test_t_interval_matches_r_on_the_sleep_data():
    low, high = stats.t_interval(SLEEP_GROUP_1.mean(), SLEEP_GROUP_1.std(ddof=1), len(SLEEP_GROUP_1))
    assert (float(low), float(high)) == pytest.approx((-0.5297804, 2.0297804), abs=1e-7)


def test_t_interval_matches_scipy_element_by_element():
    means, sds, ns = np.array([5.0, 2.5, 7.0]), np.array([1.0, 0.5, 3.0]), np.array([3, 10, 40])
    low, high = stats.t_interval(means, sds, ns, confidence=0.9)
    expected = scipy.stats.t.interval(0.9, ns - 1, loc=means, scale=sds / np.sqrt(ns))
    np.testing.assert_allclose(low, expected[0], rtol=1e-12)
    np.testing.assert_allclose(high, expected[1], rtol=1e-12)


def test_t_interval_by_hand_and_empty_under_two():
    # Scores 9 and 5: mean 7, sd sqrt(8) = 2.8284, standard error 2.8284 / sqrt(2) = 2,
    # t(0.975, 1 df) = 12.7062 -> 7 -/+ 25.4124 = -18.4124 .. 32.4124. One score: no spread, no interval.
    low, high = stats.t_interval([7.0, 4.0], [np.sqrt(8.0), np.nan], [2, 1])
    assert low[0] == pytest.approx(-18.41241, abs=1e-4) and high[0] == pytest.approx(32.41241, abs=1e-4)
    assert np.isnan(low[1]) and np.isnan(high[1])


# --- Wilson interval for a proportion ------------------------------------------------------------

# Newcombe RG (1998), "Two-sided confidence intervals for the single proportion: comparison of seven
# methods", Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score, no continuity correction).
@pytest.mark.parametrize("successes, trials, low, high", [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_interval_matches_newcombe_1998(successes, trials, low, high):
    found = stats.wilson_interval(successes, trials)
    assert (float(found[0]), float(found[1])) == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_matches_statsmodels():
    successes, trials = np.array([0, 3, 17, 29, 50]), np.array([5, 12, 40, 29, 51])
    low, high = stats.wilson_interval(successes, trials, confidence=0.9)
    expected_low, expected_high = proportion_confint(successes, trials, alpha=0.1, method="wilson")
    np.testing.assert_allclose(low, expected_low, atol=1e-12)
    np.testing.assert_allclose(high, expected_high, atol=1e-12)


def test_wilson_interval_by_hand():
    # 2 of 4, z = 1.96: centre (0.5 + 1.96^2 / 8) / (1 + 1.96^2 / 4) = 0.98020 / 1.96040 = 0.5;
    # half width 1.96 * sqrt(0.25 / 4 + 1.96^2 / 64) / 1.96040 = 1.96 * 0.350036 / 1.96040 = 0.349964
    # (with z = 1.959964: 0.349961) -> 0.150039 .. 0.849961.
    low, high = stats.wilson_interval(2, 4)
    assert (float(low), float(high)) == pytest.approx((0.150039, 0.849961), abs=1e-6)


# --- Kaplan-Meier with the Greenwood band --------------------------------------------------------

# Freireich et al. (1963), remission times in weeks of the 6-MP group (a "*" in print is censored).
# Published in Kleinbaum and Klein, Survival Analysis, and as R's survival::gehan; R:
# survfit(Surv(time, cens) ~ 1, conf.type = "log-log") gives the survival and band below.
SIX_MP_WEEKS = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
SIX_MP_RELAPSED = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
SIX_MP_PUBLISHED = {  # week: (at risk, survival, lower 95%, upper 95%)
    6: (21, 0.857, 0.620, 0.952), 7: (17, 0.807, 0.563, 0.923), 10: (15, 0.753, 0.503, 0.889),
    13: (12, 0.690, 0.432, 0.849), 16: (11, 0.627, 0.368, 0.805), 22: (7, 0.538, 0.268, 0.747),
    23: (6, 0.448, 0.188, 0.680)}


def counts_by_week(weeks, relapsed):
    last = max(weeks)
    events, censored = np.zeros(last), np.zeros(last)
    for week, relapse in zip(weeks, relapsed):
        (events if relapse else censored)[week - 1] += 1
    return events, censored


def test_kaplan_meier_matches_the_published_6mp_curve():
    curve = stats.kaplan_meier(*counts_by_week(SIX_MP_WEEKS, SIX_MP_RELAPSED))
    for week, (at_risk, survival, low, high) in SIX_MP_PUBLISHED.items():
        assert curve["at_risk"][week - 1] == at_risk
        assert curve["survival"][week - 1] == pytest.approx(survival, abs=5e-4)
        assert curve["ci_low"][week - 1] == pytest.approx(low, abs=5e-4)
        assert curve["ci_high"][week - 1] == pytest.approx(high, abs=5e-4)
    # Before the first relapse nobody has relapsed: survival 1 and a band of [1, 1].
    assert curve["survival"][4] == 1 and curve["ci_low"][4] == curve["ci_high"][4] == 1


def test_kaplan_meier_matches_lifelines_at_every_week():
    weeks = [1, 2, 2, 3, 3, 3, 4, 5, 5, 6, 8, 8, 9, 12]
    relapsed = [1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0]
    curve = stats.kaplan_meier(*counts_by_week(weeks, relapsed))
    fitted = KaplanMeierFitter().fit(weeks, relapsed)
    timeline = np.arange(1, max(weeks) + 1)
    np.testing.assert_allclose(curve["survival"], fitted.survival_function_at_times(timeline), atol=1e-12)
    band = fitted.confidence_interval_.reindex(np.r_[0, timeline], method="ffill").iloc[1:]
    np.testing.assert_allclose(curve["ci_low"], band.iloc[:, 0], atol=1e-9)
    np.testing.assert_allclose(curve["ci_high"], band.iloc[:, 1], atol=1e-9)


def test_kaplan_meier_by_hand():
    # Four episodes: one improves at visit 1, one stops at visit 1 without, one improves at visit 2,
    # one stops at visit 2. Visit 1: 4 at risk, 1 event -> S = 3/4. Visit 2: 2 at risk (one improved,
    # one left), 1 event -> S = 3/4 * 1/2 = 3/8. Greenwood at visit 1: 1 / (4 * 3) = 1/12;
    # log S = log 0.75 = -0.28768; spread = 1.959964 * sqrt(1/12) / -0.28768 = -1.96675;
    # low = exp(-exp(log 0.28768 + 1.96675)) = exp(-2.05612) = 0.12796,
    # high = exp(-exp(log 0.28768 - 1.96675)) = exp(-0.04025) = 0.96055.
    curve = stats.kaplan_meier([1, 1], [1, 1])
    np.testing.assert_array_equal(curve["at_risk"], [4, 2])
    np.testing.assert_allclose(curve["survival"], [0.75, 0.375])
    assert curve["ci_low"][0] == pytest.approx(0.12796, abs=1e-4)
    assert curve["ci_high"][0] == pytest.approx(0.96055, abs=1e-4)


# --- Funnel-plot limits -------------------------------------------------------------------------

def test_binomial_limits_by_hand_and_against_scipy():
    # Rate 0.5 with 25 episodes: sd sqrt(0.25 / 25) = 0.1 -> 0.5 -/+ 1.959964 * 0.1 = 0.30400 .. 0.69600.
    low, high = stats.binomial_limits(0.5, [25])
    assert (low[0], high[0]) == pytest.approx((0.304004, 0.695996), abs=1e-6)
    trials = np.array([4, 10, 60])
    for confidence in (0.95, 0.998):
        low, high = stats.binomial_limits(0.3, trials, confidence)
        expected = scipy.stats.norm.interval(confidence, loc=0.3, scale=np.sqrt(0.3 * 0.7 / trials))
        np.testing.assert_allclose(low, np.clip(expected[0], 0, 1), atol=1e-12)
        np.testing.assert_allclose(high, np.clip(expected[1], 0, 1), atol=1e-12)


def test_binomial_limits_stay_within_zero_and_one():
    # Rate 0.9 with 2 episodes: 0.9 + 1.959964 * sqrt(0.09 / 2) = 0.9 + 0.41577 -> clipped to 1.
    low, high = stats.binomial_limits(0.9, [2])
    assert high[0] == 1.0 and low[0] == pytest.approx(0.9 - 0.415771, abs=1e-6)


# --- Observed minus expected -------------------------------------------------------------------

def test_observed_minus_expected_by_hand():
    # Three episodes whose modelled chances are 0.5, 0.5 and 0.8; two responded. Expected 1.8,
    # variance 0.25 + 0.25 + 0.16 = 0.66; difference (2 - 1.8) / 3 = 0.066667; half width
    # 1.959964 * sqrt(0.66) / 3 = 1.959964 * 0.812404 / 3 = 1.592283 / 3 = 0.530761 -> -0.464094 .. 0.597427.
    difference, low, high = stats.observed_minus_expected([2], [1.8], [0.66], [3])
    assert (difference[0], low[0], high[0]) == pytest.approx((0.066667, -0.464094, 0.597427), abs=1e-6)


def test_observed_minus_expected_against_scipy_and_empty_without_cases():
    observed, chances = 14, np.array([0.2, 0.4, 0.6, 0.7, 0.9] * 4)
    expected, variance = chances.sum(), (chances * (1 - chances)).sum()
    difference, low, high = stats.observed_minus_expected([observed, 0], [expected, 0], [variance, 0], [20, 0])
    reference = scipy.stats.norm.interval(0.95, loc=(observed - expected) / 20, scale=np.sqrt(variance) / 20)
    assert difference[0] == pytest.approx((14 - 11.2) / 20)
    assert (low[0], high[0]) == pytest.approx(reference, abs=1e-12)
    assert np.isnan([difference[1], low[1], high[1]]).all()
