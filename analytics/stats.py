"""The statistics behind the metrics, as pure functions on arrays: confidence intervals for a mean
and a proportion, Kaplan-Meier with its Greenwood band, funnel-plot limits and observed minus
expected. No database and no pandas here; tests/test_stats.py holds each against reference values."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import ndtri, stdtrit  # quantiles without importing scipy.stats (slow)

ArrayLike = npt.ArrayLike


def normal_quantile(confidence: float) -> float:
    """The two-sided standard normal quantile for a confidence level.

    Parameters
    ----------
    confidence : float
        Coverage of the interval, between 0 and 1 (0.95 for a 95% interval).

    Returns
    -------
    float
        z such that a standard normal lies within -z..z with probability `confidence`
        (1.959964 for 0.95, 3.090232 for 0.998).
    """
    return float(ndtri(1 - (1 - confidence) / 2))


def t_interval(mean: ArrayLike, sd: ArrayLike, n: ArrayLike,
               confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Student-t confidence interval for a mean, element by element.

    Parameters
    ----------
    mean, sd : array_like
        Sample means and sample standard deviations (ddof=1).
    n : array_like
        Number of observations behind each mean.
    confidence : float, default 0.95
        Coverage of the interval.

    Returns
    -------
    low, high : ndarray
        mean -/+ t(1 - alpha/2, n - 1) * sd / sqrt(n); NaN where n < 2 (no spread to estimate).

    Notes
    -----
    The usual interval for a mean of roughly normal scores; with few observations the t quantile
    is large (12.706 for 2 observations), which is the honest width.

    References
    ----------
    Student (1908), "The probable error of a mean", Biometrika 6(1):1-25.
    Same as scipy.stats.t.interval(confidence, n - 1, loc=mean, scale=sd / sqrt(n)).
    """
    mean, sd, n = (np.asarray(value, dtype=float) for value in (mean, sd, n))
    many = n >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(many, stdtrit(np.maximum(n - 1, 1), 1 - (1 - confidence) / 2), np.nan)
        half_width = t * sd / np.sqrt(n)
    return np.where(many, mean - half_width, np.nan), np.where(many, mean + half_width, np.nan)


def wilson_interval(successes: ArrayLike, trials: ArrayLike,
                    confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score confidence interval for a binomial proportion, element by element.

    Parameters
    ----------
    successes : array_like
        Number of successes (for us: responders).
    trials : array_like
        Number of trials (episodes judged); NaN bounds where it is 0.
    confidence : float, default 0.95
        Coverage of the interval.

    Returns
    -------
    low, high : ndarray
        The interval's bounds, always within 0-1.

    Notes
    -----
    Unlike the normal (Wald) interval it stays inside 0-1 and keeps its coverage for small
    counts and for rates near 0 or 1, which is where small clinics' therapists are.

    References
    ----------
    Wilson EB (1927), "Probable inference, the law of succession, and statistical inference",
    J Am Stat Assoc 22:209-212. Same as statsmodels' proportion_confint(method="wilson").
    """
    successes, trials = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    z = normal_quantile(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = successes / trials
        denominator = 1 + z**2 / trials
        centre = (rate + z**2 / (2 * trials)) / denominator
        half_width = z * np.sqrt(rate * (1 - rate) / trials + z**2 / (4 * trials**2)) / denominator
    return centre - half_width, centre + half_width


def kaplan_meier(events: ArrayLike, censored: ArrayLike,
                 confidence: float = 0.95) -> dict[str, np.ndarray]:
    """Kaplan-Meier survival with the exponential Greenwood ("log-log") confidence band.

    Parameters
    ----------
    events : array_like of int
        Events at each time in order (for us: episodes first improving at visit 1, 2, ...).
    censored : array_like of int
        Observations censored at each time, after that time's events (episodes followed to that
        visit without improving).
    confidence : float, default 0.95
        Coverage of the band.

    Returns
    -------
    dict of ndarray
        at_risk (still followed and without an event at the start of each time), survival
        (estimated share without an event after each time), ci_low and ci_high.

    Notes
    -----
    S(t) = prod(1 - d_i / n_i) over times up to t. The band is built on log(-log S), whose
    variance is Greenwood's sum(d_i / (n_i (n_i - d_i))) / log(S)^2, so it stays inside 0-1.
    Where survival is still 1 the band is [1, 1], as lifelines.KaplanMeierFitter reports it.

    References
    ----------
    Kaplan EL, Meier P (1958), J Am Stat Assoc 53:457-481. Greenwood M (1926), "The natural
    duration of cancer", Reports on Public Health and Medical Subjects 33. Kalbfleisch JD,
    Prentice RL (1980), The Statistical Analysis of Failure Time Data, for the log-log band.
    """
    events, censored = np.asarray(events, dtype=float), np.asarray(censored, dtype=float)
    at_risk = (events + censored)[::-1].cumsum()[::-1]
    z = normal_quantile(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1 - events / at_risk)
        greenwood = np.cumsum(np.where(at_risk > events, events / (at_risk * (at_risk - events)), 0.0))
        log_survival = np.log(survival)
        spread = z * np.sqrt(greenwood) / log_survival
        ci_low = np.exp(-np.exp(np.log(-log_survival) - spread))
        ci_high = np.exp(-np.exp(np.log(-log_survival) + spread))
    # Where survival is still 1, log(-log S) is undefined (0 / 0): the band is [1, 1].
    return {"at_risk": at_risk, "survival": survival,
            "ci_low": np.nan_to_num(ci_low, nan=1.0), "ci_high": np.nan_to_num(ci_high, nan=1.0)}


def binomial_limits(rate: float, trials: ArrayLike,
                    confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Funnel-plot control limits: the range a unit with `trials` cases falls in by chance alone
    if its true rate is `rate`.

    Parameters
    ----------
    rate : float
        The reference rate (for us: the clinic's responder rate).
    trials : array_like
        Numbers of cases (episodes judged) to draw the limits at.
    confidence : float, default 0.95
        Coverage of the limits (0.95 and 0.998 on our funnel plot).

    Returns
    -------
    low, high : ndarray
        rate -/+ z * sqrt(rate (1 - rate) / trials), clipped to 0-1.

    Notes
    -----
    The normal approximation to the binomial. It is a little narrow for very few cases, where
    a unit is anyway "too few to judge".

    References
    ----------
    Spiegelhalter DJ (2005), "Funnel plots for comparing institutional performance",
    Statistics in Medicine 24:1185-1202.
    """
    trials = np.asarray(trials, dtype=float)
    z = normal_quantile(confidence)
    spread = np.sqrt(rate * (1 - rate) / trials)
    return np.clip(rate - z * spread, 0.0, 1.0), np.clip(rate + z * spread, 0.0, 1.0)


def observed_minus_expected(observed: ArrayLike, expected: ArrayLike, variance: ArrayLike, trials: ArrayLike,
                            confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed minus expected rate with its confidence interval (indirect standardisation).

    Parameters
    ----------
    observed : array_like
        Observed successes per unit (responders per therapist).
    expected : array_like
        Expected successes per unit: the sum of each case's modelled chance p_i.
    variance : array_like
        Variance of the successes under the model: the sum of p_i (1 - p_i).
    trials : array_like
        Cases per unit (episodes judged); NaN results where it is 0.
    confidence : float, default 0.95
        Coverage of the interval.

    Returns
    -------
    difference, low, high : ndarray
        (observed - expected) / trials and difference -/+ z * sqrt(variance) / trials.

    Notes
    -----
    Given the case mix, successes are a sum of independent Bernoulli(p_i) trials, so their
    variance is sum p_i (1 - p_i); the interval treats the model's chances as known.

    References
    ----------
    Spiegelhalter DJ (2005), Statistics in Medicine 24:1185-1202, section 3 (indirectly
    standardised ratios and differences).
    """
    observed, expected, variance, trials = (np.asarray(value, dtype=float)
                                            for value in (observed, expected, variance, trials))
    z = normal_quantile(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        cases = np.where(trials > 0, trials, np.nan)
        difference = observed / cases - expected / cases
        half_width = z * np.sqrt(variance) / cases
    return difference, difference - half_width, difference + half_width


def p_chart_limits(successes: ArrayLike, trials: ArrayLike, sigmas: float = 3.0) -> dict[str, np.ndarray]:
    """Shewhart p-chart: a centre line and control limits for a rate measured in periods of
    different sizes.

    Parameters
    ----------
    successes : array_like
        Successes in each period (for us: courses improved, or courses dropped out, per month).
    trials : array_like
        Trials in each period (courses judged that month); a period with 0 gets no limits.
    sigmas : float, default 3.0
        Width of the limits in standard errors (Shewhart's three-sigma limits).

    Returns
    -------
    dict of ndarray
        rate (successes / trials), centre (p̄ = total successes / total trials, the same in every
        period), lower and upper (p̄ -/+ sigmas * sqrt(p̄ (1 - p̄) / trials), clipped to 0-1) and
        outside (True where the rate lies beyond a limit).

    Notes
    -----
    The limits widen for small periods: a month of 9 courses may swing far from p̄ by chance, a
    month of 90 may not. A point outside them is a signal worth looking into, not proof.

    References
    ----------
    Montgomery DC (2009), Introduction to Statistical Quality Control, 6th ed., section 7.3
    (control charts for fraction nonconforming with variable sample size). Mohammed MA,
    Worthington P, Woodall WH (2008), "Plotting basic control charts", Qual Saf Health Care
    17:137-145.
    """
    successes, trials = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    total = trials.sum()
    centre = successes.sum() / total if total > 0 else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(trials > 0, successes / trials, np.nan)
        spread = np.where(trials > 0, sigmas * np.sqrt(centre * (1 - centre) / trials), np.nan)
    lower, upper = np.clip(centre - spread, 0.0, 1.0), np.clip(centre + spread, 0.0, 1.0)
    return {"rate": rate, "centre": np.full(trials.shape, centre), "lower": lower, "upper": upper,
            "outside": (rate < lower) | (rate > upper)}


def c_chart_limits(counts: ArrayLike, sigmas: float = 3.0) -> dict[str, np.ndarray]:
    """Shewhart c-chart: a centre line and control limits for counts per period.

    Parameters
    ----------
    counts : array_like
        The count in each period (for us: new courses per month).
    sigmas : float, default 3.0
        Width of the limits in standard deviations.

    Returns
    -------
    dict of ndarray
        centre (the mean count c̄), lower (c̄ - sigmas * sqrt(c̄), at least 0), upper
        (c̄ + sigmas * sqrt(c̄)) and outside (True where a count lies beyond a limit).

    Notes
    -----
    The count is taken as Poisson, whose variance equals its mean.

    References
    ----------
    Montgomery DC (2009), Introduction to Statistical Quality Control, 6th ed., section 7.3.
    """
    counts = np.asarray(counts, dtype=float)
    centre = counts.mean() if counts.size else np.nan
    spread = sigmas * np.sqrt(centre)
    lower, upper = max(centre - spread, 0.0), centre + spread
    return {"centre": np.full(counts.shape, centre), "lower": np.full(counts.shape, lower),
            "upper": np.full(counts.shape, upper), "outside": (counts < lower) | (counts > upper)}


def difference_limits(variance: float, trials: ArrayLike,
                      confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Funnel-plot control limits for an observed minus expected difference: the range a unit
    with `trials` cases falls in by chance alone if it does exactly as expected.

    Parameters
    ----------
    variance : float
        The variance of one case's outcome around its expectation, averaged over all cases
        (for a share: the mean of p_i (1 - p_i)).
    trials : array_like
        Numbers of cases to draw the limits at.
    confidence : float, default 0.95
        Coverage of the limits (0.95 and 0.998 on our funnel plots).

    Returns
    -------
    low, high : ndarray
        -/+ z * sqrt(variance / trials).

    Notes
    -----
    The same normal approximation as observed_minus_expected's interval, with the clinic's mean
    variance per case in place of a unit's own, so that the limits are one smooth funnel.

    References
    ----------
    Spiegelhalter DJ (2005), Statistics in Medicine 24:1185-1202, section 3.
    """
    trials = np.asarray(trials, dtype=float)
    z = normal_quantile(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = z * np.sqrt(variance / trials)
    return -spread, spread


def _normal_equations(design: np.ndarray, weights: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Solve (X' W X) b = X' W y. The sums are einsum loops, not BLAS: on a busy two-core machine
    OpenBLAS's worker threads made a 1,400 x 14 fit take up to a second instead of milliseconds."""
    gram = np.einsum("ij,i,ik->jk", design, weights, design)
    return np.linalg.solve(gram, np.einsum("ij,i->j", design, weights * target))


def weighted_least_squares(design: ArrayLike, values: ArrayLike, weights: ArrayLike) -> np.ndarray:
    """Weighted least-squares fitted values.

    Parameters
    ----------
    design : array_like, shape (rows, terms)
        The design matrix, of full column rank.
    values : array_like
        The values to fit (for us: a group of alike courses' mean).
    weights : array_like
        Each row's weight (the group's number of courses, so the fit equals one row per course).

    Returns
    -------
    ndarray
        X b for the b minimising sum w_i (y_i - x_i b)^2.

    References
    ----------
    Same as statsmodels' WLS(values, design, weights=weights).fit().fittedvalues.
    """
    design = np.asarray(design, dtype=float)
    values, weights = np.asarray(values, dtype=float), np.asarray(weights, dtype=float)
    return np.einsum("ij,j->i", design, _normal_equations(design, weights, values))


def logistic_fit(design: ArrayLike, successes: ArrayLike, trials: ArrayLike,
                 max_iterations: int = 100, tolerance: float = 1e-10) -> tuple[np.ndarray, bool]:
    """Binomial logistic regression on grouped counts by iteratively reweighted least squares.

    Parameters
    ----------
    design : array_like, shape (rows, terms)
        The design matrix, of full column rank.
    successes, trials : array_like
        Each row's successes out of its trials (for us: a group of alike courses).
    max_iterations : int, default 100
    tolerance : float, default 1e-10
        Converged when no coefficient moves by more than this (relative to its size, or 1).

    Returns
    -------
    fitted : ndarray
        Each row's fitted chance of success.
    converged : bool
        False when the iterations ran out or a linear predictor ran beyond +/-30 (perfect or
        quasi-complete separation: the coefficients run off to infinity); the fit is then unusable.

    Notes
    -----
    Newton-Raphson on the log-likelihood, which for the canonical logit link is IRLS with
    weights n p (1 - p) and working response eta + (y - n p) / (n p (1 - p)). Grouped counts give
    the same estimates as one row per trial.

    References
    ----------
    McCullagh P, Nelder JA (1989), Generalized Linear Models, 2nd ed., section 4.4. Same as
    statsmodels' GLM(np.column_stack([successes, trials - successes]), design,
    family=Binomial()).fit().
    """
    design = np.asarray(design, dtype=float)
    successes, trials = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    rate = (successes + 0.5) / (trials + 1.0)  # a start inside 0-1 wherever a row is all or none
    eta = np.log(rate / (1 - rate))
    coefficients = np.zeros(design.shape[1])
    for _ in range(max_iterations):
        chance = 1 / (1 + np.exp(-eta))
        weights = trials * chance * (1 - chance)
        working = eta + (successes - trials * chance) / np.where(weights > 0, weights, 1.0)
        updated = _normal_equations(design, weights, working)
        eta = np.einsum("ij,j->i", design, updated)
        if not np.isfinite(eta).all() or np.abs(eta).max() > 30:
            return 1 / (1 + np.exp(-np.clip(eta, -30, 30))), False
        moved = np.abs(updated - coefficients).max() <= tolerance * max(1.0, np.abs(updated).max())
        coefficients = updated
        if moved:
            return 1 / (1 + np.exp(-eta)), True
    return 1 / (1 + np.exp(-eta)), False
