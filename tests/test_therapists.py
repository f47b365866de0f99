"""Therapists judged on the clinic's promise (metrics.therapist_outcome): hand-checked cases, the
interval worked by hand, the secondary measures, viewers' anonymity and suppression, the command
line's `therapists` key, and the sample clinic's planted therapist differences recovered where a
raw comparison misses them."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from analytics import __main__ as cli
from analytics import config, db, metrics, sample, stats, visit_log
from analytics.filters import Filter
from conftest import visit

IMPROVED, NOT_IMPROVED = [8, 8, 2], [8, 8, 8]  # pain before visits 1-3: 6 points (75%) down, or none


def courses(prefix: str, therapist: str, improved: int, count: int, visits: int = 3, **extra) -> list[dict]:
    """`count` courses of `visits` weekly visits from 2025-01-06; the first `improved` meet the rule
    at visit 3. Extra visits keep the visit-3 pain."""
    rows = []
    for number in range(count):
        pains = (IMPROVED if number < improved else NOT_IMPROVED)[:visits] + [2 if number < improved else 8] * (visits - 3)
        for visit_number, pain in enumerate(pains, start=1):
            date = (dt.date(2025, 1, 6) + dt.timedelta(weeks=visit_number - 1)).isoformat()
            rows.append(visit(f"{prefix}{number}", visit_number, date, pain, pain, therapist_id=therapist, **extra))
    return rows


def by_id(result) -> pd.DataFrame:
    return result.therapists.set_index("therapist_id")


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    """Every course below ended long before this day, so none is active."""
    monkeypatch.setattr(config, "today", lambda: dt.date(2025, 12, 31))


# --- hand-checked cases ----------------------------------------------------------------------

def test_identical_case_mix_eight_of_ten_against_two_of_ten(clinic_db):
    con = clinic_db([*courses("A", "T1", 8, 10), *courses("B", "T2", 2, 10)])
    therapists = by_id(metrics.therapist_outcome(con))
    # Same case mix, so everyone's expected chance is the clinic's 10/20 = 0.5.
    # T1: 0.8 - 0.5 = +0.3; variance 10 * 0.5 * 0.5 = 2.5 -> 1.959964 * sqrt(2.5) / 10 = 0.30990,
    # so the interval -0.0099..0.6099 just includes 0: with 10 courses each, 8 against 2 is not yet
    # more than chance for either (z = 3 / sqrt(2.5) = 1.897, inside the 95% funnel).
    t1, t2 = therapists.loc["T1"], therapists.loc["T2"]
    assert (t1["episodes"], t1["observed"], t1["expected"], t1["model"]) == (10, 0.8, pytest.approx(0.5), "logistic")
    assert t1["difference"] == pytest.approx(0.3) and t2["difference"] == pytest.approx(-0.3)
    assert (t1["ci_low"], t1["ci_high"]) == (pytest.approx(0.3 - 0.30990, abs=1e-5), pytest.approx(0.3 + 0.30990, abs=1e-5))
    assert (t1["judgement"], t2["judgement"]) == ("as expected", "as expected")
    assert t1["z"] == pytest.approx(3 / np.sqrt(2.5)) and t1["funnel_position"] == "inside the limits"
    # Twice as many courses with the same shares: half width 1.959964 * sqrt(5) / 20 = 0.21913 -> better.
    bigger = by_id(metrics.therapist_outcome(clinic_db([*courses("A", "T1", 16, 20), *courses("B", "T2", 4, 20)])))
    assert bigger.loc["T1", "ci_low"] == pytest.approx(0.3 - 0.21913, abs=1e-5)
    assert (bigger.loc["T1", "judgement"], bigger.loc["T2", "judgement"]) == ("better than expected", "worse than expected")
    assert bigger.loc["T1", "funnel_position"] == "above the 95% limit"


def test_a_drop_out_before_visit_3_counts_as_not_improved_and_a_running_course_is_left_out(clinic_db, monkeypatch):
    monkeypatch.setattr(config, "today", lambda: dt.date(2025, 1, 27))
    rows = [*courses("A", "T1", 9, 9),
            # dropped after visit 2 (last seen 2025-01-13 in a database whose latest session is
            # 2025-01-27 at the latest): eligible, not improved
            visit("D1", 1, "2024-10-07", 8, 8, therapist_id="T1"), visit("D1", 2, "2024-10-14", 8, 8, therapist_id="T1"),
            # still active with 2 visits (last seen 2025-01-13, within 21 days): not known yet, left out
            visit("R1", 1, "2025-01-13", 8, 8, therapist_id="T1"), visit("R1", 2, "2025-01-20", 8, 8, therapist_id="T1"),
            *courses("B", "T2", 5, 10)]
    therapists = by_id(metrics.therapist_outcome(clinic_db(rows)))
    # T1: 9 improved + 1 drop-out = 9 of 10 (per protocol it would be 9 of 9); R1 not counted.
    assert (therapists.loc["T1", "episodes"], therapists.loc["T1", "observed"]) == (10, 0.9)
    assert (therapists.loc["T2", "episodes"], therapists.loc["T2", "observed"]) == (10, 0.5)


def test_under_ten_courses_is_too_few_to_judge(clinic_db):
    con = clinic_db([*courses("A", "T1", 9, 9), *courses("B", "T2", 1, 20)])
    therapists = by_id(metrics.therapist_outcome(con))
    # T1: 9 of 9 is far above the expected 10/29, but 9 courses are too few to judge.
    assert therapists.loc["T1", "judgement"] == "too few to judge"
    assert therapists.loc["T1", "funnel_position"] == "too few to judge"
    assert therapists.loc["T2", "judgement"] == "worse than expected"
    assert set(therapists["judgement"]) <= set(metrics.VERDICTS)


def test_interval_by_hand_with_two_case_mixes(clinic_db):
    # Acute: 20 courses, 15 improved -> p = 0.75; chronic: 20 courses, 5 improved -> p = 0.25
    # (only the course type varies, so the logistic model gives each cell its own rate).
    # T1: 10 acute (9 improved) + 2 chronic (0): observed 9/12 = 0.75; expected (10 * 0.75 +
    #     2 * 0.25) / 12 = 8/12; variance (10 + 2) * 0.75 * 0.25 = 2.25 -> half width
    #     1.959964 * 1.5 / 12 = 0.24500 -> 0.08333 - 0.245 .. 0.08333 + 0.245: as expected.
    # T2: 10 acute (6) + 18 chronic (5): observed 11/28; expected 12/28; variance 28 * 0.1875.
    con = clinic_db([*courses("A", "T1", 9, 10), *courses("C", "T1", 0, 2, course_type="chronic"),
                     *courses("B", "T2", 6, 10), *courses("D", "T2", 5, 18, course_type="chronic")])
    therapists = by_id(metrics.therapist_outcome(con))
    t1, t2 = therapists.loc["T1"], therapists.loc["T2"]
    assert (t1["observed"], t1["expected"]) == (0.75, pytest.approx(8 / 12, abs=1e-6))
    assert (t1["ci_low"], t1["ci_high"]) == (pytest.approx(1 / 12 - 0.24500, abs=1e-5), pytest.approx(1 / 12 + 0.24500, abs=1e-5))
    assert t1["judgement"] == "as expected"
    assert t2["difference"] == pytest.approx(-1 / 28, abs=1e-6)
    assert t2["ci_high"] - t2["difference"] == pytest.approx(1.959964 * np.sqrt(28 * 0.1875) / 28, abs=1e-5)
    # A raw comparison would have put T1 (0.75) far above T2 (0.39); the case mix explains most of it.


def test_difference_limits_by_hand():
    # variance 0.25 per case, 25 cases: 1.959964 * sqrt(0.25 / 25) = 0.19600; 99.8%: 3.090232 * 0.1
    low, high = stats.difference_limits(0.25, [25, 100], 0.95)
    assert low.tolist() == pytest.approx([-0.19600, -0.09800], abs=1e-5) and high.tolist() == pytest.approx([0.19600, 0.09800], abs=1e-5)
    assert stats.difference_limits(0.25, [25], 0.998)[1][0] == pytest.approx(0.30902, abs=1e-5)


def test_funnel_limits_use_the_clinic_variance_per_course(clinic_db):
    con = clinic_db([*courses("A", "T1", 8, 10), *courses("B", "T2", 2, 10)])
    limits = metrics.therapist_outcome(con).limits.set_index("episodes")
    assert list(limits.index) == list(range(1, 11))
    # Every p is 0.5 -> v = 0.25; at n = 10: 1.959964 * sqrt(0.025) = 0.30990.
    assert limits.loc[10, "upper_95"] == pytest.approx(0.30990, abs=1e-5)
    assert limits.loc[10, "lower_998"] == pytest.approx(-3.090232 * np.sqrt(0.025), abs=1e-5)


def test_rows_outside_the_limits_come_first_then_by_name(clinic_db):
    con = clinic_db([*courses("A", "T1", 5, 10, therapist_name="Zed"), *courses("B", "T2", 5, 10, therapist_name="Amy"),
                     *courses("C", "T3", 10, 10, therapist_name="Moe"), *courses("D", "T4", 0, 10, therapist_name="Bea")])
    rows = metrics.therapist_outcome(con).therapists
    # Clinic 20/40 = 0.5: T3 +0.5 and T4 -0.5 are outside (z = +/-3.16, beyond the 99.8% limits).
    assert rows["therapist_name"].tolist() == ["Bea", "Moe", "Amy", "Zed"]
    assert rows["funnel_position"].tolist() == ["below the 99.8% limit", "above the 99.8% limit",
                                                "inside the limits", "inside the limits"]


# --- the secondary measures ------------------------------------------------------------------

def test_sessions_used_is_a_linear_adjustment_with_the_residual_variance(clinic_db):
    # Completed acute courses, same case mix: T1 10 of 3 sessions, T2 10 of 5 -> expected mean 4.
    # Residual variance: 20 courses each 1 from 4 -> 20 / (20 - 1 term); T1 half width
    # 1.959964 * sqrt(10 * 20 / 19) / 10.
    con = clinic_db([*courses("A", "T1", 10, 10, visits=3), *courses("B", "T2", 10, 10, visits=5)])
    therapists = by_id(metrics.therapist_outcome(con, outcome="sessions_used"))
    t1 = therapists.loc["T1"]
    assert (t1["observed"], t1["expected"], t1["model"]) == (3.0, pytest.approx(4.0), "linear")
    assert t1["ci_high"] - t1["difference"] == pytest.approx(1.959964 * np.sqrt(200 / 19) / 10, abs=1e-5)
    assert (t1["judgement"], therapists.loc["T2", "judgement"]) == ("fewer sessions than expected",
                                                                     "more sessions than expected")


def test_drop_out_and_visits_to_improvement(clinic_db):
    rows = [*courses("A", "T1", 20, 20), *courses("B", "T2", 10, 10, visits=5)]
    for number in range(20):  # T2 also has 20 drop-outs after visit 1, long ago
        rows.append(visit(f"D{number}", 1, "2024-06-03", 8, 8, therapist_id="T2"))
    con = clinic_db(rows)
    dropped = by_id(metrics.therapist_outcome(con, outcome="dropped_before_visit3"))
    # 20 of 50 finished courses dropped out (p = 0.4 for all), all T2's: T1 0 of 20, T2 20 of 30.
    # T2: +0.2667, half width 1.959964 * sqrt(30 * 0.24) / 30 = 0.1753 -> more drop-outs.
    assert (dropped.loc["T1", "observed"], dropped.loc["T2", "observed"]) == (0.0, pytest.approx(2 / 3))
    assert dropped.loc["T2", "ci_low"] == pytest.approx(2 / 3 - 0.4 - 1.959964 * np.sqrt(7.2) / 30, abs=1e-5)
    assert (dropped.loc["T1", "judgement"], dropped.loc["T2", "judgement"]) == ("fewer drop-outs than expected",
                                                                                "more drop-outs than expected")
    # Every finished course that improved did so at visit 3: exactly as expected for both.
    visits = by_id(metrics.therapist_outcome(con, outcome="visits_to_improvement"))
    assert visits["observed"].tolist() == [3.0, 3.0] and visits["episodes"].tolist() == [20, 10]
    assert visits["difference"].tolist() == pytest.approx([0, 0], abs=1e-9)


def test_sessions_against_the_recommended_range_is_the_adjusted_share_within_it(clinic_db):
    # Finished acute courses (range 3-5), same case mix: T1 20 of 3 sessions (all within), T2 10 of
    # 3 and 10 of 6 (above). Expected chance within the range 30/40 = 0.75 for every course.
    # T1: 1.0 - 0.75 = +0.25, half width 1.959964 * sqrt(20 * 0.75 * 0.25) / 20 = 0.18977.
    con = clinic_db([*courses("A", "T1", 20, 20), *courses("B", "T2", 10, 10), *courses("C", "T2", 10, 10, visits=6)])
    within = by_id(metrics.therapist_outcome(con, outcome="sessions_within_range"))
    t1, t2 = within.loc["T1"], within.loc["T2"]
    assert (t1["episodes"], t1["observed"], t1["expected"]) == (20, 1.0, pytest.approx(0.75))
    assert (t2["episodes"], t2["observed"]) == (20, 0.5)
    assert t1["ci_low"] == pytest.approx(0.25 - 0.18977, abs=1e-5)
    assert (t1["judgement"], t2["judgement"]) == ("more often within the range than expected",
                                                  "less often within the range than expected")


def test_the_last_visit_measure_is_adjusted_like_the_others(clinic_db):
    # Four weekly visits: improved only at the last one (8, 8, 8, 2) or not at all (8 throughout),
    # so the last visit and the promise (visit 3) disagree. T1 16 of 20 improved by the last visit,
    # T2 4 of 20; same case mix, expected 0.5 for all: half width 1.959964 * sqrt(5) / 20 = 0.21913.
    rows = []
    for prefix, therapist, improved in (("A", "T1", 16), ("B", "T2", 4)):
        for number in range(20):
            pains = [8, 8, 8, 2] if number < improved else [8, 8, 8, 8]
            rows += [visit(f"{prefix}{number}", k, (dt.date(2025, 1, 6) + dt.timedelta(weeks=k - 1)).isoformat(),
                           pain, pain, therapist_id=therapist) for k, pain in enumerate(pains, start=1)]
    con = clinic_db(rows)
    last = by_id(metrics.therapist_outcome(con, outcome="improved_at_last_visit"))
    assert last.loc["T1", "observed"] == 0.8 and last.loc["T1", "expected"] == pytest.approx(0.5)
    assert last.loc["T1", "ci_low"] == pytest.approx(0.3 - 0.21913, abs=1e-5)
    assert (last.loc["T1", "judgement"], last.loc["T2", "judgement"]) == ("better than expected", "worse than expected")
    assert last.loc["T1", "funnel_position"] == "above the 95% limit"
    assert last["episodes"].to_dict() == {"T1": 20, "T2": 20}
    # Nobody improved at visit 3, so on the promise both are alike (0 of 20).
    assert by_id(metrics.therapist_outcome(con))["observed"].tolist() == [0.0, 0.0]


# --- viewers, repeated names, the command line --------------------------------------------------

def test_a_viewing_therapist_sees_letters_and_nothing_resting_on_few_colleagues(clinic_db):
    con = clinic_db([*courses("A", "T1", 8, 12, therapist_name="Ann"), *courses("B", "T2", 2, 12, therapist_name="Ben")])
    shown = metrics.therapist_outcome(con, Filter(viewer_therapist="T1")).therapists
    assert sorted(shown["therapist_id"]) == ["T1", "Therapist A"]
    assert "Ben" not in shown.to_string() and "T2" not in shown.to_string()
    # Five colleagues' courses: every figure rests on them, so nothing is shown.
    small = clinic_db([*courses("A", "T1", 8, 12), *courses("B", "T2", 2, 5)])
    result = metrics.therapist_outcome(small, Filter(viewer_therapist="T1"))
    assert result.therapists.empty and result.limits.empty
    assert metrics.suppression.suppressed(result.therapists) == 2  # the page says why (ui/suppressed.py)


def test_therapists_with_one_name_stay_apart(clinic_db):
    con = clinic_db([*courses("A", "T1", 8, 10, therapist_name="Kai Alder"),
                     *courses("B", "T2", 2, 10, therapist_name="Kai Alder")])
    rows = by_id(metrics.therapist_outcome(con))
    assert sorted(rows.index) == ["T1", "T2"] and rows["episodes"].tolist() == [10, 10]


def test_summary_json_has_the_therapists_key(clinic_db, tmp_path, capsys):
    # Clinic 9/23 = 0.391: T1 8/10 (+0.41, half width 0.30) better, T2 0/10 worse, T3 3 courses.
    con = clinic_db([*courses("A", "T1", 8, 10), *courses("B", "T2", 0, 10), *courses("C", "T3", 1, 3)])
    path = tmp_path / "clinic0.duckdb"
    con.close()
    assert cli.main(["summary", "--db", str(path), "--json"]) == 0
    therapists = json.loads(capsys.readouterr().out)["therapists"]
    assert list(therapists) == ["T1", "T2", "T3"]
    assert set(therapists["T1"]) == {"episodes_judged", "observed", "expected", "difference", "ci_low", "ci_high", "verdict"}
    assert therapists["T1"]["observed"] == 0.8 and therapists["T1"]["episodes_judged"] == 10
    assert [row["verdict"] for row in therapists.values()] == ["better than expected", "worse than expected",
                                                               "too few to judge"]


def test_summary_json_on_the_committed_sample(writable_sample_db, capsys):
    assert cli.main(["summary", "--db", str(writable_sample_db), "--json"]) == 0
    therapists = json.loads(capsys.readouterr().out)["therapists"]
    assert list(therapists) == ["T01", "T02", "T03"]
    assert {row["verdict"] for row in therapists.values()} <= set(metrics.VERDICTS)
    assert therapists["T01"]["verdict"] == "better than expected"
    assert therapists["T01"]["ci_low"] < therapists["T01"]["difference"] < therapists["T01"]["ci_high"]


# --- the sample clinic's planted differences ------------------------------------------------------

@pytest.fixture(scope="module")
def four_main_clinics(tmp_path_factory):
    """The generator's main clinic four times over (seeds 1-4) in one database: the same three
    therapists (T01 Thea Grove, skill +0.30 and more of the chronic courses; T02 0; T03 -0.12),
    four times the clients, so a difference of a few points can be told from chance."""
    con = db.connect(tmp_path_factory.mktemp("planted") / "clinic.duckdb")
    frames = []
    for seed in (1, 2, 3, 4):
        log = sample.generate_visit_log(sessions=sample.DEFAULT_SESSIONS, seed=seed)
        log["client_id"] = f"S{seed}" + log["client_id"]
        log["episode_id"] = f"S{seed}" + log["episode_id"]
        frames.append((f"sample(seed={seed})", log))
    visit_log.import_frames(con, frames)
    yield con
    con.close()


def test_the_planted_therapist_differences_are_recovered_where_a_raw_comparison_misses_them(four_main_clinics):
    result = metrics.therapist_outcome(four_main_clinics)
    therapists = by_id(result)
    assert therapists.loc["T01", "judgement"] == "better than expected"
    assert therapists.loc["T03", "judgement"] == "worse than expected"
    assert therapists.loc["T02", "judgement"] == "as expected"
    # Raw: T01's share improved after the second session, against the clinic's, with the same
    # funnel's 95% limits for her number of courses. Her chronic-heavy case mix hides her skill:
    # raw she is not above the clinic at all.
    raw_rate = therapists["observed"] * therapists["episodes"] / therapists["episodes"].sum()
    clinic_rate = raw_rate.sum()
    low, high = stats.binomial_limits(clinic_rate, therapists.loc["T01", "episodes"], 0.95)
    assert low <= therapists.loc["T01", "observed"] <= high
    assert therapists.loc["T01", "observed"] < therapists.loc["T02", "observed"] + 0.02
    # The chronic share behind it: T01 takes more of the chronic courses (46% of them, against 30% and 24%).
    chronic = four_main_clinics.execute(
        "SELECT therapist_id, avg(CASE WHEN course_type = 'chronic' THEN 1 ELSE 0 END) FROM episodes GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert chronic[0][1] > max(chronic[1][1], chronic[2][1])


# --- the fits, against statsmodels ------------------------------------------------------------

def test_logistic_and_weighted_least_squares_fits_match_statsmodels():
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    design = np.column_stack([np.ones(300), rng.normal(size=(300, 4)), rng.integers(0, 2, 300)])
    trials = rng.integers(1, 40, 300).astype(float)
    chance = 1 / (1 + np.exp(-(design @ np.array([0.2, 0.8, -0.5, 0.1, 0.0, -1.0]))))
    successes = rng.binomial(trials.astype(int), chance).astype(float)
    fitted, converged = stats.logistic_fit(design, successes, trials)
    reference = sm.GLM(np.column_stack([successes, trials - successes]), design, family=sm.families.Binomial()).fit()
    assert converged and np.allclose(fitted, reference.predict(design), atol=1e-9)
    values = successes / trials
    wls = sm.WLS(values, design, weights=trials).fit()
    assert np.allclose(stats.weighted_least_squares(design, values, trials), wls.fittedvalues, atol=1e-9)


def test_logistic_fit_reports_separation():
    # Baseline 9 always improves, baseline 4 never: the slope runs off to infinity.
    design = np.column_stack([np.ones(2), [9.0, 4.0]])
    _, converged = stats.logistic_fit(design, np.array([12.0, 0.0]), np.array([12.0, 12.0]))
    assert not converged
