"""The sample clinic's planted differences after the last visit (analytics/sample.py
generate_checkins, listed in sample_data/README.md under "After the last visit"), recovered by
the Lasting results page's own measures, on a generated clinic large enough to tell (20,000
sessions), its check-ins loaded by the test helper."""
from __future__ import annotations

import pytest

from analytics import db, metrics, sample, visit_log
from conftest import store_checkins_for_tests

SESSIONS = 20_000


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    con = db.connect(tmp_path_factory.mktemp("planted_lasting") / "clinic.duckdb")
    visits = sample.generate_visit_log(SESSIONS, seed=sample.DEFAULT_SEED)
    visit_log.import_frames(con, [("generated", visits)])
    checkins = sample.generate_checkins(visits, seed=sample.DEFAULT_SEED)
    store_checkins_for_tests(con, checkins.astype(object).where(checkins.notna(), None).to_dict("records"))
    yield con
    con.close()


def _at_six_months(table, group):
    row = table[(table["group"] == group) & (table["months"] == 6)].iloc[0]
    return row["recurred"], row["ci_low"], row["ci_high"]


@pytest.mark.parametrize(("by", "more", "fewer"), [
    ("course_type", "chronic", "acute"),            # chronic pain comes back more often
    ("stretching", "0 days", "4-7 days"),           # and for clients who stopped stretching
    ("completed", "not completed", "completed"),    # and after a course cut short
])
def test_the_pain_comes_back_more_often_where_the_clinic_says(clinic, by, more, fewer):
    table = metrics.recurrence_table(clinic, by=by)
    high, high_low, _ = _at_six_months(table, more)
    low, _, low_high = _at_six_months(table, fewer)
    assert high > 1.5 * low and high_low > low_high  # the 95% intervals do not overlap


def test_pain_holds_for_those_who_keep_stretching_and_creeps_back_for_those_who_stop(clinic):
    frame = metrics.durability(clinic, by="stretching")
    six = frame[frame["followup_day"] == 182].set_index("group")
    assert six.loc["0 days", "since_last_visit_low"] > six.loc["4-7 days", "since_last_visit_high"]
    assert six.loc["0 days", "since_last_visit"] > 0.8 and six.loc["4-7 days", "since_last_visit"] < 0.6
    # Creeping back: the 0-days group's pain rises from 4 weeks to 6 months.
    stopped = frame[frame["group"] == "0 days"].set_index("followup_day")
    assert stopped.loc[182, "since_last_visit"] > stopped.loc[28, "since_last_visit"] + 0.4


def test_completers_stay_improved_and_feel_better_more_often(clinic):
    durable = metrics.durability(clinic, by="completed").set_index(["group", "followup_day"])
    pgic = metrics.pgic_summary(clinic, by="completed").set_index(["group", "followup_day"])
    for day in (28, 91, 182):
        assert durable.loc[("completed", day), "ci_low"] > durable.loc[("not completed", day), "ci_high"]
        assert pgic.loc[("completed", day), "ci_low"] > pgic.loc[("not completed", day), "ci_high"]


def test_about_half_answer_and_those_who_answer_differ(clinic):
    response = metrics.followup_response(clinic)
    assert response["response_rate"].between(0.4, 0.6).all()
    compared = metrics.responder_comparison(clinic)
    for day, rows in compared.groupby("followup_day"):
        rows = rows.set_index("answered")
        assert rows.loc[True, "share_completed"] > rows.loc[False, "share_completed"] + 0.05, day


def test_foot_function_rises_as_pain_falls(clinic):
    function = metrics.function_responders(clinic).set_index(["group", "scale"])
    assert (function["mean_change"] > 0).all()
    assert function.loc[("acute", "faam_adl"), "ci_low"] > function.loc[("chronic", "faam_adl"), "ci_high"]


def test_discharge_reasons_are_mostly_goals_met_or_improved_enough_for_completers(clinic):
    reasons = clinic.execute("""SELECT e.discharge_reason, count(*) FROM episodes e JOIN episode_facts f USING (episode_id)
        WHERE f.visits >= CASE f.course_type WHEN 'acute' THEN 3 ELSE 8 END AND e.discharge_reason IS NOT NULL
        GROUP BY ALL""").fetchall()
    counts = dict(reasons)
    assert (counts["goals_met"] + counts["improved_enough"]) / sum(counts.values()) > 0.8
