"""Small-cell suppression and the anonymised letters, on tiny databases whose every count can be
checked by hand: T1 is the therapist looking, T2 and T3 are colleagues."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from analytics import config, db, export, metrics
from analytics.filters import ALL, Filter
from analytics.metrics import suppression, therapists
from conftest import visit
from ui import charts

VIEWER = Filter(viewer_therapist="T1")


def courses(prefix: str, therapist: str, count: int, visits: int = 3, pains: tuple[float, ...] = (8, 6, 3, 3, 3),
            start: str = "2025-01-06", **extra) -> list[dict]:
    """`count` acute courses of `visits` weekly visits; pain before each visit from `pains`, one
    point lower after it. With the default pains every course improves by visit 3."""
    rows = []
    for number in range(count):
        for visit_number in range(1, visits + 1):
            day = pd.Timestamp(start) + pd.Timedelta(weeks=visit_number - 1)
            pain = pains[visit_number - 1]
            rows.append(visit(f"{prefix}{number}", visit_number, f"{day:%Y-%m-%d}", pain, pain - 1,
                              therapist_id=therapist, client_name=f"Client {prefix}{number}", **extra))
    return rows


# --- the rule itself ----------------------------------------------------------------------------

def test_suppress_keeps_none_or_at_least_ten_others_and_counts_what_it_left_out():
    frame = pd.DataFrame({"cell": list("abcde"), suppression.OTHERS: [0, 1, 9, 10, 25]})
    shown = suppression.suppress(frame, VIEWER)
    assert shown["cell"].tolist() == ["a", "d", "e"]
    assert suppression.suppressed(shown) == 2
    # A second column counts too, and the attrs add up over calls.
    frame["more"] = [5, 0, 0, 0, 0]
    assert suppression.suppress(frame, VIEWER, (suppression.OTHERS, "more"))["cell"].tolist() == ["d", "e"]
    assert suppression.suppressed(suppression.suppress(shown.assign(**{suppression.OTHERS: 3}), VIEWER)) == 2 + 3
    # A manager sees every row.
    everything = suppression.suppress(frame, ALL)
    assert everything["cell"].tolist() == list("abcde") and suppression.suppressed(everything) == 0


def test_a_curve_stops_at_its_first_hidden_point_even_when_a_later_one_is_the_viewers_own():
    frame = pd.DataFrame({"course_type": ["acute"] * 4 + ["chronic"] * 2, suppression.OTHERS: [12, 10, 3, 0, 0, 0]})
    shown = suppression.suppress_from_first(frame, VIEWER, "course_type")
    assert shown[suppression.OTHERS].tolist() == [12, 10, 0, 0] and suppression.suppressed(shown) == 2
    assert len(suppression.suppress_from_first(frame, ALL, "course_type")) == 6


def test_the_threshold_is_read_from_config(monkeypatch):
    frame = pd.DataFrame({suppression.OTHERS: [4, 5]})
    monkeypatch.setattr(config, "MIN_CELL_COURSES", 5)
    assert suppression.suppress(frame, VIEWER)[suppression.OTHERS].tolist() == [5]


@pytest.mark.parametrize("own, others, shown", [
    (0, 9, False),   # nine colleagues' courses: hidden
    (0, 10, True),   # ten: shown
    (3, 9, False),   # the viewer's own three do not make nine others safe
    (3, 0, True),    # only the viewer's own clients
    (3, 10, True),
])
def test_a_course_type_is_shown_only_on_none_or_ten_others(clinic_db, own, others, shown):
    con = clinic_db(courses("M", "T1", own) + courses("O", "T2", others))
    outcomes = metrics.course_outcomes(con, VIEWER)
    assert outcomes["episodes"].tolist() == ([own + others] if shown else [])
    assert suppression.suppressed(outcomes) == (0 if shown else 1)
    # The CSV a page offers is made from this frame: no row, so nothing to export.
    assert (b"acute" in export.csv_bytes(outcomes)) == shown
    # A manager always sees the row, exactly as before.
    manager = metrics.course_outcomes(con)
    assert manager["episodes"].tolist() == [own + others] and suppression.suppressed(manager) == 0
    kpis = metrics.kpis(con, VIEWER).set_index("metric")
    assert ("episodes" in kpis.index) == shown
    if shown:
        assert kpis.loc["episodes", "value"] == own + others
    headline = metrics.headline(con, VIEWER)
    assert headline["episodes"] == (own + others if shown else None)
    assert headline["by_course"]["acute"]["episodes"] == (own + others if shown else None)


def test_one_small_course_type_takes_the_other_with_it_while_the_clinic_total_shows(clinic_db):
    # 5 acute and 20 chronic courses of T2's: the overview's total of 25 is shown, so chronic alone
    # would give acute away (25 - 20 = the 5 acute courses).
    con = clinic_db(courses("A", "T2", 5) + courses("C", "T2", 20, course_type="chronic"))
    assert metrics.course_outcomes(con, VIEWER).empty
    assert suppression.suppressed(metrics.course_outcomes(con, VIEWER)) == 2
    headline = metrics.headline(con, VIEWER)
    assert headline["episodes"] == 25
    assert headline["by_course"]["acute"]["episodes"] is None and headline["by_course"]["chronic"]["episodes"] is None
    kpis = metrics.kpis(con, VIEWER).set_index("metric")
    assert kpis.loc["episodes", "value"] == 25 and "median_sessions_acute" not in kpis.index
    assert kpis.loc["median_sessions_chronic", "value"] == 3


def test_a_late_visit_resting_on_one_colleague_is_left_out_of_the_pain_by_visit(clinic_db):
    # Eleven of T2's courses reach visit 3, one of them visit 4 (pain 2); two of T1's reach visit 5.
    con = clinic_db(courses("O", "T2", 10) + courses("L", "T2", 1, visits=4, pains=(9, 8, 7, 2))
                    + courses("M", "T1", 2, visits=5))
    pre = lambda frame: frame[frame["phase"] == "pre"].set_index("visit_number")  # noqa: E731
    manager = pre(metrics.pain_trajectory(con))
    assert manager["n"].to_dict() == {1: 13, 2: 13, 3: 13, 4: 3, 5: 2}
    viewer = pre(metrics.pain_trajectory(con, VIEWER))
    # Visit 4 would show T2's client's pain of 2 beside T1's own 3s: gone. Visit 5 is T1's own.
    assert viewer["n"].to_dict() == {1: 13, 2: 13, 3: 13, 5: 2}
    assert viewer.loc[5, "mean"] == 3
    assert suppression.suppressed(metrics.pain_trajectory(con, VIEWER)) == 2  # visit 4 before and after
    # Relief by visit adds up to the course type's relief (Courses page), so besides visit 4 one
    # more visit goes: the first of those resting on the fewest others' courses (11 each).
    relief = metrics.immediate_relief(con, VIEWER)
    assert relief["visit_number"].tolist() == [2, 3, 5]
    # The command line's summary: the same visit is missing from the mean pain by visit.
    assert list(metrics.headline(con, VIEWER)["by_course"]["acute"]["mean_pain_by_visit"]) == [1, 2, 3, 5]
    assert metrics.headline(con, VIEWER)[suppression.SUPPRESSED] == 1
    assert suppression.SUPPRESSED not in metrics.headline(con)


def test_the_improvement_curve_stops_where_fewer_than_ten_colleagues_courses_are_followed(clinic_db):
    # Twelve of T2's courses without improvement: nine stop at visit 3, three go on to visit 5.
    flat = (8, 8, 8, 8, 8)
    con = clinic_db(courses("S", "T2", 9, pains=flat) + courses("L", "T2", 3, visits=5, pains=flat))
    assert metrics.time_to_improvement(con)["visit_number"].tolist() == [1, 2, 3, 4, 5]
    curve = metrics.time_to_improvement(con, VIEWER)
    assert curve["visit_number"].tolist() == [1, 2, 3] and suppression.suppressed(curve) == 2
    # The responder curve stops at the same visit.
    assert metrics.responder_curve(con)["at_risk"].tolist() == [12, 12, 12, 3, 3]
    assert metrics.responder_curve(con, VIEWER)["at_risk"].tolist() == [12, 12, 12]
    # Nobody improved, so the median is "not reached"; beyond what the viewer may see it is hidden.
    assert np.isnan(metrics.median_visits_to_improvement(con)["median_visits"].iloc[0])
    medians = metrics.median_visits_to_improvement(con, VIEWER)
    assert medians.empty and suppression.suppressed(medians) == 1


def test_the_overviews_answer_says_the_median_is_hidden_not_unreached(clinic_db):
    flat = (8, 8, 8, 8, 8)
    con = clinic_db(courses("S", "T2", 9, pains=flat) + courses("L", "T2", 3, visits=5, pains=flat))
    answer = lambda f: charts.treatment_answer(  # noqa: E731
        metrics.headline(con, f), metrics.course_outcomes(con, f).set_index("course_type"),
        metrics.median_visits_to_improvement(con, f).set_index("course_type"))
    assert "how soon half improved is hidden" in answer(VIEWER)
    assert "fewer than half had improved by the last visit recorded" in answer(ALL)


def test_a_median_reached_within_the_visible_curve_is_shown(clinic_db):
    # Twelve of T2's courses improve at visit 3 (8 -> 3); three of them go on to visit 5.
    con = clinic_db(courses("S", "T2", 9) + courses("L", "T2", 3, visits=5))
    medians = metrics.median_visits_to_improvement(con, VIEWER)
    assert medians["median_visits"].tolist() == [3.0] and suppression.suppressed(medians) == 0


def test_conditions_and_the_home_program_hide_small_cells_and_one_more_to_protect_them(clinic_db):
    con = clinic_db(courses("B", "T2", 10, condition="bunion", stretching_adherence_pct=90)
                    + courses("P", "T2", 12, condition="pronation", stretching_adherence_pct=60)
                    + courses("H", "T2", 4, condition="heel_spur", stretching_adherence_pct=10)
                    + courses("M", "T1", 2, condition="heel_spur", stretching_adherence_pct=10))
    conditions = metrics.condition_comparison(con, VIEWER).set_index("condition")
    # Heel spur rests on 4 of T2's courses. The conditions add up to the whole selection (shown
    # on the overview), so bunion, the next smallest, goes too: 28 courses minus pronation's 12
    # gives only heel spur and bunion together, 14 others' courses.
    assert "heel_spur" not in conditions.index and "bunion" not in conditions.index
    assert conditions.loc["pronation", "episodes"] == 12 and suppression.suppressed(conditions) == 2
    assert len(conditions) == len(config.CONDITIONS) - 2
    # The same within the acute course type's adherence bands.
    effect = metrics.home_program_effect(con, VIEWER).set_index("adherence_band")
    assert effect.loc["50-75%", "episodes"] == 12 and effect.loc["25-50%", "episodes"] == 0
    assert "0-25%" not in effect.index and "75-100%" not in effect.index
    assert len(metrics.home_program_effect(con)) == len(config.ADHERENCE_BANDS) + 1
    # Narrowed to heel spur alone, nothing is left to show, which is not "nothing matches".
    only = metrics.condition_comparison(con, Filter(conditions=("heel_spur",), viewer_therapist="T1"))
    assert only.empty and suppression.suppressed(only) > 0
    assert metrics.condition_comparison(con, Filter(conditions=("heel_spur",)))["episodes"].sum() == 6


def test_secondary_suppression_hides_the_fewest_others_until_the_hidden_rest_on_ten():
    frame = pd.DataFrame({"group": ["a"] * 5 + ["b"] * 2, suppression.OTHERS: [3, 0, 12, 4, 20, 2, 0]})
    # a: 3 and 4 are hidden (7 together, still too few), so 12, the next smallest, goes too; the
    # viewer's own row (0) never helps. b: nothing else to hide, so the 2 stays hidden alone.
    gone = suppression.hidden_rows(frame, VIEWER, partition=("group",))
    assert gone.tolist() == [True, False, True, True, False, True, False]
    assert suppression.hidden_rows(frame, VIEWER).tolist() == [True, False, False, True, False, True, False]
    assert not suppression.hidden_rows(frame, ALL, partition=()).any()


def test_sessions_attended_and_the_monthly_trend_hide_small_cells(clinic_db):
    con = clinic_db(courses("O", "T2", 10) + courses("F", "T2", 11, visits=4) + courses("L", "T2", 2, visits=5))
    assert metrics.sessions_attended(con)[["visits", "episodes"]].values.tolist() == [[3, 10], [4, 11], [5, 2]]
    # 5 sessions rests on 2 courses; 3 sessions, the next smallest, goes too (the course type's total is shown).
    attended = metrics.sessions_attended(con, VIEWER)
    assert attended[["visits", "episodes"]].values.tolist() == [[4, 11]]
    # Courses started in January (10), February (12) and March (2), each within its month.
    con = clinic_db(courses("J", "T2", 10, start="2025-01-06") + courses("F", "T2", 12, start="2025-02-03")
                    + courses("M", "T2", 2, start="2025-03-03"))
    assert metrics.monthly_trend(con)["episodes_started"].tolist() == [10, 12, 2]
    trend = metrics.monthly_trend(con, VIEWER)
    assert trend["month"].dt.month.tolist() == [2] and trend["episodes_started"].tolist() == [12]


def test_a_colleagues_row_on_the_therapists_page_needs_ten_courses(clinic_db):
    con = clinic_db(courses("M", "T1", 3) + courses("B", "T2", 12) + courses("C", "T3", 5) + courses("D", "T4", 15))
    shown = metrics.therapist_outcome(con, VIEWER).therapists
    # T3's 5 are hidden, and T2's 12 too: the clinic's figures minus the rows shown would give T3's.
    assert sorted(shown["episodes"].tolist()) == [3, 15] and suppression.suppressed(shown) == 2
    assert shown.loc[shown["is_viewer"], "therapist_id"].tolist() == ["T1"]
    assert not ({"T2", "T3", "T4"} & set(shown["therapist_id"]))
    # The manager sees all four with their ids.
    assert sorted(metrics.therapist_outcome(con).therapists["therapist_id"]) == ["T1", "T2", "T3", "T4"]


def test_the_therapists_page_is_hidden_when_all_colleagues_have_fewer_than_ten(clinic_db):
    # The clinic's model and rate would rest on T2's nine courses, so even T1's own row goes.
    con = clinic_db(courses("M", "T1", 30) + courses("B", "T2", 9))
    result = metrics.therapist_outcome(con, VIEWER)
    assert result.therapists.empty and suppression.suppressed(result.therapists) == 2
    assert result.limits.empty  # no funnel either
    assert len(metrics.therapist_outcome(con).therapists) == 2  # the manager sees both


# --- the letters --------------------------------------------------------------------------------

# Colleague T<k> has k courses, so a test can tell who got which letter from the counts alone.
COLLEAGUES = [f"T{k}" for k in range(2, 9)]
LETTER_CLINIC = courses("M", "T1", 1) + [row for k, therapist in enumerate(COLLEAGUES, start=1)
                                         for row in courses(f"{therapist}x", therapist, k)]


def letters(con) -> dict[str, str]:
    """Colleague id -> the letter the viewer T1 sees."""
    shown = metrics.therapist_outcome(con, VIEWER).therapists
    shown = shown[~shown["is_viewer"]]  # T1 has 1 course, like T2
    by_count = dict(zip(shown["episodes"], shown["therapist_id"]))
    return {therapist: by_count[k] for k, therapist in enumerate(COLLEAGUES, start=1)}


def sha256_letters() -> dict[str, str]:
    order = sorted(COLLEAGUES, key=lambda therapist: hashlib.sha256(therapist.encode()).hexdigest())
    return {therapist: f"Therapist {chr(ord('A') + number)}" for number, therapist in enumerate(order)}


def test_letters_are_stable_for_a_database_and_do_not_follow_from_the_ids(clinic_db, tmp_path, monkeypatch):
    monkeypatch.setattr(config, "MIN_CELL_COURSES", 1)  # colleagues with 1-7 courses: only the letters count
    first, second, third = (clinic_db(LETTER_CLINIC) for _ in range(3))
    orders = [letters(con) for con in (first, second, third)]
    assert all(sorted(order.values()) == [f"Therapist {c}" for c in "ABCDEFG"] for order in orders)
    # Seven colleagues can be lettered 5,040 ways: three databases agreeing would be chance.
    assert len({tuple(order.values()) for order in orders}) > 1
    assert any(order != sha256_letters() for order in orders)
    # The same database gives the same letters on every visit, also after it is closed and reopened.
    assert letters(first) == orders[0]
    path = tmp_path / "clinic0.duckdb"
    first.close()
    reopened = db.connect(path)
    try:
        assert letters(reopened) == orders[0]
        key = db.letter_key(reopened)
        assert len(key) == 64 and int(key, 16) >= 0
        expected = sorted(COLLEAGUES, key=lambda therapist: therapists.letter_order(key, therapist))
        assert [orders[0][therapist] for therapist in expected] == [f"Therapist {c}" for c in "ABCDEFG"]
    finally:
        reopened.close()


def test_a_colleague_keeps_their_letter_whatever_the_filter(clinic_db, monkeypatch):
    monkeypatch.setattr(config, "MIN_CELL_COURSES", 1)
    # T2..T8 as above in January; T8 alone also has a course in June.
    con = clinic_db(LETTER_CLINIC + courses("June", "T8", 1, start="2025-06-02"))
    everyone = metrics.therapist_outcome(con, VIEWER).therapists
    t8 = everyone.loc[everyone["episodes"] == 7 + 1, "therapist_id"].item()  # T8: 7 in January, 1 in June
    june = metrics.therapist_outcome(con, Filter(start=pd.Timestamp("2025-06-01").date(), viewer_therapist="T1")).therapists
    # Alone in June, T8 is still not "Therapist A" unless that was their letter anyway.
    assert june["therapist_id"].tolist() == [t8]


def test_a_database_made_before_the_letters_had_a_key_gets_one_when_opened(clinic_db, tmp_path):
    con = clinic_db(LETTER_CLINIC)
    con.execute("DELETE FROM meta WHERE key = ?", [db.LETTER_KEY])
    con.close()
    con = db.connect(tmp_path / "clinic0.duckdb")
    try:
        stored = con.execute("SELECT value FROM meta WHERE key = ?", [db.LETTER_KEY]).fetchone()
        assert stored is not None and db.letter_key(con) == stored[0].encode()
    finally:
        con.close()


# --- on the sample clinic: suppression only leaves rows out, never changes one ---------------------

SAMPLE_FILTERS = [Filter(), Filter(conditions=("pronation",)), Filter(course_types=("chronic",)),
                  Filter(start=pd.Timestamp("2024-11-01").date(), end=pd.Timestamp("2024-12-31").date())]
FRAME_METRICS = [metrics.pain_trajectory, metrics.responder_curve, metrics.time_to_improvement,
                 metrics.median_visits_to_improvement, metrics.condition_comparison, metrics.home_program_effect,
                 metrics.monthly_trend, metrics.course_outcomes, metrics.sessions_attended, metrics.immediate_relief,
                 metrics.kpis, metrics.condition_by_course, metrics.followup_response, metrics.responder_comparison,
                 metrics.function_responders, metrics.recurrence, metrics.durability, metrics.pgic_summary]


@pytest.mark.parametrize("f", SAMPLE_FILTERS, ids=repr)
@pytest.mark.parametrize("metric", FRAME_METRICS, ids=lambda metric: metric.__name__)
def test_a_therapist_sees_some_of_the_managers_rows_unchanged(sample_db_path, metric, f):
    con = db.connect(sample_db_path)  # as the app opens it: the in-process pages of other tests may hold it open
    try:
        manager = metric(con, f)
        viewer = metric(con, f.replace(viewer_therapist="T01"))
    finally:
        con.close()
    assert list(viewer.columns) == list(manager.columns)
    assert len(viewer) <= len(manager)
    # Every row the therapist sees is one of the manager's, value for value (kpis: previous and
    # change may be emptied when only the period before is hidden).
    compare = [c for c in manager.columns if metric is not metrics.kpis or c in ("metric", "value")]
    # Rounded: DuckDB's parallel sums may differ in the last bit from one run to the next.
    as_text = lambda frame: set(frame[compare].round(9).astype(str).itertuples(index=False))  # noqa: E731
    assert as_text(viewer) <= as_text(manager)
    assert suppression.suppressed(viewer) >= len(manager) - len(viewer)


def test_the_summary_by_condition_hides_a_condition_on_few_colleagues_courses_and_one_more(clinic_db):
    # Acute: 12 of T2's plantar fasciitis courses, 4 of T2's heel spur, 3 of the viewer's own pronation.
    con = clinic_db(courses("P", "T2", 12) + courses("H", "T2", 4, condition="heel_spur")
                    + courses("M", "T1", 3, condition="pronation"))
    by_condition = metrics.headline(con, VIEWER)["by_course"]["acute"]["by_condition"]
    # Heel spur rests on 4 colleagues' courses: hidden; the acute total (19) is shown, so plantar
    # fasciitis goes too (19 - 3 would give heel spur away).
    hidden = dict.fromkeys(("episodes", "episodes_reaching_visit3", "responder_rate_after_session2",
                            "episodes_eligible_itt", "responder_rate_after_session2_itt"))
    assert by_condition["heel_spur"] == hidden and by_condition["plantar_fasciitis"] == hidden
    assert by_condition["pronation"]["episodes_eligible_itt"] == 3  # the viewer's own
    assert metrics.headline(con, VIEWER)[suppression.SUPPRESSED] == 2
    manager = metrics.headline(con)["by_course"]["acute"]
    assert manager["by_condition"]["heel_spur"]["episodes_eligible_itt"] == 4 and manager["episodes_eligible_itt"] == 19
    # The clinic-wide tiles rest on 16 colleagues' courses: shown, with all who started.
    tiles = metrics.kpis(con, VIEWER).set_index("metric")
    assert tiles.loc["improved_after_session2_itt_acute", ["value", "n"]].tolist() == [1.0, 19]
    wide = metrics.condition_by_course(con, VIEWER)
    assert wide["condition"].tolist() == [c for c in config.CONDITIONS if c not in ("plantar_fasciitis", "heel_spur")]
