"""The sample clinic's planted differences in home stretching and severity (analytics/sample.py,
listed in sample_data/README.md under "Planted differences"), recovered by the measures the pages
show, on a generated clinic large enough to tell (40,000 sessions, 7,085 courses)."""
from __future__ import annotations

import pytest

from analytics import config, db, metrics, sample, visit_log
from analytics.filters import Filter

SESSIONS = 40_000
BANDS = list(metrics.ADHERENCE_BAND_LABELS)  # 0-25% ... 75-100%, without "not recorded"


@pytest.fixture(scope="module")
def large_clinic(tmp_path_factory):
    con = db.connect(tmp_path_factory.mktemp("planted") / "clinic.duckdb")
    visit_log.import_frames(con, [("generated", sample.generate_visit_log(SESSIONS, seed=sample.DEFAULT_SEED))])
    yield con
    con.close()


@pytest.mark.parametrize("course_type", config.COURSE_TYPES)
def test_clients_who_stretch_more_improve_more_on_the_home_program_page(large_clinic, course_type):
    # Planted: each week's stretching multiplies the dose of the session before it by up to
    # exp(+-ADHERENCE_RATE_EFFECT) (sample.py), so every band up improves more.
    effect = metrics.home_program_effect(large_clinic, Filter(course_types=(course_type,))).set_index("adherence_band")
    bands = effect.loc[BANDS]
    assert (bands["episodes_reaching_visit3"] >= 250).all()
    after_two = bands["responder_rate_after_session2"].tolist()
    assert after_two == sorted(after_two), after_two  # rises band by band
    # The top band against the bottom: at least 15 points more improved after the second session
    # (38 acute, 25 chronic on this clinic), well beyond chance with 250+ courses a band.
    assert after_two[-1] - after_two[0] >= 0.15
    assert bands["responder_rate"].iloc[-1] > bands["responder_rate"].iloc[0]


def test_milder_cases_improve_sooner_though_a_raw_point_change_says_the_opposite(large_clinic):
    # Planted: severity multiplies the speed of response (mild 1.3, moderate 1.0, severe 0.75)
    # and sets the baseline (about 5.6, 7.0 and 8.3 points).
    by_severity = {severity: Filter(severities=(severity,)) for severity in config.SEVERITIES}
    baseline, improved_by_3, chronic_by_5, points = {}, {}, {}, {}
    for severity, f in by_severity.items():
        trajectory = metrics.pain_trajectory(large_clinic, f)
        first = trajectory[(trajectory["phase"] == "pre") & (trajectory["visit_number"] == 1)].set_index("course_type")
        baseline[severity] = first["mean"]
        curve = metrics.improvement_all_started(large_clinic, f).set_index(["course_type", "visit_number"])["share"]
        improved_by_3[severity] = (curve[("acute", 3)], curve[("chronic", 3)])
        chronic_by_5[severity] = curve[("chronic", 5)]
        points[severity] = metrics.course_outcomes(large_clinic, f).set_index("course_type")["mean_change_points"]
    mild, moderate, severe = config.SEVERITIES
    for course_type in config.COURSE_TYPES:
        # The case mix: the more severe, the higher the pain at the first visit.
        assert baseline[mild][course_type] + 1 < baseline[moderate][course_type] < baseline[severe][course_type] - 1
        # A raw comparison of points of pain lost over the course ranks them the other way round:
        # more pain to lose, so more points lost, though the severe respond more slowly.
        assert points[mild][course_type] < points[moderate][course_type] < points[severe][course_type]
    # The pages' measure (improved by visit 3 among all who started, Courses page) recovers the
    # planted order in both course types, and chronic courses keep it at visit 5.
    for position in (0, 1):
        shares = [improved_by_3[severity][position] for severity in config.SEVERITIES]
        assert shares == sorted(shares, reverse=True), shares
        assert shares[0] - shares[-1] >= 0.08
    assert chronic_by_5[mild] > chronic_by_5[moderate] > chronic_by_5[severe]
