"""Therapists compared fairly: observed against expected responder rates given each one's case
mix, and the funnel plot."""
from __future__ import annotations

import hashlib
import hmac
from typing import NamedTuple

import numpy as np
import pandas as pd

from analytics import config, db, stats
from analytics.filters import ALL, Filter
from analytics.metrics.query import (
    documented_columns,
    episodes_cte,
    first_improvement_cte,
    own_cursor,
    plain_value,
    query,
    run,
)
from analytics.metrics.suppression import OTHERS, SUPPRESSED, hidden, suppress

# A case-mix model fitted on too few finished episodes per coefficient describes noise: the
# logistic model needs 10 per coefficient (the usual rule of thumb), the linear fallback 5;
# below that every episode is expected to do as well as the clinic's overall rate.
MIN_EPISODES_PER_TERM_LOGISTIC = 10
MIN_EPISODES_PER_TERM_LINEAR = 5


# What the fair comparison allows for, as columns of an episode_facts row `e`.
CASE_MIX_SQL = {
    "baseline_pain": "e.baseline_pain",
    "course_type": "e.course_type",
    "condition": "e.condition",
    "severity": "coalesce(e.severity, 'unknown')",
    "prior_injuries": "coalesce(e.prior_injuries, 0)",
    "prior_injuries_missing": "e.prior_injuries IS NULL",
}


def _case_mix(cells: pd.DataFrame) -> pd.DataFrame:
    """The case-mix design matrix, one row per group of alike episodes: baseline pain, course
    type, condition, severity ('unknown' when missing), prior injuries (0 when missing, plus a
    missing indicator), keeping only columns that add information (no constant or duplicated
    columns)."""
    design = pd.get_dummies(cells[["course_type", "condition", "severity"]], drop_first=True, dtype=float)
    design.insert(0, "const", 1.0)
    design["baseline_pain"] = cells["baseline_pain"].astype(float)
    design["prior_injuries"] = cells["prior_injuries"].astype(float)
    design["prior_injuries_missing"] = cells["prior_injuries_missing"].astype(float)
    # rank(X[:, S]) == rank(X[:, S]' X[:, S]), and X'X is only columns x columns: cheap to test
    # (summed by einsum, not BLAS, whose threads stall on a busy machine; see stats.logistic_fit).
    values = design.to_numpy()
    gram = np.einsum("ij,ik->jk", values, values)
    tolerance = 1e-14 * np.linalg.norm(gram, 2)  # (1e-7 of the largest singular value of X)^2
    kept: list[int] = []
    for position in range(design.shape[1]):
        chosen = [*kept, position]
        if np.linalg.matrix_rank(gram[np.ix_(chosen, chosen)], tol=tolerance, hermitian=True) == len(chosen):
            kept.append(position)
    return design.iloc[:, kept]


def _expected_responders(cells: pd.DataFrame) -> tuple[np.ndarray, str]:
    """For each group of alike finished episodes (cells: episodes, responders and the case-mix
    columns), the chance of responding given its case mix, and the model used: logistic
    regression; else (too few episodes, perfect separation, no convergence) a linear probability
    model clipped to 0-1; else the overall rate. Fitting on groups with their counts gives the
    same estimates as fitting one row per episode, on far fewer rows. Never raises."""
    trials = cells["episodes"].to_numpy(dtype=float)
    successes = cells["responders"].to_numpy(dtype=float)
    total = trials.sum()
    overall = np.full(len(cells), successes.sum() / total if total else np.nan)
    if total == 0 or successes.sum() in (0, total):
        return overall, "overall rate"
    design = _case_mix(cells).to_numpy()
    if total >= MIN_EPISODES_PER_TERM_LOGISTIC * design.shape[1]:
        with np.errstate(all="ignore"):
            try:
                expected, converged = stats.logistic_fit(design, successes, trials)
            except np.linalg.LinAlgError:
                converged = False
        # Separation or no convergence: the fit is not usable.
        if converged and np.isfinite(expected).all():
            return expected, "logistic"
    if total >= MIN_EPISODES_PER_TERM_LINEAR * design.shape[1]:
        with np.errstate(all="ignore"):
            try:
                expected = np.clip(stats.weighted_least_squares(design, successes / trials, trials), 0.0, 1.0)
            except np.linalg.LinAlgError:
                expected = np.full(len(cells), np.nan)
        if np.isfinite(expected).all():
            return expected, "linear"
    return overall, "overall rate"


def letter_order(key: bytes, therapist_id: str) -> str:
    """Where a colleague comes in the anonymised lettering: a keyed hash (HMAC-SHA256) of the id
    with this database's secret (db.letter_key), so the order cannot be recomputed from the ids."""
    return hmac.new(key, therapist_id.encode(), hashlib.sha256).hexdigest()


def _anonymise(frame: pd.DataFrame, viewer: str | None, key: bytes, everyone: list[str]) -> pd.DataFrame:
    """Mark the viewer's own row and, when a therapist is looking, replace colleagues' ids and
    names by "Therapist A", "Therapist B", ... Letters follow letter_order over `everyone` (every
    therapist stored, not only those the filter finds), not the ids, so they do not hint at who
    is who, and a colleague keeps their letter on every visit and with every filter."""
    frame = frame.copy()
    frame["is_viewer"] = frame["therapist_id"] == viewer if viewer is not None else False
    if viewer is None:
        return frame.sort_values("therapist_id")
    colleagues = sorted((therapist for therapist in everyone if therapist != viewer),
                        key=lambda therapist: letter_order(key, therapist))
    labels = {therapist: f"Therapist {_letters(number)}" for number, therapist in enumerate(colleagues)}
    anonymous = ~frame["is_viewer"]
    frame.loc[anonymous, "therapist_id"] = frame.loc[anonymous, "therapist_id"].map(labels)
    frame.loc[anonymous, "therapist_name"] = frame.loc[anonymous, "therapist_id"]
    # Sorted by the shown label, so the row order does not reveal the ids either.
    return frame.sort_values("therapist_id")


def _letters(number: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, like spreadsheet columns."""
    text = ""
    number += 1
    while number:
        number, remainder = divmod(number - 1, 26)
        text = chr(ord("A") + remainder) + text
    return text


def _visible(table: pd.DataFrame, f: Filter) -> pd.DataFrame:
    """The rows a viewing therapist may see: none when the clinic's model and rate rest on 1-9
    other therapists' judged episodes, else every row but a colleague's resting on 1-9."""
    if hidden(f, table.attrs[OTHERS]):
        kept = table.iloc[0:0].copy()
        kept.attrs[SUPPRESSED] = len(table)
        return kept
    # The rows add up to the clinic's rate on the funnel plot, so a second row may go too.
    return suppress(table.assign(**{OTHERS: table["episodes"].where(~table["is_viewer"], 0)}), f, partition=())


# --- Therapists on the clinic's promise, and the secondary measures ---------------------------

class Outcome(NamedTuple):
    """A measure therapists are compared on. judged and value are SQL on a chosen_episodes_itt
    row `e` (and, when uses_firsts, query.first_improvement_cte's row `i`); above and below are
    the verdicts when the whole 95% interval of observed minus expected is above or below 0."""
    label: str
    kind: str  # "binary": a logistic model of the chance; "continuous": a linear model of the mean
    judged: str
    value: str
    above: str
    below: str
    unit: str
    uses_firsts: bool = False


PRIMARY_OUTCOME = "improved_after_session2_itt"
THERAPIST_OUTCOMES: dict[str, Outcome] = {
    PRIMARY_OUTCOME: Outcome(
        "Improved after the second session (all who started)", "binary", "e.eligible_itt",
        "e.improved_after_session2_itt", "better than expected", "worse than expected", "share"),
    "dropped_before_visit3": Outcome(
        "Dropped out before visit 3", "binary", "e.status <> 'active' AND e.baseline_pain IS NOT NULL",
        "e.is_dropout AND e.visits < $itt_visit",
        "more drop-outs than expected", "fewer drop-outs than expected", "share"),
    "visits_to_improvement": Outcome(
        "Visits to a meaningful improvement", "continuous",
        "e.status <> 'active' AND i.first_improved_visit IS NOT NULL", "i.first_improved_visit",
        "slower than expected", "faster than expected", "visits", uses_firsts=True),
    "sessions_used": Outcome(
        "Sessions used by completed courses", "continuous", "e.status = 'completed' AND e.baseline_pain IS NOT NULL",
        "e.visits", "more sessions than expected", "fewer sessions than expected", "sessions"),
    "sessions_within_range": Outcome(
        "Sessions used against the recommended range (finished courses within it)", "binary",
        "e.status <> 'active' AND e.baseline_pain IS NOT NULL", "e.sessions_vs_range = 'within'",
        "more often within the range than expected", "less often within the range than expected", "share"),
    "improved_at_last_visit": Outcome(
        "Improved by the last visit (finished courses)", "binary", "e.status <> 'active' AND e.has_followup",
        "e.improved_at_last_visit", "better than expected", "worse than expected", "share"),
}
VERDICTS = ("better than expected", "as expected", "worse than expected", "too few to judge")

OUTCOME_COLUMNS = (
    "therapist_id", "therapist_name", "is_viewer", "episodes", "observed", "expected", "difference",
    "ci_low", "ci_high", "z", "funnel_position", "judgement", "model")
OUTCOME_LIMIT_COLUMNS = ("episodes", "lower_95", "upper_95", "lower_998", "upper_998")
FUNNEL_POSITIONS = ("above the 99.8% limit", "above the 95% limit", "inside the limits",
                    "below the 95% limit", "below the 99.8% limit", "too few to judge")
# The table's order: outside the 99.8% limits, then outside the 95% limits, then the rest.
OUTSIDE_FIRST = {FUNNEL_POSITIONS[0]: 0, FUNNEL_POSITIONS[4]: 0, FUNNEL_POSITIONS[1]: 1, FUNNEL_POSITIONS[3]: 1}


class TherapistOutcome(NamedTuple):
    """therapist_outcome's result: one row per therapist, and the funnel's limit lines."""
    therapists: pd.DataFrame
    limits: pd.DataFrame


def _expected_means(cells: pd.DataFrame) -> tuple[np.ndarray, float, str]:
    """For each group of alike courses (cells: episodes, total and squares of the value, and the
    case-mix columns), the expected mean value given its case mix, the residual variance of one
    course around it, and the model used: a linear regression weighted by the cells' counts
    (the same fit as one row per course), else (too few courses) the overall mean."""
    n = cells["episodes"].to_numpy(dtype=float)
    total, squares = cells["total"].to_numpy(dtype=float), cells["squares"].to_numpy(dtype=float)
    courses = n.sum()
    mean = total.sum() / courses if courses else np.nan
    expected, terms, model = np.full(len(cells), mean), 1, "overall mean"
    design = _case_mix(cells) if courses else None
    if design is not None and courses >= MIN_EPISODES_PER_TERM_LINEAR * design.shape[1]:
        expected = stats.weighted_least_squares(design.to_numpy(), total / n, n)
        terms, model = design.shape[1], "linear"
    # Squared distance of every course from its cell's expected value, from the cell's sums.
    residual = (squares - 2 * expected * total + n * expected**2).sum()
    variance = float(residual / (courses - terms)) if courses > terms else np.nan
    return expected, max(variance, 0.0), model


def _outcome_sql(outcome: Outcome, episodes: str, f: Filter) -> str:
    """The CTEs up to `courses`: every chosen course with its therapist, is_judged, the value
    (when judged) and the case-mix columns."""
    firsts = f",{first_improvement_cte(f)}" if outcome.uses_firsts else ""
    join = "LEFT JOIN firsts i ON i.episode_id = e.episode_id" if outcome.uses_firsts else ""
    return f"""
WITH {episodes}{firsts},
courses AS (
    SELECT e.therapist_id, coalesce({outcome.judged}, FALSE) AS is_judged,
        CASE WHEN {outcome.judged} THEN CAST({outcome.value} AS DOUBLE) END AS outcome,
        {', '.join(f"{sql} AS {name}" for name, sql in CASE_MIX_SQL.items())}
    FROM chosen_episodes_itt e {join})"""


def therapist_outcome(con, f: Filter = ALL, outcome: str = PRIMARY_OUTCOME) -> TherapistOutcome:
    """Therapists judged on the clinic's promise (and on five secondary measures), allowing for
    the clients each one sees. The primary outcome (outcome "improved_after_session2_itt") is
    "improved after the second session, all who started": every course with a baseline except
    one still active short of visit 3; improved when the pain before visit 3 meets the
    improvement rule, and a drop-out before visit 3 counts as not improved. Each course is
    attributed to its primary therapist. Its expected chance comes from a logistic regression
    fitted on every therapist's judged courses in the filter, on baseline pain (linear), course
    type, condition, severity (missing as its own category) and prior injuries (linear; missing
    as 0 plus a missing indicator); a linear model or the clinic's overall rate when there are
    too few courses to fit it. The secondary measures, adjusted the same way: "dropped_before_visit3"
    (finished courses with a baseline; dropped out before visit 3, closed early or lost to
    follow-up as in course_outcomes; logistic), "visits_to_improvement"
    (finished courses that reached a meaningful improvement; the first visit at which they did)
    and "sessions_used" (completed courses with a baseline; sessions attended), both with a
    linear model weighted like one row per course; "sessions_within_range" (finished courses
    with a baseline; their sessions attended within the recommended range, 3-5 acute or 8-12
    chronic, against below or above it; logistic) and "improved_at_last_visit" (finished courses
    with a baseline and a later pre-session pain; the last pre-session pain meets the
    improvement rule; logistic). Per therapist in therapists: episodes
    judged, observed (mean: a share for the two yes/no measures), expected (the mean of the
    courses' expected values), difference (observed minus expected) and its 95% interval
    ci_low-ci_high, difference ± 1.96·√(Σ p(1−p))/n for a share (Σ of the residual variance
    for a continuous measure), z (the difference in standard errors), funnel_position ("above"
    or "below the 95%" or "the 99.8% limit", "inside the limits", "too few to judge"), and
    judgement: "too few to judge" under 10 courses, otherwise, when the whole interval is above
    0, "better than expected" for the primary outcome and the last visit ("more drop-outs",
    "slower", "more sessions", "more often within the range than expected" for the others),
    below 0 "worse than expected" ("fewer drop-outs", "faster", "fewer sessions", "less often
    within the range than expected"), else "as expected"; model names the model used.
    Rows: those outside the 99.8% limits first, then outside the 95% limits, then the rest,
    each by name. limits: for every number of courses from 1 to the largest therapist's, the
    range of the difference chance alone gives 95% and 99.8% of the time (0 ± z·√(v/n), v
    the clinic's mean variance per course); columns episodes, lower_95, upper_95, lower_998,
    upper_998. When a therapist is viewing, colleagues appear as "Therapist A", "Therapist B", ...
    and is_viewer marks the viewer's own row; a colleague's row resting on 1-9 judged courses is
    left out for them (with the next smallest colleague too when the rest would give it away),
    and every row when all colleagues together have 1-9 (suppression.py; the limits are then
    empty); choosing therapists in the filter
    picks the rows shown, and the expectation still comes from every therapist's courses."""
    spec = THERAPIST_OUTCOMES[outcome]
    everyone = f.replace(therapists=(), viewer_therapist=None)
    episodes, params = episodes_cte(everyone)
    names = list(CASE_MIX_SQL)
    with own_cursor(con) as cursor:
        cells = query(cursor, f"""{_outcome_sql(spec, episodes, everyone)}
SELECT {', '.join(names)}, count(*) AS episodes, sum(outcome) AS total, sum(outcome * outcome) AS squares
FROM courses WHERE is_judged GROUP BY ALL ORDER BY ALL""", params)  # one order: the same fit in every process
        if spec.kind == "binary":
            chance, model = _expected_responders(cells.rename(columns={"total": "responders"}))
            cells["expected"], cells["variance"] = chance, chance * (1 - chance)
        else:
            cells["expected"], residual_variance, model = _expected_means(cells)
            cells["variance"] = residual_variance
        cursor.register("case_mix_expected", cells[[*names, "expected", "variance"]])
        # fsum (compensated): a parallel sum of doubles adds in whatever order the threads finish,
        # and the figures must not move in the last digit between one run and the next.
        table = query(cursor, f"""{_outcome_sql(spec, episodes, everyone)}
SELECT c.therapist_id, any_value(t.name) AS therapist_name,
    count(*) FILTER (WHERE c.is_judged) AS episodes,
    coalesce(sum(c.outcome) FILTER (WHERE c.is_judged), 0) AS total,
    coalesce(fsum(x.expected) FILTER (WHERE c.is_judged), 0) AS expected_total,
    coalesce(fsum(x.variance) FILTER (WHERE c.is_judged), 0) AS variance
FROM courses c JOIN therapists t ON t.therapist_id = c.therapist_id
LEFT JOIN case_mix_expected x ON {' AND '.join(f"x.{name} IS NOT DISTINCT FROM c.{name}" for name in names)}
GROUP BY c.therapist_id""", params)
    courses = table["episodes"].sum()
    variance_per_course = table["variance"].sum() / courses if courses else np.nan
    if f.therapists:
        table = table[table["therapist_id"].isin(f.therapists)]
    table = _judged(table, spec, model)
    everyone = run(con, "SELECT therapist_id FROM therapists", {})["therapist_id"].tolist()
    table = _anonymise(table.reset_index(drop=True), f.viewer_therapist, db.letter_key(con), everyone)
    table.attrs[OTHERS] = int(table.loc[~table["is_viewer"], "episodes"].sum())
    shown = _visible(table, f)
    order = shown["funnel_position"].map(OUTSIDE_FIRST).fillna(len(OUTSIDE_FIRST))
    shown = shown.assign(order=order).sort_values(["order", "therapist_name", "therapist_id"]).drop(columns="order")
    largest = int(shown["episodes"].max()) if len(shown) and not np.isnan(variance_per_course) else 0
    limits = pd.DataFrame({"episodes": np.arange(1, largest + 1)})
    for name, confidence in (("95", 0.95), ("998", 0.998)):
        limits[f"lower_{name}"], limits[f"upper_{name}"] = stats.difference_limits(
            variance_per_course, limits["episodes"], confidence)
    return TherapistOutcome(documented_columns(shown, OUTCOME_COLUMNS), documented_columns(limits, OUTCOME_LIMIT_COLUMNS))


def _judged(table: pd.DataFrame, spec: Outcome, model: str) -> pd.DataFrame:
    """Observed, expected, difference and its interval, z, funnel position and judgement per row of
    per-therapist sums (episodes, total, expected_total, variance)."""
    table = table.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        judged = table["episodes"].where(table["episodes"] > 0)
        table["observed"] = table["total"] / judged
        table["expected"] = table["expected_total"] / judged
        table["z"] = (table["total"] - table["expected_total"]) / np.sqrt(table["variance"].where(table["variance"] > 0))
    table["difference"], table["ci_low"], table["ci_high"] = stats.observed_minus_expected(
        table["total"], table["expected_total"], table["variance"], table["episodes"])
    too_few = table["episodes"] < config.MIN_EPISODES_TO_JUDGE
    table["judgement"] = np.select([too_few, table["ci_low"] > 0, table["ci_high"] < 0],
                                 ["too few to judge", spec.above, spec.below], "as expected")
    z95, z998 = stats.normal_quantile(0.95), stats.normal_quantile(0.998)
    z = table["z"]
    table["funnel_position"] = np.select(
        [too_few, z > z998, z > z95, z < -z998, z < -z95],
        ["too few to judge", FUNNEL_POSITIONS[0], FUNNEL_POSITIONS[1], FUNNEL_POSITIONS[4], FUNNEL_POSITIONS[3]],
        "inside the limits")
    table["model"] = model
    return table


def therapist_summary(con, f: Filter = ALL) -> dict[str, dict]:
    """The command line's `therapists` figures: for each therapist id (anonymised for a viewing
    therapist as in therapist_outcome), the primary outcome of therapist_outcome:
    episodes_judged, observed, expected, difference, ci_low, ci_high (fractions; None with no
    courses judged) and verdict (the judgement), exactly one of "better than expected", "as expected", "worse
    than expected", "too few to judge"."""
    rows = therapist_outcome(con, f).therapists.sort_values("therapist_id")
    return {row.therapist_id: {
        "episodes_judged": int(row.episodes), **{name: plain_value(getattr(row, name)) for name in (
            "observed", "expected", "difference", "ci_low", "ci_high")},
        "verdict": row.judgement} for row in rows.itertuples()}
