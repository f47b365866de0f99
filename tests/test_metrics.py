"""Every metric on a small clinic written by hand, with the expected figures worked out beside
the asserts. The clinic (CLINIC below), latest session 2025-03-28, so "active" means a last
visit on or after 2025-03-07; no course has a discharge reason, so "lost" is lost_to_follow_up:

episode course  condition   ther. visits  status     range  baseline v3-pre v2-post last-pre(visit) first improved
A1      acute   plantar     T1    1-4     completed  within 8        5      5       4 (4)           3
A2      acute   plantar     T1    1-3     completed  within 4        3      missing 3 (3)           -
A3      acute   plantar     T2    1-3     completed  within 7        4.9    5       4.9 (3)         3  (exactly 30%)
A4      acute   plantar     T2    1       lost       below  6        -      -       6 (1)           -  (one visit)
A5      acute   heel_spur   T1    1-2     lost       below  9        -      5       6 (2)           2  (drop-out)
A6      acute   heel_spur   T3    1-2     active     below  5        -      4       5 (2)           -
A7      acute   pronation   T2    1-2     lost       below  6        -      4       6 (1: v2 pre missing) -
C1      chronic bunion      T1    1-8     completed  within 7        6      5       3 (8)           6  (clinic north)
C2      chronic bunion      T2    1,2,4,5 lost       below  6        missing 4      3 (5)           4  (clinic north, gap)
C3      chronic tendonitis  T3    1-3     active     below  8        8      3       8 (3)           2
C4      chronic flat_feet   T1    1-3     lost       below  0        0      0       0 (3)           -  (baseline 0)
C5      chronic plantar     T2    1-13    completed  above  5        3      3       3 (13)          2
A2 and C4 are the same client (CA2, "Jon Smith"). C3's records are messy on purpose: pain 8 -> 2 -> 8
before the sessions, 3 after visit 2 (above the 2 before it), visits 2 and 3 on the same date."""
import datetime as dt
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from analytics import config, db, metrics
from analytics.filters import ALL, Filter
from conftest import store_visits, visit

DOCS = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
NAMES = {"T1": "Ann", "T2": "Ben", "T3": "Cat"}


def course(episode_id, dates, pre, post, **extra):
    """One episode's visit rows: visit k on dates[k-1] with pre[k-1]/post[k-1]. Per-visit values
    (adherence, psfs) can be given as {visit_number: value} under `per_visit`."""
    per_visit = extra.pop("per_visit", {})
    visit_numbers = extra.pop("visit_numbers", range(1, len(dates) + 1))
    extra.setdefault("therapist_name", NAMES[extra.get("therapist_id", "T1")])
    rows = []
    for number, date, pain_pre, pain_post in zip(visit_numbers, dates, pre, post):
        values = {column: by_visit[number] for column, by_visit in per_visit.items() if number in by_visit}
        rows.append(visit(episode_id, number, date, pain_pre, pain_post, **extra, **values))
    return rows


def weekly(first: str, count: int) -> list[str]:
    start = dt.date.fromisoformat(first)
    return [(start + dt.timedelta(weeks=k)).isoformat() for k in range(count)]


CLINIC = [
    *course("A1", weekly("2025-01-06", 4), [8, 6, 5, 4], [6, 5, 3, 3], client_name="Maria Lopez",
            per_visit={"stretching_adherence_pct": {2: 80, 3: 90}, "psfs_pre": {1: 3, 4: 6}}),
    *course("A2", weekly("2025-01-07", 3), [4, 3, 3], [3, None, 2], client_id="CA2", client_name="Jon Smith",
            per_visit={"stretching_adherence_pct": {1: 20}}),
    *course("A3", weekly("2025-01-08", 3), [7, 6, 4.9], [5, 5, 4], therapist_id="T2",
            per_visit={"stretching_adherence_pct": {2: 50}}),
    *course("A4", ["2025-01-09"], [6], [4], therapist_id="T2"),
    *course("A5", weekly("2025-02-03", 2), [9, 6], [7, 5], condition="heel_spur", severity="severe", prior_injuries=2),
    *course("A6", weekly("2025-03-21", 2), [5, 5], [4, 4], condition="heel_spur", therapist_id="T3"),
    *course("A7", weekly("2025-01-27", 2), [6, None], [5, 4], condition="pronation", therapist_id="T2"),
    *course("C1", weekly("2025-01-06", 8), [7, 7, 6, 5, 5, 4, 4, 3], [5, 5, 4, 4, 3, 3, 3, 2],
            course_type="chronic", condition="bunion", clinic_id="north",
            per_visit={"stretching_adherence_pct": {2: 25, 4: 25}}),
    *course("C2", ["2025-01-10", "2025-01-17", "2025-01-31", "2025-02-07"], [6, 5, 3, 3], [5, 4, 2, 2],
            visit_numbers=[1, 2, 4, 5], course_type="chronic", condition="bunion", therapist_id="T2", clinic_id="north"),
    *course("C3", ["2025-03-24", "2025-03-26", "2025-03-26"], [8, 2, 8], [7, 3, 6],
            course_type="chronic", condition="tendonitis", therapist_id="T3"),
    *course("C4", weekly("2025-02-03", 3), [0, 0, 0], [0, 0, 0], client_id="CA2", client_name="Jon Smith",
            course_type="chronic", condition="flat_feet"),
    *course("C5", weekly("2024-12-02", 13), [5] + [3] * 12, [4] + [3] * 12, course_type="chronic",
            therapist_id="T2", per_visit={"stretching_adherence_pct": {5: 100}}),
]


@pytest.fixture(scope="module", params=["duckdb", "chain"])
def clinic(request, tmp_path_factory):
    """The clinic above, built once for the module: metrics only read. On both engines: a DuckDB
    file of its own, and a clinic-chain replica that never saw the writes, fed from PostgreSQL
    (another replica stored the visits there); every figure below must come out the same."""
    folder = tmp_path_factory.mktemp("clinic")
    if request.param == "duckdb":
        con = db.connect(folder / "clinic.duckdb")
        store_visits(con, CLINIC)
        yield con
        con.close()
        return
    from analytics import chain

    cluster = request.getfixturevalue("postgres_cluster")
    with pytest.MonkeyPatch.context() as env:  # chain mode while the replicas are made only
        env.setenv("CLINIC_DATABASE_URL", cluster.new_database())
        writer = db.connect(folder / "writer.duckdb")
        store_visits(writer, CLINIC)
        con = db.connect(folder / "replica.duckdb")
    yield con
    chain.forget_all()
    writer.close()
    con.close()


@pytest.fixture(scope="module")
def duckdb_clinic(tmp_path_factory):
    """The clinic above in a DuckDB file, for a test that picks its database itself."""
    con = db.connect(tmp_path_factory.mktemp("clinic") / "clinic.duckdb")
    store_visits(con, CLINIC)
    yield con
    con.close()


def by_key(frame: pd.DataFrame, *keys: str) -> pd.DataFrame:
    return frame.set_index(list(keys))


# --- the improvement rule ---------------------------------------------------------------------

@pytest.mark.parametrize("baseline, score, scale, expected", [
    (10, 8, "pain", False),    # 2 points but only 20%
    (7, 4.9, "pain", True),    # 2.1 points = exactly 30% (7 - 4.9 is 2.0999999999999996 in binary)
    (6, 4, "pain", True),      # 2 points = 33%
    (5, 3.5, "pain", False),   # 1.5 points (30%) is under 2 points
    (10, 7, "pain", True),     # 3 points = 30%
    (10, 7.01, "pain", False),  # 2.99 points = 29.9%
    (None, 3, "pain", None),   # no baseline: cannot be judged
    (3, 5, "psfs", True),      # function up 2 points (higher is better)
    (3, 4.9, "psfs", False),   # up 1.9 points
    (6, 4, "psfs", False),     # function got worse
])
def test_improvement_rule(clinic_db, baseline, score, scale, expected):
    con = clinic_db()
    sql = "SELECT " + metrics.improvement_sql("CAST($baseline AS DOUBLE)", "CAST($score AS DOUBLE)", scale) + " AS improved"
    value = metrics.query.run(con, sql, {"baseline": baseline, "score": score})["improved"].iloc[0]
    assert (None if pd.isna(value) else bool(value)) == expected


# --- 1. pain trajectory -----------------------------------------------------------------------

def test_pain_trajectory_on_heel_spur(clinic):
    traj = by_key(metrics.pain_trajectory(clinic, Filter(conditions=("heel_spur",))), "visit_number", "phase")
    # A5 pre 9, 6 / post 7, 5; A6 pre 5, 5 / post 4, 4.
    v1 = traj.loc[(1, "pre")]
    assert (v1["n"], v1["mean"], v1["median"]) == (2, 7.0, 7.0)
    # sd of (9, 5) = 2.8284, standard error 2, t(0.975, 1 df) = 12.7062 -> 7 -/+ 25.4124
    assert v1["ci_low"] == pytest.approx(-18.41241, abs=1e-4)
    assert v1["ci_high"] == pytest.approx(32.41241, abs=1e-4)
    assert traj.loc[(2, "pre"), "mean"] == 5.5   # (6 + 5) / 2
    assert traj.loc[(2, "post"), "mean"] == 4.5  # (5 + 4) / 2
    assert traj.loc[(1, "post"), "median"] == 5.5
    assert list(traj.reset_index()["phase"][:2]) == ["pre", "post"]


def test_pain_trajectory_counts_recorded_scores_only(clinic):
    traj = by_key(metrics.pain_trajectory(clinic), "course_type", "visit_number", "phase")
    # acute visit 2: pre recorded for A1, A2, A3, A5, A6 (A7's is missing, A4 never came) -> 5;
    # post for A1, A3, A5, A6, A7 (A2's is missing) -> 5.
    assert traj.loc[("acute", 2, "pre"), "n"] == 5
    assert traj.loc[("acute", 2, "pre"), "mean"] == pytest.approx((6 + 3 + 6 + 6 + 5) / 5)
    assert traj.loc[("acute", 2, "post"), "n"] == 5
    # acute visit 4: only A1 (pre 4): one score, no interval.
    assert traj.loc[("acute", 4, "pre"), "n"] == 1
    assert np.isnan(traj.loc[("acute", 4, "pre"), "ci_low"])
    # chronic visit 3: C1 6, C3 8, C4 0, C5 3 (C2 has no visit-3 record) -> 17 / 4.
    assert traj.loc[("chronic", 3, "pre"), "mean"] == 4.25
    assert traj.loc[("chronic", 13, "pre"), "n"] == 1


def test_pain_trajectory_relative_and_by_condition(clinic):
    rel = by_key(metrics.pain_trajectory(clinic, Filter(conditions=("heel_spur",)), relative=True), "visit_number", "phase")
    # A5 (baseline 9): visit 2 pre 6 -> 66.67%; A6 (baseline 5): 5 -> 100%.
    assert rel.loc[(2, "pre"), "mean"] == pytest.approx((600 / 9 + 100) / 2)
    assert rel.loc[(1, "pre"), "mean"] == 100.0
    # C4's baseline is 0: left out of the relative view, so chronic visit 1 has 4 episodes, not 5.
    chronic = by_key(metrics.pain_trajectory(clinic, Filter(course_types=("chronic",)), relative=True), "visit_number", "phase")
    assert chronic.loc[(1, "pre"), "n"] == 4
    grouped = metrics.pain_trajectory(clinic, by=("course_type", "condition"))
    assert list(grouped.columns[:3]) == ["course_type", "condition", "visit_number"]
    bunion = by_key(grouped, "course_type", "condition", "visit_number", "phase")
    assert bunion.loc[("chronic", "bunion", 1, "pre"), "mean"] == 6.5  # C1 7, C2 6
    with pytest.raises(ValueError):
        metrics.pain_trajectory(clinic, by=("client_id",))


# --- 2-3. responders over visits and time to improvement --------------------------------------

def test_responder_curve(clinic):
    curve = by_key(metrics.responder_curve(clinic), "course_type", "visit_number")
    # Acute: 7 episodes with a baseline. First improved: A5 at 2, A1 and A3 at 3.
    # Still attending: all 7 at visit 1; 6 reach visit 2 (not A4); A1-A3 reach 3; A1 reaches 4.
    acute = curve.loc["acute"]
    assert list(acute["episodes"]) == [7, 7, 7, 7]
    assert list(acute["improved"]) == [0, 1, 3, 3]
    assert list(acute["at_risk"]) == [7, 6, 3, 1]
    assert acute.loc[3, "share"] == pytest.approx(3 / 7)
    # Chronic: 5 (C4's baseline 0 counts: it can be judged, it just never improves).
    # First improved C3 and C5 at 2, C2 at 4, C1 at 6; C2 at risk at 3 despite its missing record.
    chronic = curve.loc["chronic"]
    assert list(chronic["improved"]) == [0, 2, 2, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4]
    assert list(chronic["at_risk"]) == [5, 5, 5, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1]
    assert chronic.loc[13, "share"] == 0.8


def test_time_to_improvement(clinic):
    km = by_key(metrics.time_to_improvement(clinic), "course_type", "visit_number")
    # Acute: A4 censored at 1; A5 improves at 2 (6 at risk) -> 5/6; A6, A7 censored at 2;
    # A1 and A3 improve at 3, A2 censored there (3 at risk) -> 5/6 * 1/3 = 0.2778.
    assert list(km.loc["acute", "at_risk"]) == [7, 6, 3]
    assert list(km.loc["acute", "events"]) == [0, 1, 2]
    assert km.loc[("acute", 2), "survival"] == pytest.approx(5 / 6)
    assert km.loc[("acute", 3), "survival"] == pytest.approx(5 / 18)
    assert (km.loc[("acute", 1), "ci_low"], km.loc[("acute", 1), "ci_high"]) == (1.0, 1.0)
    # Chronic: C3, C5 at 2 of 5 -> 0.6; C4 censored at 3; C2 at 4 of 2 -> 0.3; C1 at 6 of 1 -> 0.
    assert list(km.loc["chronic", "survival"]) == pytest.approx([1, 0.6, 0.6, 0.3, 0.3, 0.0])
    medians = by_key(metrics.median_visits_to_improvement(clinic), "course_type")
    assert medians.loc["acute"].tolist() == [7, 3, 3.0]    # 0.2778 <= 0.5 first at visit 3
    assert medians.loc["chronic"].tolist() == [5, 4, 4.0]  # 0.3 first at visit 4


def test_median_visits_not_reached_is_nan(clinic):
    # Heel spur: A5 improves at 2 and A6 is censored there: 1 of 2 -> 0.5, which counts as reached.
    medians = metrics.median_visits_to_improvement(clinic, Filter(conditions=("heel_spur",)))
    assert medians["median_visits"].iloc[0] == 2.0
    none = metrics.median_visits_to_improvement(clinic, Filter(conditions=("pronation",)))
    # A7 alone, never improves (censored at 2): survival stays 1 -> median not reached.
    assert none["episodes"].iloc[0] == 1 and none["events"].iloc[0] == 0
    assert np.isnan(none["median_visits"].iloc[0])


@pytest.mark.parametrize("course_type", ["acute", "chronic"])
def test_kaplan_meier_matches_lifelines(clinic, course_type):
    ours = metrics.time_to_improvement(clinic, Filter(course_types=(course_type,)))
    # The same durations, worked out from the table in the module docstring.
    durations, events = {"acute": ([3, 3, 3, 1, 2, 2, 2], [1, 0, 1, 0, 1, 0, 0]),
                         "chronic": ([6, 4, 2, 3, 2], [1, 1, 1, 0, 1])}[course_type]
    fitted = KaplanMeierFitter().fit(durations, events)
    times = ours["visit_number"].to_numpy()
    assert ours["survival"].to_numpy() == pytest.approx(fitted.survival_function_at_times(times).to_numpy())
    band = fitted.confidence_interval_survival_function_.reindex(times, method="ffill")
    assert ours["ci_low"].to_numpy() == pytest.approx(band.iloc[:, 0].to_numpy())
    assert ours["ci_high"].to_numpy() == pytest.approx(band.iloc[:, 1].to_numpy())
    median = metrics.median_visits_to_improvement(clinic, Filter(course_types=(course_type,)))["median_visits"].iloc[0]
    assert median == fitted.median_survival_time_


# --- 4. course outcomes and the summary -------------------------------------------------------

def test_course_outcomes(clinic):
    outcomes = by_key(metrics.course_outcomes(clinic), "course_type")
    acute, chronic = outcomes.loc["acute"], outcomes.loc["chronic"]
    # Acute highest visits 4, 3, 3, 1, 2, 2, 2 -> median 2; below A4, A5, A7 (A6 is still
    # active: it may yet reach the minimum, so it is not "below"), within A1-A3.
    assert acute[["episodes", "median_sessions", "below_range", "within_range", "above_range"]].tolist() == [7, 2, 3, 3, 0]
    # Completed A1-A3; active A6 (last visit 2025-03-28); lost to follow-up A4, A5, A7; none
    # closed early (no discharge reasons).
    assert acute[["completed", "active", "closed_early", "lost_to_follow_up"]].tolist() == [3, 1, 0, 3]
    assert (acute["lost_to_follow_up_share"], acute["closed_early_share"]) == (pytest.approx(3 / 7), 0)
    # Drop-out rate over finished courses (not the active A6): 3 of 6.
    assert (acute["finished"], acute["dropout_rate"]) == (6, 0.5)
    # Follow-up: A1, A2, A3, A5, A6 (A4 seen once; A7's only later visit has no pre score).
    # Change 4 + 1 + 2.1 + 3 + 0 = 10.1 / 5; % 50 + 25 + 30 + 33.3 + 0 = 138.3 / 5; responders A1, A3, A5.
    assert acute["episodes_with_followup"] == 5
    assert acute["mean_change_points"] == pytest.approx(2.02)
    assert acute["mean_change_pct"] == pytest.approx(138.3333 / 5, abs=1e-3)
    assert (acute["responders"], acute["responder_rate"]) == (3, 0.6)
    # Immediate relief apart: 15 sessions with both scores, relief adding up to 19.9.
    assert acute["sessions_with_relief_scores"] == 15
    assert acute["mean_immediate_relief"] == pytest.approx(19.9 / 15)
    # Chronic highest visits 8, 5, 3, 3, 13 -> median 5; C5's 13 is above 8-12, C1's 8 within;
    # below C2 and C4 (C3 is active).
    assert chronic[["episodes", "median_sessions", "below_range", "within_range", "above_range"]].tolist() == [5, 5, 2, 1, 1]
    assert chronic[["completed", "active", "closed_early", "lost_to_follow_up"]].tolist() == [2, 1, 0, 2]
    assert (chronic["finished"], chronic["dropout_rate"]) == (4, 0.5)  # C2, C4 of C1, C2, C4, C5
    # Change 4 + 3 + 0 + 0 + 2 = 9 / 5; % over baselines above 0: 57.14 + 50 + 0 + 40 = 147.14 / 4.
    assert chronic["mean_change_points"] == pytest.approx(1.8)
    assert chronic["mean_change_pct"] == pytest.approx((400 / 7 + 50 + 0 + 40) / 4)
    assert (chronic["responders"], chronic["responder_rate"]) == (3, 0.6)  # C1, C2, C5
    assert chronic["mean_immediate_relief"] == pytest.approx(19 / 31)


def test_summary_by_course_is_the_cli_json(clinic):
    summary = metrics.headline(clinic)
    json.dumps(summary)  # plain Python values only
    # 12 episodes, 48 sessions, 11 clients (A2 and C4 are one client).
    assert (summary["episodes"], summary["sessions"], summary["clients"]) == (12, 48, 11)
    acute, chronic = summary["by_course"]["acute"], summary["by_course"]["chronic"]
    assert {name: acute[name] for name in acute if name not in ITT_KEYS} == {
        "episodes": 7,
        "median_visits": 2.0,                   # 1, 2, 2, 2, 3, 3, 4
        "mean_baseline_pain": pytest.approx(45 / 7),  # 8 + 4 + 7 + 6 + 9 + 5 + 6
        "episodes_reaching_visit3": 3,          # A1, A2, A3
        "responder_rate_after_session2": pytest.approx(2 / 3),  # A1 (8 -> 5), A3 (7 -> 4.9); not A2 (4 -> 3)
        # Visit-2 post scores: A1 5 yes, A3 5 no (2 points = 28.6%), A5 5 yes, A6 4 no, A7 4 yes;
        # A2's is missing, so it is not counted.
        "responder_rate_after_session2_immediate": pytest.approx(3 / 5),
        "mean_pain_by_visit": {1: pytest.approx(45 / 7), 2: pytest.approx(26 / 5), 3: pytest.approx(12.9 / 3), 4: 4.0},
    }
    assert chronic["episodes"] == 5 and chronic["median_visits"] == 5.0
    assert chronic["mean_baseline_pain"] == pytest.approx(5.2)
    # Visit 3: C1 6 (no), C3 8 (no), C4 0 (no), C5 3 (yes: 5 -> 3 is 40%); C2 has no visit 3.
    assert (chronic["episodes_reaching_visit3"], chronic["responder_rate_after_session2"]) == (4, 0.25)
    # Visit-2 post: C1 5 no, C2 4 yes, C3 3 yes, C4 0 no, C5 3 yes.
    assert chronic["responder_rate_after_session2_immediate"] == pytest.approx(0.6)
    assert chronic["mean_pain_by_visit"][2] == pytest.approx(17 / 5)  # 7 + 5 + 2 + 0 + 3
    assert chronic["mean_pain_by_visit"][4] == pytest.approx(11 / 3)  # C1 5, C2 3, C5 3
    assert chronic["mean_pain_by_visit"][13] == 3.0
    assert summary["rule"] == {"name": "points-and-percent", "points": 2.0, "fraction": 0.3, "combine": "and"}
    # Intention to treat: acute A1-A5, A7 (A6 is active at 2 visits); improved at visit 3 A1, A3.
    assert (acute["episodes_eligible_itt"], acute["responder_rate_after_session2_itt"]) == (6, pytest.approx(1 / 3))
    # Chronic: all five (C3 is active but has 3 visits); only C5 improved; C2 has no visit 3: not improved.
    assert (chronic["episodes_eligible_itt"], chronic["responder_rate_after_session2_itt"]) == (5, pytest.approx(0.2))
    nobody = {"episodes": 0, "episodes_reaching_visit3": 0, "responder_rate_after_session2": None,
              "episodes_eligible_itt": 0, "responder_rate_after_session2_itt": None}
    assert acute["by_condition"] == {
        # A1-A4: A1, A3 of the three reaching visit 3; of four who started (A4 dropped at visit 1).
        "plantar_fasciitis": {"episodes": 4, "episodes_reaching_visit3": 3,
                              "responder_rate_after_session2": pytest.approx(2 / 3), "episodes_eligible_itt": 4,
                              "responder_rate_after_session2_itt": 0.5},
        # A5 dropped at visit 2 (not improved); A6 is active at 2 visits (not yet eligible).
        "heel_spur": {"episodes": 2, "episodes_reaching_visit3": 0, "responder_rate_after_session2": None,
                      "episodes_eligible_itt": 1, "responder_rate_after_session2_itt": 0.0},
        "pronation": {"episodes": 1, "episodes_reaching_visit3": 0, "responder_rate_after_session2": None,
                      "episodes_eligible_itt": 1, "responder_rate_after_session2_itt": 0.0},  # A7
        **{condition: nobody for condition in config.CONDITIONS
           if condition not in ("plantar_fasciitis", "heel_spur", "pronation")}}
    assert chronic["by_condition"]["bunion"] == {  # C1 reached visit 3 (7 -> 6, no); C2 did not: not improved
        "episodes": 2, "episodes_reaching_visit3": 1, "responder_rate_after_session2": 0.0,
        "episodes_eligible_itt": 2, "responder_rate_after_session2_itt": 0.0}
    assert chronic["by_condition"]["plantar_fasciitis"]["responder_rate_after_session2_itt"] == 1.0  # C5


ITT_KEYS = ("episodes_eligible_itt", "responder_rate_after_session2_itt", "by_condition")


def test_each_rule_changes_the_headline_as_worked_by_hand(clinic):
    # Visit-3 pre against baseline, among A1 (8 -> 5: 3 points, 37.5%), A2 (4 -> 3: 1 point, 25%),
    # A3 (7 -> 4.9: 2.1 points, 30%); chronic C1 (7 -> 6: 1, 14%), C3 (8 -> 8), C4 (0 -> 0),
    # C5 (5 -> 3: 2 points, 40%).
    expected = {"points-and-percent": (2 / 3, 1 / 4), "points-or-percent": (2 / 3, 1 / 4),
                "percent-30": (2 / 3, 1 / 4), "percent-50": (0, 0)}
    for name, (acute, chronic) in expected.items():
        summary = metrics.headline(clinic, Filter(rule=name))
        assert summary["rule"]["name"] == name
        by_course = summary["by_course"]
        assert by_course["acute"]["responder_rate_after_session2"] == pytest.approx(acute), name
        assert by_course["chronic"]["responder_rate_after_session2"] == pytest.approx(chronic), name
    # At the last visit the rules part: A2 4 -> 3 (25%), C2 6 -> 3 (50%), C1 7 -> 3 (57%), A5 9 -> 6
    # (33%), A1 8 -> 4 (50%), A3 7 -> 4.9 (30%), C5 5 -> 3 (40%), A6 5 -> 5, C3 8 -> 8, C4 0 -> 0.
    # percent-50: A1, C1, C2; points-or-percent adds nothing over points-and-percent here.
    half = metrics.course_outcomes(clinic, Filter(rule="percent-50")).set_index("course_type")
    assert half.loc["acute", "responders"] == 1  # A1
    assert half.loc["chronic", "responders"] == 2  # C1, C2
    default = metrics.course_outcomes(clinic, Filter(rule="points-and-percent")).set_index("course_type")
    assert default.loc["acute", "responders"] == 3  # A1, A3, A5


def test_summary_has_both_courses_when_one_is_empty(clinic):
    summary = metrics.headline(clinic, Filter(course_types=("acute",)))
    assert summary["by_course"]["chronic"] == {
        "episodes": 0, "median_visits": None, "mean_baseline_pain": None, "episodes_reaching_visit3": 0,
        "responder_rate_after_session2": None, "responder_rate_after_session2_immediate": None,
        "mean_pain_by_visit": {}, "episodes_eligible_itt": 0, "responder_rate_after_session2_itt": None,
        "by_condition": {condition: {"episodes": 0, "episodes_reaching_visit3": 0, "responder_rate_after_session2": None,
                                     "episodes_eligible_itt": 0, "responder_rate_after_session2_itt": None}
                         for condition in config.CONDITIONS}}
    # Nobody improving is a rate of 0.0, not None: C3 reached visit 3 without improving.
    assert metrics.summary_by_course(clinic, Filter(conditions=("tendonitis",)))["chronic"]["responder_rate_after_session2"] == 0.0


@pytest.mark.parametrize("last_date, visits, course_type, expected", [
    ("2025-03-07", 2, "acute", "active"),      # exactly 21 days before the latest session
    ("2025-03-06", 2, "acute", "lost_to_follow_up"),  # 22 days
    ("2025-01-06", 3, "acute", "completed"),   # reached 3, however long ago
    ("2025-03-20", 7, "chronic", "active"),    # 7 of 8, recent
    ("2025-01-20", 7, "chronic", "lost_to_follow_up"),
])
def test_course_status(clinic_db, last_date, visits, course_type, expected):
    last = dt.date.fromisoformat(last_date)
    dates = [(last - dt.timedelta(days=visits - k)).isoformat() for k in range(1, visits + 1)]
    con = clinic_db([*course("X", dates, [5] * visits, [4] * visits, course_type=course_type),
                     *course("LATEST", ["2025-03-28"], [5], [4])])
    assert metrics.client_episodes(con, search="CX")["status"].tolist() == [expected]


# --- 5-6. conditions and the home program -----------------------------------------------------

def test_condition_comparison(clinic):
    conditions = by_key(metrics.condition_comparison(clinic), "condition")
    assert list(conditions.index) == list(config.CONDITIONS)
    # plantar: A1, A2, A3, A4, C5; baselines 8, 4, 7, 6, 5; follow-up all but A4:
    # change 4 + 1 + 2.1 + 2 = 9.1 / 4, % 50 + 25 + 30 + 40 = 145 / 4, responders A1, A3, C5.
    plantar = conditions.loc["plantar_fasciitis"]
    assert plantar[["episodes", "mean_baseline_pain", "episodes_with_followup", "responders"]].tolist() == [5, 6, 4, 3]
    assert plantar["mean_change_points"] == pytest.approx(2.275)
    assert plantar["mean_change_pct"] == pytest.approx(36.25)
    assert plantar["responder_rate"] == 0.75
    assert plantar["median_sessions"] == 3.0  # 1, 3, 3, 4, 13
    # bunion: C1 (7 -> 3), C2 (6 -> 3): 57.14% and 50%; median of 8 and 5 visits.
    assert conditions.loc["bunion", "mean_change_pct"] == pytest.approx((400 / 7 + 50) / 2)
    assert conditions.loc["bunion", "median_sessions"] == 6.5
    # flat feet: C4's baseline 0 has a change in points (0) but none in %.
    assert conditions.loc["flat_feet", "mean_change_points"] == 0 and np.isnan(conditions.loc["flat_feet", "mean_change_pct"])
    # pronation: A7 has no later pre score, so no rate at all rather than 0%.
    assert conditions.loc["pronation", "episodes"] == 1 and np.isnan(conditions.loc["pronation", "responder_rate"])
    for nobody in ("hammer_toe", "mid_arch_pain", "shin_splints"):
        assert conditions.loc[nobody, "episodes"] == 0 and conditions.loc[nobody, "responders"] == 0


def test_home_program_effect(clinic):
    bands = by_key(metrics.home_program_effect(clinic), "course_type", "adherence_band")
    assert list(bands.loc["acute"].index) == ["0-25%", "25-50%", "50-75%", "75-100%", "not recorded"]
    # A2 20%; A3 50% (a boundary goes up); A1 (80 + 90) / 2 = 85%; A4-A7 recorded nothing.
    assert bands.loc[("acute", "0-25%"), ["episodes", "mean_change_pct", "responder_rate"]].tolist() == [1, 25, 0]
    assert bands.loc[("acute", "25-50%"), "episodes"] == 0
    assert bands.loc[("acute", "50-75%"), "responder_rate_after_session2"] == 1.0  # A3
    assert bands.loc[("acute", "75-100%"), "mean_adherence_pct"] == 85
    # not recorded: A4 (once), A5 (33.3%, yes), A6 (0%, no), A7 (no later pre) -> 2 with follow-up.
    unrecorded = bands.loc[("acute", "not recorded")]
    assert unrecorded[["episodes", "episodes_with_followup", "responder_rate", "episodes_reaching_visit3"]].tolist() == [4, 2, 0.5, 0]
    assert unrecorded["mean_change_pct"] == pytest.approx(100 / 6)
    assert np.isnan(unrecorded["responder_rate_after_session2"])
    # C1 25% on both recorded visits -> 25-50; C5 100% -> the last band.
    assert bands.loc[("chronic", "25-50%"), "episodes"] == 1
    assert bands.loc[("chronic", "75-100%"), "mean_change_pct"] == 40
    # C2 50%, C3 0%, C4 no % (baseline 0) -> 25; C3 and C4 reached visit 3, neither improved.
    assert bands.loc[("chronic", "not recorded"), "mean_change_pct"] == 25
    assert bands.loc[("chronic", "not recorded"), "responder_rate_after_session2"] == 0.0
    # All who started: acute "not recorded" is A4 (one visit), A5 and A7 (two, finished): three
    # drop-outs before visit 3, not improved, where no course reached visit 3; A6 is still running
    # with two visits, so it is not yet judged. Chronic "not recorded": C2 (no visit-3 score)
    # counts too, beside C3 and C4.
    assert unrecorded[["episodes_eligible_itt", "responder_rate_after_session2_itt"]].tolist() == [3, 0.0]
    assert bands.loc[("chronic", "not recorded"), "episodes_eligible_itt"] == 3
    assert bands.loc[("acute", "75-100%"), ["episodes_eligible_itt", "responder_rate_after_session2_itt"]].tolist() == [1, 1.0]
    assert bands.loc[("acute", "25-50%"), "episodes_eligible_itt"] == 0
    assert np.isnan(bands.loc[("acute", "25-50%"), "responder_rate_after_session2_itt"])


# --- 7. therapists ----------------------------------------------------------------------------

# therapist_outcome's last-visit measure judges the same finished courses with a later score.
LAST_VISIT = "improved_at_last_visit"


def _last_visit(con, f=ALL):
    return metrics.therapist_outcome(con, f, outcome=LAST_VISIT).therapists


def test_therapist_last_visit_measure_with_too_few_episodes(clinic):
    therapists = by_key(_last_visit(clinic), "therapist_id")
    # Judged (finished, baseline, later pre score): T1 A1 yes, A2 no, A5 yes, C1 yes, C4 no -> 3/5;
    # T2 A3, C2, C5 all yes (A4, A7 have no later score) -> 3/3; T3 only active episodes -> 0.
    # 8 episodes cannot support a 6-term model, so everyone is expected the clinic rate 6/8.
    t1 = therapists.loc["T1"]
    assert t1[["therapist_name", "episodes", "model"]].tolist() == ["Ann", 5, "overall rate"]
    assert (t1["observed"], t1["expected"]) == (0.6, pytest.approx(0.75))
    assert t1["difference"] == pytest.approx(-0.15)
    # Variance 5 * 0.75 * 0.25 = 0.9375 -> se sqrt(0.9375) / 5 = 0.19365 -> +/- 0.37955.
    assert (t1["ci_low"], t1["ci_high"]) == (pytest.approx(-0.52955, abs=1e-5), pytest.approx(0.22955, abs=1e-5))
    assert therapists.loc["T2", "difference"] == pytest.approx(0.25)
    assert therapists.loc["T3", "episodes"] == 0 and np.isnan(therapists.loc["T3", "observed"])
    assert set(therapists["judgement"]) == {"too few to judge"}
    assert not therapists["is_viewer"].any()


def test_therapist_outcome_for_a_viewing_therapist_hides_colleagues(clinic, monkeypatch):
    # Five colleagues' courses would be suppressed (test_suppression.py); here only the letters count.
    monkeypatch.setattr(config, "MIN_CELL_COURSES", 1)
    shown = _last_visit(clinic, Filter(viewer_therapist="T2"))
    assert shown["is_viewer"].tolist().count(True) == 1
    own = shown[shown["is_viewer"]].iloc[0]
    assert (own["therapist_id"], own["therapist_name"], own["episodes"]) == ("T2", "Ben", 3)
    others = shown[~shown["is_viewer"]]
    assert sorted(others["therapist_id"]) == ["Therapist A", "Therapist B"]
    assert (others["therapist_name"] == others["therapist_id"]).all()
    text = shown.to_string()
    assert not any(secret in text for secret in ("T1", "T3", "Ann", "Cat"))


def _judged_courses(prefix, therapist, responders, count, baseline=8, **extra):
    """`count` finished acute courses of 3 visits; the first `responders` drop from `baseline` to 2."""
    rows = []
    for number in range(count):
        last = 2 if number < responders else baseline
        rows += course(f"{prefix}{number}", weekly("2024-06-03", 3), [baseline, baseline, last], [5, 5, 5],
                       therapist_id=therapist, **extra)
    return rows


def test_therapist_judgement_with_enough_episodes(clinic_db):
    con = clinic_db([*_judged_courses("A", "T1", 20, 20), *_judged_courses("B", "T2", 0, 20),
                     *_judged_courses("C", "T3", 5, 10)])
    therapists = by_key(_last_visit(con), "therapist_id")
    # Identical case mix, so the logistic model is the overall rate 25/50 = 0.5 for everyone.
    assert set(therapists["model"]) == {"logistic"}
    assert therapists["expected"].tolist() == pytest.approx([0.5, 0.5, 0.5])
    # T1 20/20: 0.5 above, se sqrt(20 * 0.25) / 20 = 0.112 -> interval 0.28-0.72 -> better.
    assert therapists.loc["T1", "judgement"] == "better than expected"
    assert therapists.loc["T1", "ci_low"] == pytest.approx(0.5 - 1.959964 * 0.1118034, abs=1e-5)
    assert therapists.loc["T2", "judgement"] == "worse than expected"
    assert therapists.loc["T3", "judgement"] == "as expected"  # 5/10, exactly as expected


def test_therapist_model_falls_back_on_perfect_separation(clinic_db):
    # Baseline 9 always responds, baseline 4 never: logistic coefficients run off to infinity.
    rows = [*_judged_courses("A", "T1", 12, 12, baseline=9), *_judged_courses("B", "T2", 0, 12, baseline=4)]
    therapists = _last_visit(clinic_db(rows))
    assert set(therapists["model"]) == {"linear"}
    # The linear model reproduces the split exactly: each therapist is as expected.
    assert therapists["difference"].tolist() == pytest.approx([0, 0], abs=1e-9)


def test_therapist_filter_keeps_the_clinic_as_reference(clinic):
    # Choosing T2 shows T2 only, still measured against the whole clinic's 6/8.
    therapists = _last_visit(clinic, Filter(therapists=("T2",)))
    assert therapists["therapist_id"].tolist() == ["T2"]
    assert therapists["expected"].iloc[0] == pytest.approx(0.75)


# --- 8-9. over time, and a typical course -----------------------------------------------------

def test_monthly_trend(clinic):
    months = by_key(metrics.monthly_trend(clinic), "month")
    assert [m.strftime("%Y-%m") for m in months.index] == ["2024-12", "2025-01", "2025-02", "2025-03"]
    # Started: Dec C5; Jan A1, A2, A3, A4, A7, C1, C2; Feb A5, C4; Mar A6, C3.
    assert months["episodes_started"].tolist() == [1, 7, 2, 2]
    # Sessions held: Dec C5 5; Jan C5 4, A1 4, A2 3, A3 3, A4 1, A7 1, C1 4, C2 3 = 23;
    # Feb C5 4, A5 2, A7 1, C1 4, C2 1, C4 3 = 15; Mar A6 2, C3 3 = 5.
    assert months["sessions"].tolist() == [5, 23, 15, 5]
    # Visit 3 reached: Dec C5 (yes); Jan A1 (yes), A2, A3 (yes), C1; Feb C4; Mar C3.
    assert months["episodes_reaching_visit3"].tolist() == [1, 4, 1, 1]
    assert months["responder_rate_after_session2"].tolist() == [1.0, 0.5, 0.0, 0.0]


def test_monthly_trend_fills_empty_months(clinic_db):
    con = clinic_db([*course("X", ["2025-01-15"], [5], [4]), *course("Y", ["2025-04-02"], [5], [4])])
    months = metrics.monthly_trend(con)
    assert months["episodes_started"].tolist() == [1, 0, 0, 1]
    assert months["responder_rate_after_session2"].isna().all()


def test_typical_course_falls_back_to_course_type(clinic, monkeypatch):
    monkeypatch.setitem(metrics.RULE_PARAMS, "min_visit_peers", 1)  # this tiny clinic has 5 peers
    typical = by_key(metrics.typical_course(clinic, "acute", "plantar_fasciitis", 10, exclude_episode="A1"), "visit_number")
    # Finished acute peers with a baseline, A1 left out and A6 active: A2, A3, A4, A5, A7.
    # Only 3 of them are plantar (< 30), so the course type is used.
    assert set(typical["peer_group"]) == {"course_type"} and set(typical["peers"]) == {5}
    assert typical.loc[1, ["n", "p25_pct", "p50_pct", "p75_pct"]].tolist() == [5, 100, 100, 100]
    # Visit 2: A5 6/9 = 66.7%, A2 3/4 = 75%, A3 6/7 = 85.7% (A7 missing) -> linear percentiles
    # 66.7 + 0.5 * 8.3 = 70.83, 75, 75 + 0.5 * 10.7 = 80.36; scaled to a baseline of 10.
    assert typical.loc[2, "n"] == 3
    assert typical.loc[2, "p25_pct"] == pytest.approx((200 / 3 + 75) / 2)
    assert typical.loc[2, "p75_pct"] == pytest.approx((75 + 600 / 7) / 2)
    assert typical.loc[2, "p50_pain"] == 7.5
    # Visit 3: A2 75%, A3 70% -> 71.25, 72.5, 73.75.
    assert typical.loc[3, ["p25_pct", "p50_pct", "p75_pct"]].tolist() == pytest.approx([71.25, 72.5, 73.75])


def test_typical_course_by_condition_when_enough_peers(clinic, monkeypatch):
    monkeypatch.setitem(metrics.RULE_PARAMS, "min_peers", 3)
    monkeypatch.setitem(metrics.RULE_PARAMS, "min_visit_peers", 1)
    typical = by_key(metrics.typical_course(clinic, "acute", "plantar_fasciitis", None, exclude_episode="A1"), "visit_number")
    # A2, A3, A4 are 3 plantar peers: enough now. Visit 2: A2 75%, A3 85.7%.
    assert set(typical["peer_group"]) == {"condition"} and set(typical["peers"]) == {3}
    assert typical.loc[2, "p50_pct"] == pytest.approx((75 + 600 / 7) / 2)
    assert typical["p50_pain"].isna().all()  # no baseline to scale to


# --- 10. data quality -------------------------------------------------------------------------

def test_data_quality(clinic):
    checks = by_key(metrics.data_quality(clinic), "check")["count"].to_dict()
    assert checks == {
        "missing_visits": 1,      # C2 has no visit 3
        "missing_pre": 1,         # A7 visit 2
        "missing_post": 1,        # A2 visit 2
        "implausible_jump": 2,    # C3: 8 -> 2 at visit 2, 2 -> 8 at visit 3
        "relief_negative": 1,     # C3 visit 2: 2 before, 3 after
        "same_date": 1,           # C3 visits 2 and 3 both 2025-03-26
        # Issue #15 added these two. Visits after the first without adherence: A1 1, A2 2, A3 1,
        # A5, A6, A7 1 each, C1 5 (recorded at 2 and 4 of 8), C2 3, C3 2, C4 2, C5 11 (at 5 of 13).
        "missing_adherence": 30,
        "missing_onset": 12,      # no course above gives an onset date
        "dates_out_of_order": 0,
    }
    assert metrics.data_quality_details(clinic, ALL, "missing_visits").values.tolist() == [
        ["C2", 3, "no record of visit 3 (highest visit 5)"]]
    jumps = metrics.data_quality_details(clinic, ALL, "implausible_jump")
    assert jumps["detail"].tolist() == ["pain before the session went from 8 at visit 1 to 2 (-6 points)",
                                        "pain before the session went from 2 at visit 2 to 8 (+6 points)"]
    assert metrics.data_quality_details(clinic, ALL, "same_date")["detail"].tolist() == [
        "visit 3 on 2025-03-26, the same date as visit 2"]
    assert metrics.data_quality_details(clinic, ALL, "missing_adherence").query("episode_id == 'A2'")[
        "detail"].tolist() == ["no stretching adherence for the week before visit 2",
                               "no stretching adherence for the week before visit 3"]
    assert metrics.data_quality_details(clinic, ALL, "missing_onset").iloc[0].tolist() == [
        "A1", 1, "no onset date (when the pain began) recorded"]
    # A therapist sees only their own episodes' problems: T1's A1, A2, A5, C1 and C4.
    own = by_key(metrics.data_quality(clinic, Filter(viewer_therapist="T1")), "check")["count"]
    assert own.drop(["missing_adherence", "missing_onset"]).sum() == 1  # A2's missing post score
    assert (own["missing_adherence"], own["missing_onset"]) == (1 + 2 + 1 + 5 + 2, 5)
    with pytest.raises(ValueError, match="check must be one of"):
        metrics.data_quality_details(clinic, ALL, "nonsense")


def test_data_quality_jump_skips_missing_scores_and_dates_out_of_order(clinic_db):
    con = clinic_db(course("X", ["2025-01-06", "2025-01-13", "2025-01-10", "2025-01-20"], [3, None, 9, 8.5], [2, 2, 8, 8]))
    # Visit 3's 9 follows visit 1's 3 (visit 2 has no pre score): +6; 9 -> 8.5 is fine.
    assert metrics.data_quality_details(con, ALL, "implausible_jump")["detail"].tolist() == [
        "pain before the session went from 3 at visit 1 to 9 (+6 points)"]
    assert metrics.data_quality_details(con, ALL, "dates_out_of_order")["detail"].tolist() == [
        "visit 3 dated 2025-01-10, before visit 2 on 2025-01-13"]


def test_data_quality_counts_are_the_findings_listed(clinic, clinic_db):
    """data_quality sums per-episode counts kept in episode_facts (schema.sql) while the details
    list the sessions found by DATA_QUALITY_CHECKS' conditions: the two agree for every check."""
    out_of_order = clinic_db(course("X", ["2025-01-06", "2025-01-13", "2025-01-10", "2025-01-20"],
                                    [3, None, 9, 8.5], [2, 2, 8, 8]))
    for con in (clinic, out_of_order):
        for f in (ALL, Filter(course_types=("acute",)), Filter(viewer_therapist="T1")):
            counts = by_key(metrics.data_quality(con, f), "check")["count"].to_dict()
            listed = {check: len(metrics.data_quality_details(con, f, check)) for check in metrics.DATA_QUALITY_CHECKS}
            assert counts == listed, (f, counts, listed)
    assert by_key(metrics.data_quality(out_of_order), "check")["count"].to_dict()["dates_out_of_order"] == 1


# --- 11-12. one client at a time --------------------------------------------------------------

def test_client_episodes_search_and_viewer(clinic):
    found = metrics.client_episodes(clinic, search="jon")
    assert found["episode_id"].tolist() == ["C4", "A2"]  # most recently seen first
    assert metrics.client_episodes(clinic, search="LOPEZ")["client_name"].tolist() == ["Maria Lopez"]
    assert metrics.client_episodes(clinic, search="ca5")["episode_id"].tolist() == ["A5"]
    assert metrics.client_episodes(clinic, search="%").empty  # a typed % is a character, not a wildcard
    assert len(metrics.client_episodes(clinic)) == 12
    own = metrics.client_episodes(clinic, Filter(viewer_therapist="T3"))
    assert sorted(own["episode_id"]) == ["A6", "C3"]
    a1 = metrics.client_episodes(clinic, search="maria").iloc[0]
    assert (a1["visits"], a1["status"], str(a1["start_date"])[:10], str(a1["last_date"])[:10]) == (
        4, "completed", "2025-01-06", "2025-01-27")


def test_episode_progress(clinic):
    progress = metrics.episode_progress(clinic, "A2")
    assert list(progress.columns) == list(metrics.EPISODE_PROGRESS_COLUMNS)
    assert progress["pain_pre"].tolist() == [4, 3, 3]
    assert progress["pain_post"].isna().tolist() == [False, True, False]
    assert progress["stretching_adherence_pct"].tolist()[0] == 20
    assert metrics.episode_progress(clinic, "A2", Filter(viewer_therapist="T2")).empty  # T1's client
    assert metrics.episode_progress(clinic, "nope").empty


def test_episode_summary(clinic):
    summary = metrics.episode_summary(clinic, "A1")
    assert summary == {
        "episode_id": "A1", "client_id": "CA1", "therapist_id": "T1", "course_type": "acute",
        "condition": "plantar_fasciitis", "status": "completed", "discharge_reason": None, "visits": 4,
        "recommended_min": 3, "recommended_max": 5, "sessions_vs_range": "within",
        "baseline": 8.0, "latest_pain": 4.0, "latest_pain_visit": 4, "change_points": 4.0, "change_pct": 50.0,
        "improved_at_visit": 3,  # visit 2's 6 is only 25% below 8; visit 3's 5 is 37.5%
        "psfs_baseline": 3.0, "psfs_latest": 6.0, "psfs_improved": True,  # function up 3 points
    }
    a4 = metrics.episode_summary(clinic, "A4")  # one visit: nothing to compare yet
    assert (a4["change_points"], a4["improved_at_visit"], a4["status"]) == (None, None, "lost_to_follow_up")
    assert metrics.episode_summary(clinic, "A1", Filter(viewer_therapist="T3")) == {}


# --- 13. overview tiles -----------------------------------------------------------------------

def test_kpis_without_a_period(clinic):
    tiles = by_key(metrics.kpis(clinic), "metric")
    assert tiles["value"].to_dict() == pytest.approx({
        "clients": 11, "episodes": 12, "sessions": 48,
        "improved_after_session2_acute": 2 / 3, "improved_after_session2_chronic": 0.25,
        "median_sessions_acute": 2, "median_sessions_chronic": 5,
        # Not active: 10 (A6, C3 are). Completed A1, A2, A3, C1, C5; lost A4, A5, A7, C2, C4.
        "completion_rate": 0.5, "dropout_rate": 0.5,
        # All who started: acute A1-A5, A7 (A6 is active at 2 visits); improved at visit 3 A1, A3.
        # Chronic C1-C5 (C3 is active but reached visit 3); improved C5 only (C2 has no visit-3 score).
        "improved_after_session2_itt_acute": 2 / 6, "improved_after_session2_itt_chronic": 1 / 5,
        # Straight after session 2: acute A1, A5, A7 of A1, A3, A5, A6, A7; chronic C2, C3, C5 of all five.
        "improved_after_session2_immediate_acute": 3 / 5, "improved_after_session2_immediate_chronic": 3 / 5,
        # Dropped / finished per course type: acute A4, A5, A7 of 6; chronic C2, C4 of 4.
        "dropout_rate_acute": 0.5, "dropout_rate_chronic": 0.5})
    assert tiles["previous"].isna().all() and tiles["change"].isna().all()
    assert tiles["n"].to_dict() == {
        "clients": 12, "episodes": 12, "sessions": 12, "improved_after_session2_acute": 3,
        "improved_after_session2_itt_acute": 6, "improved_after_session2_immediate_acute": 5,
        "median_sessions_acute": 7, "dropout_rate_acute": 6, "improved_after_session2_chronic": 4,
        "improved_after_session2_itt_chronic": 5, "improved_after_session2_immediate_chronic": 5,
        "median_sessions_chronic": 5, "dropout_rate_chronic": 4, "completion_rate": 10, "dropout_rate": 10}
    assert not tiles["compared"].any()


def test_kpis_compare_with_the_previous_period(clinic):
    february = Filter(start=dt.date(2025, 2, 1), end=dt.date(2025, 2, 28))
    tiles = by_key(metrics.kpis(clinic, february), "metric")
    # February starts: A5, C4 (5 sessions, both lost to follow-up). The 28 days before (Jan 4-31): A1, A2,
    # A3, A4, A7, C1, C2 (25 sessions; completed A1, A2, A3, C1, lost to follow-up A4, A7, C2).
    assert tiles.loc["episodes", ["value", "previous", "change"]].tolist() == [2, 7, -5]
    # n for both periods; 7 earlier courses are fewer than config.MIN_COMPARISON_COURSES (20),
    # so no change is to be shown.
    assert tiles.loc["episodes", ["n", "previous_n", "compared"]].tolist() == [2, 7, False]
    assert tiles.loc["sessions", ["value", "previous"]].tolist() == [5, 25]
    assert tiles.loc["completion_rate", ["value", "previous"]].tolist() == pytest.approx([0, 4 / 7])
    # No February acute episode reached visit 3: no value, so no change either.
    acute = tiles.loc["improved_after_session2_acute"]
    assert np.isnan(acute["value"]) and acute["previous"] == pytest.approx(2 / 3) and np.isnan(acute["change"])


# --- filters, empty results, threads, docs ----------------------------------------------------

@pytest.mark.parametrize("chosen, expected", [
    (Filter(start=dt.date(2025, 2, 1), end=dt.date(2025, 2, 28)), {"A5", "C4"}),
    (Filter(start=dt.date(2025, 3, 1)), {"A6", "C3"}),
    (Filter(end=dt.date(2024, 12, 31)), {"C5"}),
    (Filter(clinics=("north",)), {"C1", "C2"}),
    (Filter(therapists=("T3",)), {"A6", "C3"}),
    (Filter(conditions=("heel_spur", "pronation")), {"A5", "A6", "A7"}),
    (Filter(course_types=("chronic",)), {"C1", "C2", "C3", "C4", "C5"}),
    (Filter(severities=("severe",)), {"A5"}),
])
def test_each_filter_field_restricts(clinic, chosen, expected):
    assert set(metrics.client_episodes(clinic, chosen)["episode_id"]) == expected
    assert metrics.headline(clinic, chosen)["episodes"] == len(expected)
    assert metrics.course_outcomes(clinic, chosen)["episodes"].sum() == len(expected)
    assert metrics.monthly_trend(clinic, chosen)["episodes_started"].sum() == len(expected)
    assert metrics.condition_comparison(clinic, chosen)["episodes"].sum() == len(expected)


def test_viewer_does_not_restrict_clinic_wide_figures(clinic):
    assert metrics.headline(clinic, Filter(viewer_therapist="T3"))["episodes"] == 12
    assert len(metrics.client_episodes(clinic, Filter(viewer_therapist="T3"))) == 2


FRAME_METRICS = {
    "pain_trajectory": (metrics.pain_trajectory, ["course_type", *metrics.TRAJECTORY_COLUMNS]),
    "pain_trajectory_relative": (lambda con, f: metrics.pain_trajectory(con, f, relative=True),
                                 ["course_type", *metrics.TRAJECTORY_COLUMNS]),
    "responder_curve": (metrics.responder_curve, metrics.RESPONDER_CURVE_COLUMNS),
    "time_to_improvement": (metrics.time_to_improvement, metrics.KAPLAN_MEIER_COLUMNS),
    "median_visits_to_improvement": (metrics.median_visits_to_improvement, metrics.MEDIAN_VISITS_COLUMNS),
    "course_outcomes": (metrics.course_outcomes, metrics.COURSE_OUTCOME_COLUMNS),
    "condition_comparison": (metrics.condition_comparison, metrics.CONDITION_COLUMNS),
    "home_program_effect": (metrics.home_program_effect, metrics.HOME_PROGRAM_COLUMNS),
    "therapist_outcome": (lambda con, f: metrics.therapist_outcome(con, f).therapists, metrics.OUTCOME_COLUMNS),
    "therapist_outcome_limits": (lambda con, f: metrics.therapist_outcome(con, f).limits, metrics.OUTCOME_LIMIT_COLUMNS),
    "monthly_trend": (metrics.monthly_trend, metrics.MONTHLY_COLUMNS),
    "typical_course": (lambda con, f: metrics.typical_course(con, "acute", "bunion", 6, f), metrics.TYPICAL_COURSE_COLUMNS),
    "data_quality": (metrics.data_quality, metrics.DATA_QUALITY_COLUMNS),
    "data_quality_details": (lambda con, f: metrics.data_quality_details(con, f, "missing_post"),
                             metrics.DATA_QUALITY_DETAIL_COLUMNS),
    "client_episodes": (metrics.client_episodes, metrics.CLIENT_EPISODE_COLUMNS),
    "episode_progress": (lambda con, f: metrics.episode_progress(con, "A1", f), metrics.EPISODE_PROGRESS_COLUMNS),
    "kpis": (metrics.kpis, metrics.KPI_COLUMNS),
    "durability": (metrics.durability, metrics.DURABILITY_COLUMNS),
    "durability_by_stretching": (lambda con, f: metrics.durability(con, f, by="stretching"), metrics.DURABILITY_COLUMNS),
    "recurrence": (metrics.recurrence, metrics.RECURRENCE_COLUMNS),
    "recurrence_table": (metrics.recurrence_table, metrics.RECURRENCE_TABLE_COLUMNS),
    "followup_response": (metrics.followup_response, metrics.FOLLOWUP_RESPONSE_COLUMNS),
    "responder_comparison": (metrics.responder_comparison, metrics.RESPONDER_COMPARISON_COLUMNS),
    "pgic_summary": (metrics.pgic_summary, metrics.PGIC_COLUMNS),
    "function_responders": (metrics.function_responders, metrics.FUNCTION_RESPONDER_COLUMNS),
    "episode_followups": (lambda con, f: metrics.episode_followups(con, "A1", f), metrics.EPISODE_FOLLOWUP_COLUMNS),
}


@pytest.mark.parametrize("name", FRAME_METRICS)
@pytest.mark.parametrize("database", ["nothing matches", "empty database"])
def test_empty_result_is_an_empty_frame_with_the_documented_columns(request, clinic_db, name, database):
    con = request.getfixturevalue("duckdb_clinic") if database == "nothing matches" else clinic_db()
    function, columns = FRAME_METRICS[name]
    frame = function(con, Filter(conditions=("hammer_toe",)))
    assert frame.empty
    assert list(frame.columns) == list(columns)


def test_empty_result_for_dict_metrics(clinic_db):
    con = clinic_db()
    assert metrics.headline(con)["episodes"] == 0
    assert metrics.episode_summary(con, "A1") == {}
    assert metrics.therapist_summary(con) == {}


def test_metrics_are_safe_from_several_threads(clinic):
    expected = metrics.course_outcomes(clinic)
    barrier = threading.Barrier(4)

    def compute(_):
        barrier.wait()
        return metrics.course_outcomes(clinic)

    with ThreadPoolExecutor(4) as pool:
        for frame in pool.map(compute, range(4)):
            pd.testing.assert_frame_equal(frame, expected)


# Every metric (a public function of a metrics topic module taking `con` first) and the rule helper.
PUBLIC = [metrics.improvement_sql] + metrics.public_metrics()


@pytest.mark.parametrize("function", PUBLIC, ids=lambda function: function.__name__)
def test_docs_quote_every_definition(function):
    normalise = lambda text: " ".join(text.split())  # noqa: E731
    assert normalise(function.__doc__) in normalise(DOCS.read_text(encoding="utf-8"))


def test_client_episodes_limit_keeps_the_order_and_counts_every_match(clinic_db):
    # Three episodes last seen on different days: the newest first, and a limit of 2 keeps the
    # two newest while `matches` still says 3.
    con = clinic_db([visit("E1", 1, "2025-01-06", 7, 5), visit("E2", 1, "2025-01-08", 7, 5),
                     visit("E3", 1, "2025-01-07", 7, 5)])
    every = metrics.client_episodes(con)
    first_two = metrics.client_episodes(con, limit=2)
    assert list(every.episode_id) == ["E2", "E3", "E1"]
    assert list(first_two.episode_id) == ["E2", "E3"] and list(first_two.matches) == [3, 3]


def test_typical_course_band_stops_where_fewer_than_ten_peers_have_a_score(clinic_db):
    # Twelve completed acute courses (3+ visits, baseline 8): all twelve have visits 1-3, only
    # nine have visits 4 and 5. Visit 4 rests on 9 peers (< 10), so the band stops after visit 3.
    rows = []
    for number in range(12):
        visits = 5 if number < 9 else 3
        dates = [f"2025-01-{day:02d}" for day in range(1, 1 + visits)]
        rows += course(f"P{number}", dates, [8] * visits, [7] * visits)
    con = clinic_db(rows)
    typical = metrics.typical_course(con, "acute", "plantar_fasciitis", 8)
    assert typical["visit_number"].tolist() == [1, 2, 3]
    assert typical["n"].tolist() == [12, 12, 12]


def test_intention_to_treat_columns_count_drop_outs_and_leave_out_courses_still_running(clinic_db, monkeypatch):
    from analytics.metrics import query

    monkeypatch.setattr(config, "today", lambda: dt.date(2025, 3, 31))
    con = clinic_db([
        # improved at visit 3: 8 -> 5 (3 points, 37.5%)
        *course("IMPROVED", weekly("2025-01-06", 3), [8, 6, 5], [6, 5, 4]),
        # dropped after visit 2 (last seen 2025-01-14, long before 2025-03-31): not improved
        *course("DROPPED", weekly("2025-01-07", 2), [8, 7], [6, 6]),
        # still active with 2 visits (last seen 2025-03-24): not yet known, not eligible
        *course("RUNNING", ["2025-03-17", "2025-03-24"], [8, 7], [6, 6]),
        # a chronic course still active at visit 3: known, not improved (8 -> 7)
        *course("RUNNING3", ["2025-03-10", "2025-03-17", "2025-03-24"], [8, 7, 7], [6, 6, 6], course_type="chronic"),
        # no baseline: not eligible
        *course("NOBASE", weekly("2025-01-08", 3), [None, 6, 5], [5, 5, 4]),
    ])
    sql, params = query.episodes_cte(ALL)
    frame = query.run(con, f"WITH {sql} SELECT episode_id, status, eligible_itt, improved_after_session2_itt "
                           "FROM chosen_episodes_itt ORDER BY episode_id", params)
    rows = {row.episode_id: (row.status, bool(row.eligible_itt),
                             None if pd.isna(row.improved_after_session2_itt) else bool(row.improved_after_session2_itt))
            for row in frame.itertuples()}
    assert rows == {"DROPPED": ("lost_to_follow_up", True, False), "IMPROVED": ("completed", True, True),
                    "NOBASE": ("completed", False, None), "RUNNING": ("active", False, None),
                    "RUNNING3": ("active", True, False)}


def test_condition_by_course_keeps_acute_and_chronic_apart_with_wilson_intervals(clinic):
    table = by_key(metrics.condition_by_course(clinic), "course_type", "condition")
    assert list(table.reset_index().columns) == list(metrics.CONDITION_BY_COURSE_COLUMNS)
    assert len(table) == 2 * len(config.CONDITIONS)  # both course types, every condition
    plantar = table.loc[("acute", "plantar_fasciitis")]
    # A1-A4 all started (A4 dropped after visit 1); improved at visit 3: A1, A3. Last visit: A1, A3 of
    # A1-A3 (A4 has no later score).
    assert plantar[["episodes", "episodes_eligible_itt", "improved_itt"]].tolist() == [4, 4, 2]
    assert plantar["responder_rate_after_session2_itt"] == 0.5
    # Wilson for 2 of 4: centre 0.5, half-width 1.96 * sqrt(0.0625 + 0.060025) / 1.9604 = 0.34997.
    assert (plantar["itt_ci_low"], plantar["itt_ci_high"]) == (pytest.approx(0.15003, abs=1e-4),
                                                             pytest.approx(0.84997, abs=1e-4))
    assert (plantar["episodes_with_followup"], plantar["responders"]) == (3, 2)
    heel = table.loc[("acute", "heel_spur")]
    # A5 dropped at visit 2 (not improved at visit 3); A6 is active at 2 visits, not judged yet.
    assert heel[["episodes", "episodes_eligible_itt", "improved_itt"]].tolist() == [2, 1, 0]
    assert heel["responder_rate_after_session2_itt"] == 0.0
    # Chronic plantar fasciitis is C5 alone (5 -> 3 at visit 3): apart from the acute courses.
    assert table.loc[("chronic", "plantar_fasciitis"), ["episodes", "improved_itt"]].tolist() == [1, 1]
    nobody = table.loc[("acute", "bunion")]
    assert nobody["episodes"] == 0 and np.isnan(nobody["responder_rate_after_session2_itt"])
    assert np.isnan(nobody["itt_ci_low"])
    assert metrics.condition_by_course(clinic, Filter(start=dt.date(2030, 1, 1))).empty


def test_intention_to_treat_by_hand_a_drop_out_an_active_course_and_no_baseline(clinic_db):
    con = clinic_db([
        # No visit-1 pre-session pain: nothing to judge against, never eligible.
        *course("N1", weekly("2025-01-06", 3), [None, 6, 3], [5, 4, 2]),
        # Dropped after visit 2 (8 -> 4 there, but no visit 3): eligible, not improved.
        *course("D1", weekly("2025-01-07", 2), [8, 4], [6, 3]),
        # Active (last visit on the latest date) with 2 visits: not known yet, not eligible.
        *course("R1", ["2025-03-21", "2025-03-28"], [7, 6], [6, 5]),
        # Completed and improved at visit 3 (8 -> 5: 3 points, 37.5%).
        *course("K1", weekly("2025-01-08", 3), [8, 6, 5], [6, 5, 4]),
        # Completed, but no pre-session pain at visit 3: eligible, not improved.
        *course("K2", weekly("2025-01-09", 3), [6, 5, None], [5, 4, 3]),
        # Chronic, active with 3 visits: eligible, improved at visit 3 (6 -> 3).
        *course("R2", ["2025-03-14", "2025-03-21", "2025-03-28"], [6, 5, 3], [5, 4, 2], course_type="chronic"),
    ])
    acute = metrics.summary_by_course(con)["acute"]
    assert (acute["episodes"], acute["episodes_eligible_itt"]) == (5, 3)  # D1, K1, K2
    assert acute["responder_rate_after_session2_itt"] == pytest.approx(1 / 3)  # K1
    assert (acute["episodes_reaching_visit3"], acute["responder_rate_after_session2"]) == (1, 1.0)  # K1 alone
    chronic = metrics.summary_by_course(con)["chronic"]
    assert (chronic["episodes_eligible_itt"], chronic["responder_rate_after_session2_itt"]) == (1, 1.0)
    tiles = by_key(metrics.kpis(con), "metric")
    assert tiles.loc["improved_after_session2_itt_acute", ["value", "n"]].tolist() == [pytest.approx(1 / 3), 3]
    assert tiles.loc["improved_after_session2_acute", ["value", "n"]].tolist() == [1.0, 1]
    # Drop-out rate over finished courses: D1 of N1, D1, K1, K2 (R1 is still running).
    assert tiles.loc["dropout_rate_acute", ["value", "n"]].tolist() == [0.25, 4]
    plantar = by_key(metrics.condition_by_course(con), "course_type", "condition").loc[("acute", "plantar_fasciitis")]
    assert plantar[["episodes_eligible_itt", "improved_itt"]].tolist() == [3, 1]
    # D1's 50% drop at visit 2 is not a visit-3 score under any rule.
    assert metrics.summary_by_course(con, Filter(rule="percent-30"))["acute"]["responder_rate_after_session2_itt"] == \
        pytest.approx(1 / 3)
