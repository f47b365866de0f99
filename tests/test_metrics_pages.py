"""The two metrics added for the manager pages: sessions attended and immediate relief."""
import pytest

from analytics import metrics
from analytics.filters import Filter
from conftest import visit


@pytest.fixture
def three_courses(clinic_db):
    return clinic_db([
        # E1 acute, 3 visits: relief 2, 1, 3 (pre - post); E2 acute, 1 visit, relief 4, visit 1 only
        visit("E1", 1, "2025-03-03", 8, 6), visit("E1", 2, "2025-03-10", 6, 5), visit("E1", 3, "2025-03-17", 5, 2),
        visit("E2", 1, "2025-03-04", 7, 3),
        # E3 chronic, visits 1 and 2, no score after visit 2
        visit("E3", 1, "2025-03-05", 6, 6, course_type="chronic"),
        visit("E3", 2, "2025-03-12", 5, None, course_type="chronic"),
    ])


def test_sessions_attended_counts_finished_courses_by_highest_visit(clinic_db):
    # The latest session is 2025-03-17. E1 (3 acute visits) completed; E4 (one acute visit on
    # 6 January, not seen since) was lost to follow-up; E5 (5 chronic visits, last 10 February)
    # too. E2 (one acute visit, 4 March) and E3 (two chronic visits, 12 March) are still running,
    # short of their minimum: counted at their visits so far they would look like courses that
    # ended below the range, so they are left out.
    con = clinic_db([
        visit("E1", 1, "2025-03-03", 8, 6), visit("E1", 2, "2025-03-10", 6, 5), visit("E1", 3, "2025-03-17", 5, 2),
        visit("E2", 1, "2025-03-04", 7, 3),
        visit("E3", 1, "2025-03-05", 6, 6, course_type="chronic"), visit("E3", 2, "2025-03-12", 5, None, course_type="chronic"),
        visit("E4", 1, "2025-01-06", 7, 5),
        *[visit("E5", k, f"2025-01-{6 + 7 * (k - 1):02d}" if k < 5 else "2025-02-10", 6, 5, course_type="chronic")
          for k in range(1, 6)],
    ])
    statuses = dict(metrics.client_episodes(con)[["episode_id", "status"]].values.tolist())
    assert statuses == {"E1": "completed", "E2": "active", "E3": "active", "E4": "lost_to_follow_up",
                        "E5": "lost_to_follow_up"}
    frame = metrics.sessions_attended(con)
    assert frame[["course_type", "visits", "episodes"]].values.tolist() == [
        ["acute", 1, 1], ["acute", 3, 1], ["chronic", 5, 1]]
    assert frame[["min_sessions", "max_sessions"]].values.tolist() == [[3, 5], [3, 5], [8, 12]]
    assert metrics.sessions_attended(con, Filter(course_types=("chronic",)))["episodes"].tolist() == [1]


def test_immediate_relief_is_pre_minus_post_within_sessions_with_both_scores(three_courses):
    frame = metrics.immediate_relief(three_courses).set_index(["course_type", "visit_number"])
    # acute visit 1: E1 8-6 = 2, E2 7-3 = 4 -> mean 3, 2 sessions, t(1) = 12.71, sd 1.414 -> ±12.71
    assert frame.loc[("acute", 1), "sessions"] == 2
    assert frame.loc[("acute", 1), "mean_relief"] == 3
    assert frame.loc[("acute", 1), "ci_low"] == pytest.approx(3 - 12.706 * 1.4142 / 1.4142, abs=0.01)
    # acute visit 3: E1 5-2 = 3, one session -> no interval
    assert frame.loc[("acute", 3), "mean_relief"] == 3 and frame[["ci_low"]].loc[("acute", 3)].isna().all()
    # chronic visit 2 has no post score -> only visit 1 (6-6 = 0)
    assert frame.loc["chronic"].index.tolist() == [1]
    assert frame.loc[("chronic", 1), "mean_relief"] == 0


def test_both_are_empty_with_the_documented_columns_when_nothing_matches(three_courses):
    nothing = Filter(conditions=("bunion",))
    assert metrics.sessions_attended(three_courses, nothing).columns.tolist() == list(metrics.SESSIONS_ATTENDED_COLUMNS)
    assert metrics.immediate_relief(three_courses, nothing).empty
