"""Lasting results (durability, recurrence, response, PGIC, function) on a clinic small enough to
check by hand. Today is 2026-06-01; every course is acute plantar fasciitis with therapist T1.

A: 8, 6, 4 (last visit 2025-12-15, completed); check-ins day 28 (pain 4, 5 stretch days, PGIC 2,
   pain back: no) and day 91 (pain 6, 0 days, PGIC 4, pain back: yes).
B: 8, 5, 3 (last 2025-12-16, completed); day 28 (2, 7 days, PGIC 1, no), day 91 (2, 6 days, PGIC 1, no).
C: 7, 6 (last 2025-12-10, two visits: not completed); day 28 (7, 0 days, PGIC 5, not asked);
   the same client starts C2 for the same condition on 2026-04-01, day 112: a recurrence.
C2: 7, 6 (2026-04-01, 04-08; finished, never heard from since).
D: 6, 5, 5 (last 2025-12-18, completed), never answers.
E: one visit on 2026-05-25, still active: no follow-ups."""
import datetime as dt
import math

import pytest

from analytics import config, metrics
from analytics.filters import ALL, Filter
from analytics.metrics import lasting
from conftest import store_checkins_for_tests, visit


@pytest.fixture
def clinic(clinic_db, monkeypatch):
    monkeypatch.setattr(config, "today", lambda: dt.date(2026, 6, 1))
    con = clinic_db([
        visit("A", 1, "2025-12-01", 8, 6, faam_adl_pct=50, lefs=40), visit("A", 2, "2025-12-08", 6, 5, faam_adl_pct=55),
        visit("A", 3, "2025-12-15", 4, 3, faam_adl_pct=62, lefs=52),
        visit("B", 1, "2025-12-02", 8, 6, faam_adl_pct=60), visit("B", 2, "2025-12-09", 5, 4),
        visit("B", 3, "2025-12-16", 3, 2, faam_adl_pct=64),
        visit("C", 1, "2025-12-03", 7, 6, lefs=30), visit("C", 2, "2025-12-10", 6, 5),
        visit("C2", 1, "2026-04-01", 7, 6, client_id="CC"), visit("C2", 2, "2026-04-08", 6, 5, client_id="CC"),
        visit("D", 1, "2025-12-04", 6, 5), visit("D", 2, "2025-12-11", 5, 5), visit("D", 3, "2025-12-18", 5, 4),
        visit("E", 1, "2026-05-25", 6, 5),
    ])
    store_checkins_for_tests(con, [
        {"episode_id": "A", "answered_on": "2026-01-12", "pain": 4, "stretch_days": 5, "pgic": 2, "pain_returned": "no"},
        {"episode_id": "A", "answered_on": "2026-03-16", "pain": 6, "stretch_days": 0, "pgic": 4, "pain_returned": "yes"},
        {"episode_id": "B", "answered_on": "2026-01-13", "pain": 2, "stretch_days": 7, "pgic": 1, "pain_returned": "no"},
        {"episode_id": "B", "answered_on": "2026-03-17", "pain": 2, "stretch_days": 6, "pgic": 1, "pain_returned": "no"},
        {"episode_id": "C", "answered_on": "2026-01-07", "pain": 7, "stretch_days": 0, "pgic": 5},
    ])
    return con


def test_durability_compares_followup_pain_with_the_last_visit_and_baseline(clinic):
    frame = metrics.durability(clinic).set_index("followup_day")
    day28, day91 = frame.loc[28], frame.loc[91]
    assert day28["group"] == "all courses" and day28["answered"] == 3 and day28["mean_pain"] == pytest.approx(13 / 3)
    # Since the last visit: A 4-4 = 0, B 2-3 = -1, C 7-6 = +1: mean 0, sd 1, t(2) = 4.303 -> +-4.303 / sqrt(3).
    assert day28["since_last_visit"] == pytest.approx(0)
    assert day28["since_last_visit_high"] == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    # Since baseline: -4, -6, 0: mean -10/3, sd sqrt(28/3).
    assert day28["since_baseline"] == pytest.approx(-10 / 3)
    assert day28["since_baseline_low"] == pytest.approx(-10 / 3 - 4.302653 * math.sqrt(28 / 3) / math.sqrt(3), rel=1e-5)
    # Still improved (2 points and 30%): A 8 -> 4 and B 8 -> 2 yes, C 7 -> 7 no.
    assert (day28["judged"], day28["still_improved"]) == (3, 2) and day28["share_still_improved"] == pytest.approx(2 / 3)
    assert 0 < day28["ci_low"] < 2 / 3 < day28["ci_high"] < 1
    # Day 91: A 6 (8 -> 6 is 2 points but 25%: no longer improved), B 2.
    assert (day91["answered"], day91["still_improved"]) == (2, 1)
    assert day91["since_last_visit"] == pytest.approx(0.5) and day91["since_baseline"] == pytest.approx(-4)
    assert 182 not in frame.index


def test_durability_by_stretching_and_completion(clinic):
    by_stretch = metrics.durability(clinic, by="stretching")
    cells = {(row.group, row.followup_day): row.answered for row in by_stretch.itertuples()}
    assert cells == {("4-7 days", 28): 2, ("0 days", 28): 1, ("0 days", 91): 1, ("4-7 days", 91): 1}
    by_completed = metrics.durability(clinic, by="completed")
    cells = {(row.group, row.followup_day): (row.answered, row.still_improved) for row in by_completed.itertuples()}
    assert cells == {("completed", 28): (2, 2), ("not completed", 28): (1, 0), ("completed", 91): (2, 1)}
    with pytest.raises(ValueError):
        metrics.durability(clinic, by="therapist_id")


def test_recurrence_counts_pain_back_and_new_courses_and_censors_at_the_last_contact(clinic, monkeypatch):
    curve = metrics.recurrence(clinic)
    # A: pain back at day 91 (event); B: last heard of at day 91 (censored); C: new course at day
    # 112 (event); D and C2 were never heard from after their last visit: left out.
    assert curve[["day", "at_risk", "events", "censored"]].values.tolist() == [[91, 3, 1, 1], [112, 1, 1, 0]]
    assert curve["survival"].tolist() == pytest.approx([2 / 3, 0])
    # The 3/6/12-month table asks for at least MIN_RECURRENCE_AT_RISK courses at risk (2 here).
    monkeypatch.setattr(config, "MIN_RECURRENCE_AT_RISK", 2)
    table = metrics.recurrence_table(clinic).set_index("months")
    assert table.loc[3, "recurred"] == pytest.approx(1 / 3) and table.loc[3, "at_risk"] == 3
    # Nobody is followed to day 182: not known (not 100%, where the curve's last step lands).
    assert table.loc[6, "at_risk"] == 0 and math.isnan(table.loc[6, "recurred"]) and table.loc[12, "courses"] == 3
    monkeypatch.setattr(config, "MIN_RECURRENCE_AT_RISK", 4)
    assert metrics.recurrence_table(clinic)["recurred"].isna().all()


def test_recurrence_by_course_window(clinic, monkeypatch):
    # A new course more than RECURRENCE_WITHIN_DAYS after the last visit is not a recurrence:
    # with a 100-day window C is censored at its day-28 check-in instead.
    monkeypatch.setattr(config, "RECURRENCE_WITHIN_DAYS", 100)
    curve = metrics.recurrence(clinic)
    assert curve[["day", "at_risk", "events", "censored"]].values.tolist() == [[28, 3, 0, 1], [91, 2, 1, 1]]


def test_followup_response_and_who_answers(clinic):
    response = metrics.followup_response(clinic).set_index("followup_day")
    # Day 28 is due for A, B, C, D and C2 (3 answered); day 91 for A, B, C, D (2); day 182 for none yet.
    assert response.loc[28, ["due", "answered"]].tolist() == [5, 3]
    assert response.loc[91, ["due", "answered"]].tolist() == [4, 2] and 182 not in response.index
    assert response.loc[28, "response_rate"] == pytest.approx(0.6)
    compared = metrics.responder_comparison(clinic)
    day28 = compared[compared["followup_day"] == 28].set_index("answered")
    assert day28.loc[True, "courses"] == 3 and day28.loc[True, "mean_last_pain"] == pytest.approx(13 / 3)
    assert day28.loc[True, "share_completed"] == pytest.approx(2 / 3)
    assert day28.loc[True, "share_improved_at_last_visit"] == pytest.approx(2 / 3)
    assert day28.loc[False, "mean_last_pain"] == pytest.approx(5.5) and day28.loc[False, "share_completed"] == 0.5
    assert day28.loc[False, "share_improved_at_last_visit"] == 0


def test_pgic_share_much_or_very_much_improved(clinic):
    frame = metrics.pgic_summary(clinic).set_index("followup_day")
    assert frame.loc[28, ["answered", "improved"]].tolist() == [3, 2]
    assert frame.loc[91, ["answered", "improved"]].tolist() == [2, 1]


def test_function_responders_first_to_last_score(clinic):
    frame = metrics.function_responders(clinic).set_index("scale")
    # FAAM ADL: A 50 -> 62 (+12 >= 8, responder), B 60 -> 64 (+4). LEFS: A 40 -> 52 (+12 >= 9); C has one score.
    assert frame.loc["faam_adl", ["courses", "responders"]].tolist() == [2, 1]
    assert frame.loc["faam_adl", "mean_change"] == pytest.approx(8)
    assert frame.loc["lefs", ["courses", "responders"]].tolist() == [1, 1]


def test_a_therapist_sees_no_row_resting_on_a_few_colleagues_courses(clinic):
    colleague = Filter(viewer_therapist="T2")
    for function in (metrics.durability, metrics.followup_response, metrics.pgic_summary, metrics.recurrence,
                     metrics.function_responders, metrics.recurrence_table, metrics.responder_comparison):
        assert function(clinic, colleague).empty, function.__name__
    own = Filter(viewer_therapist="T1")
    assert metrics.durability(clinic, own).equals(metrics.durability(clinic, ALL))
    assert lasting.LASTING_GROUPS == ("course_type", "condition", "completed", "stretching")


def test_one_clients_followups_and_how_the_pain_has_held(clinic):
    from analytics import client

    rows = metrics.episode_followups(clinic, "A")
    assert rows["followup_day"].tolist() == [28, 91, 182]
    assert rows["pain"].tolist()[:2] == [4, 6] and rows["pain"].isna().tolist() == [False, False, True]
    assert rows["last_visit_pain"].tolist() == [4, 4, 4]
    assert metrics.episode_followups(clinic, "E").empty  # still active: no follow-ups yet
    assert metrics.episode_followups(clinic, "A", Filter(viewer_therapist="T2")).empty  # not their client
    assert client.held_sentence(rows) == ("At 3 months after your last visit your pain was 6, 2 points higher than at "
                                          "your last visit (4). If it keeps coming back, talk with your therapist about "
                                          "a few more sessions or your stretches.")
    assert client.held_sentence(metrics.episode_followups(clinic, "B")) == (
        "At 3 months after your last visit your pain was 2, 1 point lower than at your last visit (3).")
    same = rows.iloc[:1]
    assert client.held_sentence(same) == "At 4 weeks after your last visit your pain was 4, the same as at your last visit."
    assert client.held_sentence(metrics.episode_followups(clinic, "D")) == ""  # never answered


def test_the_clients_chart_and_report_continue_past_the_last_visit(clinic):
    from analytics import client, report
    from ui import client_charts

    view = client.episode_view(clinic, "A")
    assert view is not None and view.held.startswith("At 3 months after your last visit your pain was 6")
    figure = client_charts.pain_chart(view)
    after = [trace for trace in figure.data if trace.name == "Pain after the last visit"]
    # Visits 1-3, the acute range up to 5 (and the band): follow-ups placed after the visits.
    assert len(after) == 1 and list(after[0].y) == [4, 6]
    x_max = max(figure.layout.xaxis.tickvals)
    assert list(after[0].x) == [x_max - 2, x_max - 1]
    assert list(figure.layout.xaxis.ticktext)[-3:] == ["4 weeks", "3 months", "6 months"]
    content = report.report_content(view, "Stretch daily.", dt.date(2026, 6, 1))
    assert content.summary.endswith(view.held)
    assert len(content.followups.dropna(subset=["pain"])) == 2  # drawn after the visits on the PDF's chart
    from test_report import pdf_text

    pages, shown = pdf_text(report.progress_report_pdf(content, font_path=None))
    assert pages == 1 and "6 months" in shown and "your pain was 6" in shown.replace("\n", " ")
    # No follow-up answered: the chart is the visits only, and nothing is said.
    quiet = client.episode_view(clinic, "D")
    assert quiet is not None and quiet.held == ""
    assert not [trace for trace in client_charts.pain_chart(quiet).data if trace.name == "Pain after the last visit"]
