"""The seeded sample clinic: its shape, that it behaves like the clinic describes, and that the
committed sample_data/visits.csv is exactly what the generator makes."""
import datetime as dt
import io

import pandas as pd
import pytest

from analytics import config, sample


@pytest.fixture(scope="module")
def visits() -> pd.DataFrame:
    """The default sample (4,000 sessions, default seed), as committed."""
    return sample.generate_visit_log()


@pytest.fixture(scope="module")
def larger() -> pd.DataFrame:
    """50,000 sessions: a dozen clinics."""
    return sample.generate_visit_log(50_000)


def episode_table(visits: pd.DataFrame) -> pd.DataFrame:
    """One row per episode: its fixed attributes, visits, mean adherence, baseline and visit-3 pain,
    and whether it was still running when the data end (last visit within ACTIVE_WITHIN_DAYS)."""
    by_episode = visits.groupby("episode_id")
    episodes = by_episode.agg(
        course_type=("course_type", "first"), severity=("severity", "first"),
        prior_injuries=("prior_injuries", "first"),
        therapist_id=("therapist_id", "first"), visits=("visit_number", "max"),
        last_date=("session_date", "max"), adherence=("stretching_adherence_pct", "mean"),
    )
    pain = visits.pivot(index="episode_id", columns="visit_number", values="pain_pre")
    episodes["baseline"] = pain[1]
    episodes["pain_v3"] = pain[config.AFTER_SESSION2_VISIT]
    drop = episodes["baseline"] - episodes["pain_v3"]
    episodes["responder_v3"] = (drop >= config.MCID_PAIN_POINTS) & (drop >= config.MCID_PAIN_FRACTION * episodes["baseline"])
    episodes["improvement_v3"] = drop / episodes["baseline"]
    days_before_end = (pd.to_datetime(visits["session_date"]).max() - pd.to_datetime(episodes["last_date"])).dt.days
    episodes["is_active"] = days_before_end <= config.ACTIVE_WITHIN_DAYS
    return episodes


@pytest.fixture(scope="module")
def episodes(visits) -> pd.DataFrame:
    return episode_table(visits)


# --- Shape ----------------------------------------------------------------------------------

@pytest.mark.parametrize("sessions", [4000, 50_000])
def test_same_seed_and_size_give_the_same_frame(sessions):
    pd.testing.assert_frame_equal(sample.generate_visit_log(sessions, seed=7), sample.generate_visit_log(sessions, seed=7))


def test_another_seed_gives_another_clinic():
    assert not sample.generate_visit_log(2000, seed=1).equals(sample.generate_visit_log(2000, seed=2))


@pytest.mark.parametrize("sessions", [4000, 50_000])
def test_makes_the_number_of_sessions_asked_for_within_one_percent(sessions, visits, larger):
    frame = visits if sessions == sample.DEFAULT_SESSIONS else larger
    assert abs(len(frame) - sessions) <= 0.01 * sessions


def test_a_tiny_sample_still_works():
    assert 1 <= len(sample.generate_visit_log(10, seed=3)) <= 30


def test_columns_are_the_visit_log_format(visits):
    assert tuple(visits.columns) == sample.VISIT_LOG_COLUMNS
    assert visits[list(sample.REQUIRED_COLUMNS)].notna().all().drop("pain_post").all()


def test_only_the_latest_visit_of_a_running_course_has_a_next_appointment_a_week_on(visits, episodes):
    booked = visits[visits["next_appointment"].notna()]
    assert set(booked["episode_id"]) == set(episodes.index[episodes["is_active"]])
    assert (booked["visit_number"].to_numpy() == episodes.loc[booked["episode_id"], "visits"].to_numpy()).all()
    days = (pd.to_datetime(booked["next_appointment"]) - pd.to_datetime(booked["session_date"])).dt.days
    assert (days == sample.NEXT_APPOINTMENT_DAYS).all() and len(booked) > 0


def test_vocabulary_and_ids(visits):
    assert set(visits["condition"]) == set(config.CONDITIONS)
    assert set(visits["course_type"]) == set(config.COURSE_TYPES)
    assert set(visits["severity"]) == set(config.SEVERITIES)
    assert set(visits["clinic_id"]) == {"main"}
    assert sorted(visits["therapist_id"].unique()) == ["T01", "T02", "T03"]
    assert visits["client_id"].str.fullmatch(r"C\d{5}").all()
    assert visits["episode_id"].str.fullmatch(r"E\d{5}").all()
    assert 500 <= visits["client_id"].nunique() <= 700


def test_larger_samples_add_clinics_of_three_to_five_therapists(larger):
    therapists_per_clinic = larger.groupby("clinic_id")["therapist_id"].nunique()
    assert "main" in therapists_per_clinic.index
    assert len(therapists_per_clinic) == round(50_000 / sample.SESSIONS_PER_CLINIC)
    assert therapists_per_clinic.between(3, 5).all()
    assert larger.groupby("client_id")["clinic_id"].nunique().max() == 1


def test_one_row_per_episode_and_visit_number(visits):
    assert not visits.duplicated(["episode_id", "visit_number"]).any()


def test_visit_numbers_run_from_one_without_gaps(visits):
    numbers = visits.groupby("episode_id")["visit_number"].agg(["min", "max", "count"])
    assert (numbers["min"] == 1).all()
    assert (numbers["max"] == numbers["count"]).all()


def test_dates_increase_with_visit_number_about_weekly(visits):
    ordered = visits.sort_values(["episode_id", "visit_number"])
    gap = pd.to_datetime(ordered["session_date"]).groupby(ordered["episode_id"]).diff().dt.days.dropna()
    assert (gap > 0).all()
    assert gap.between(5, 11).all()  # 6-10 days, a Sunday moved to Monday
    assert (gap == 7).mean() > 0.7


def test_dates_are_in_the_fixed_calendar_and_never_on_sunday(visits):
    assert all(isinstance(d, dt.date) for d in visits["session_date"].head(50))
    assert visits["session_date"].min() >= sample.FIRST_DAY
    assert visits["session_date"].max() <= sample.LAST_DAY
    assert not any(d.weekday() == 6 for d in visits["session_date"])


def test_an_episode_has_one_client_condition_course_and_therapist(visits):
    per_episode = visits.groupby("episode_id")[
        ["client_id", "condition", "course_type", "therapist_id", "severity", "prior_injuries", "onset_date"]
    ].nunique(dropna=False)
    assert (per_episode == 1).all().all()


def test_onset_comes_before_the_first_visit(visits):
    first = visits[visits["visit_number"] == 1].dropna(subset=["onset_date"])
    lag = (pd.to_datetime(first["session_date"]) - pd.to_datetime(first["onset_date"])).dt.days
    assert (lag > 0).all()
    assert lag[first["course_type"] == "acute"].median() < 60
    assert lag[first["course_type"] == "chronic"].median() > 180


# --- Pain -----------------------------------------------------------------------------------

def test_pain_is_whole_numbers_from_0_to_10_and_post_never_above_pre(visits):
    assert visits["pain_pre"].between(0, 10).all()
    post = visits["pain_post"].dropna()
    assert post.between(0, 10).all()
    assert (post <= visits.loc[post.index, "pain_pre"]).all()
    relief = visits["pain_pre"] - visits["pain_post"]
    assert 1 <= relief.mean() <= 3


def test_baseline_pain_is_mostly_5_to_9(episodes):
    assert 5 <= episodes["baseline"].mean() <= 9
    assert episodes["baseline"].between(5, 9).mean() > 0.85


def test_little_change_after_the_first_session(visits):
    pain = visits.pivot(index="episode_id", columns="visit_number", values="pain_pre")
    change = (pain[2] - pain[1]).mean()
    assert -1.0 < change <= 0


def test_acute_clients_respond_after_the_second_session_far_more_than_chronic(episodes):
    reached_v3 = episodes[episodes["pain_v3"].notna()]
    rate = reached_v3.groupby("course_type")["responder_v3"].mean()
    assert 0.6 < rate["acute"] <= 0.85
    assert 0.15 <= rate["chronic"] < 0.4


def test_chronic_courses_catch_up_by_visit_8(visits):
    chronic = visits[visits["course_type"] == "chronic"]
    pain = chronic.pivot(index="episode_id", columns="visit_number", values="pain_pre")
    reached = pain[8].notna()
    drop = pain[1] - pain[8]
    rate = ((drop >= config.MCID_PAIN_POINTS) & (drop >= config.MCID_PAIN_FRACTION * pain[1]))[reached].mean()
    assert 0.5 <= rate <= 0.8


@pytest.fixture(scope="module")
def larger_episodes(larger) -> pd.DataFrame:
    return episode_table(larger)


@pytest.mark.parametrize("table", ["episodes", "larger_episodes"])
def test_clients_who_stretch_more_improve_more(table, request):
    episodes = request.getfixturevalue(table)
    reached_v3 = episodes[episodes["pain_v3"].notna()]
    for course_type, courses in reached_v3.groupby("course_type"):
        high = courses.loc[courses["adherence"] >= 75, "improvement_v3"].mean()
        low = courses.loc[courses["adherence"] < 50, "improvement_v3"].mean()
        assert high > low, course_type


@pytest.mark.parametrize("table", ["episodes", "larger_episodes"])
def test_milder_cases_and_fewer_old_injuries_improve_faster(table, request):
    episodes = request.getfixturevalue(table)
    acute = episodes[episodes["pain_v3"].notna() & (episodes["course_type"] == "acute")]
    by_severity = acute.groupby("severity")["responder_v3"].mean()
    assert by_severity["mild"] > by_severity["severe"]
    if table == "larger_episodes":  # the finer steps need more than one clinic's episodes to show
        assert by_severity["mild"] > by_severity["moderate"] > by_severity["severe"]
        by_history = acute.groupby(acute["prior_injuries"] >= 2)["responder_v3"].mean()
        assert by_history[False] > by_history[True]


def test_the_senior_therapist_does_best_within_each_course_type(episodes):
    reached_v3 = episodes[episodes["pain_v3"].notna()]
    rate = reached_v3.groupby(["course_type", "therapist_id"])["responder_v3"].mean().unstack()
    assert rate.mean().idxmax() == "T01"  # each course type weighted alike: case-mix fair


# --- Courses --------------------------------------------------------------------------------

def test_finished_courses_mostly_follow_the_recommended_length(episodes):
    finished = episodes[~episodes["is_active"]]
    for course_type, (low, high) in config.RECOMMENDED_SESSIONS.items():
        completed = finished.loc[(finished["course_type"] == course_type) & (finished["visits"] >= low), "visits"]
        assert completed.between(low, high).mean() > 0.8, course_type
        assert completed.max() <= high + 2


def test_some_clients_drop_out_early(episodes):
    finished = episodes[~episodes["is_active"]]
    dropped = finished["visits"] < finished["course_type"].map(lambda c: config.RECOMMENDED_SESSIONS[c][0])
    share = dropped.groupby(finished["course_type"]).mean()
    assert 0.05 <= share["acute"] <= 0.2
    assert 0.15 <= share["chronic"] <= 0.35


def test_courses_started_in_the_last_weeks_are_still_running(episodes):
    active = episodes[episodes["is_active"]]
    assert len(active) > 10
    assert (active["visits"] < active["course_type"].map(lambda c: config.RECOMMENDED_SESSIONS[c][1])).any()


def test_case_mix(episodes, visits):
    conditions = visits.drop_duplicates("episode_id")["condition"].value_counts()
    assert conditions.index[0] == "plantar_fasciitis"
    assert 0.3 <= (episodes["course_type"] == "chronic").mean() <= 0.5
    assert episodes["severity"].value_counts().index[0] == "moderate"
    prior = visits.drop_duplicates("episode_id")["prior_injuries"]
    assert prior.between(0, 3).all() and prior.isin([0, 1]).mean() > 0.7


def test_about_one_client_in_ten_returns_with_a_new_episode(visits):
    episodes_per_client = visits.groupby("client_id")["episode_id"].nunique()
    assert episodes_per_client.max() == 2
    assert 0.05 <= (episodes_per_client == 2).mean() <= 0.15


# --- Other measures -------------------------------------------------------------------------

def test_stretching_adherence_is_blank_at_visit_1_and_a_percentage_after(visits):
    adherence = visits["stretching_adherence_pct"]
    assert adherence[visits["visit_number"] == 1].isna().all()
    later = adherence[visits["visit_number"] > 1]
    assert later.notna().mean() > 0.9
    assert later.dropna().between(0, 100).all()


def test_psfs_is_recorded_for_most_episodes_and_improves(visits):
    recorded = visits.groupby("episode_id")["psfs_pre"].apply(lambda s: s.notna().all())
    assert 0.6 <= recorded.mean() <= 0.8
    psfs = visits.dropna(subset=["psfs_pre"])
    assert psfs[["psfs_pre", "psfs_post"]].stack().between(0, 10).all()
    first = psfs[psfs["visit_number"] == 1].set_index("episode_id")["psfs_pre"]
    at_v5 = psfs[psfs["visit_number"] == 5].set_index("episode_id")["psfs_pre"]
    assert (at_v5 - first).dropna().mean() > 1


def test_dorsiflexion_starts_around_5_to_15_degrees_and_improves(visits):
    measured = visits.dropna(subset=["dorsiflexion_pre_deg"])
    baseline = measured.loc[measured["visit_number"] == 1, "dorsiflexion_pre_deg"]
    assert 5 <= baseline.mean() <= 15
    assert (measured["dorsiflexion_post_deg"] >= measured["dorsiflexion_pre_deg"]).all()
    first = measured[measured["visit_number"] == 1].set_index("episode_id")["dorsiflexion_pre_deg"]
    at_v5 = measured[measured["visit_number"] == 5].set_index("episode_id")["dorsiflexion_pre_deg"]
    assert (at_v5 - first).dropna().mean() > 2


def test_session_length_and_sore_spot_time(visits):
    assert (visits["duration_min"] == 60).mean() > 0.85
    assert set(visits["duration_min"]) <= {45, 60, 75}
    hour = visits[visits["duration_min"] == 60]
    assert hour["sore_spot_min"].between(40, 50).all()


def test_about_two_percent_of_post_session_pain_is_blank(visits):
    assert 0.005 <= visits["pain_post"].isna().mean() <= 0.04


# --- The committed sample -------------------------------------------------------------------

def read_as_text(csv) -> pd.DataFrame:
    return pd.read_csv(csv, dtype=str, keep_default_na=False)


def test_committed_csv_is_what_the_generator_makes(visits):
    generated = read_as_text(io.StringIO(visits.to_csv(index=False)))
    pd.testing.assert_frame_equal(read_as_text(sample.SAMPLE_CSV), generated)


def test_committed_checkins_are_what_the_generator_makes(visits):
    generated = read_as_text(io.StringIO(sample.generate_checkins(visits).to_csv(index=False)))
    pd.testing.assert_frame_equal(read_as_text(sample.SAMPLE_CHECKINS_CSV), generated)
    assert len(generated) == 917  # as sample_data/README.md says


def test_committed_csv_writes_dates_as_iso_and_whole_numbers_without_decimals():
    committed = read_as_text(sample.SAMPLE_CSV)
    for column in ("session_date", "onset_date"):
        assert committed[column].str.fullmatch(r"(\d{4}-\d{2}-\d{2})?").all(), column
    for column in ("visit_number", "pain_pre", "pain_post", "prior_injuries", "duration_min", "sore_spot_min",
                   "stretching_adherence_pct", "dorsiflexion_pre_deg", "dorsiflexion_post_deg"):
        assert committed[column].str.fullmatch(r"\d*").all(), column
    assert (committed["pain_post"] == "").any()


def test_write_sample_csv_round_trips(tmp_path):
    path = sample.write_sample_csv(tmp_path / "out" / "visits.csv", sessions=300, seed=5)
    written = pd.read_csv(path)
    assert len(written) == len(sample.generate_visit_log(300, seed=5))
    assert tuple(written.columns) == sample.VISIT_LOG_COLUMNS
    checkins = pd.read_csv(path.with_name("checkins.csv"))  # beside it, never over the committed sample's
    assert len(checkins) == len(sample.generate_checkins(sample.generate_visit_log(300, seed=5), seed=5))


def test_the_readme_figures_are_the_pages_own_on_the_committed_sample(sample_db_path):
    """sample_data/README.md states these from the committed sample: recomputed here with the
    metrics the pages call, so the text cannot drift from what the pages show."""
    from analytics import db, metrics
    from analytics.filters import ALL

    def share(value: float, digits: int = 1) -> str:  # the README writes "9.0%"
        return f"{value * 100:.{digits}f}%"

    readme = " ".join((sample.SAMPLE_CSV.parent / "README.md").read_text(encoding="utf-8").split())
    con = db.connect(sample_db_path)  # as the app opens it: the in-process pages of other tests may hold it open
    try:
        outcomes = metrics.course_outcomes(con, ALL).set_index("course_type")
        judged = metrics.therapist_outcome(con, ALL).therapists.set_index("therapist_id")
        last = metrics.therapist_outcome(con, ALL, outcome="improved_at_last_visit").therapists.set_index("therapist_id")
        checkins = con.execute("SELECT count(*) FROM checkins").fetchone()[0]
    finally:
        con.close()
    for course, words in (("acute", "for acute courses"), ("chronic", "for chronic ones")):
        row = outcomes.loc[course]
        dropped = int(row["closed_early"] + row["lost_to_follow_up"])
        assert f"{share(row['dropout_rate'])} {words} ({dropped} of {int(row['finished'])})" in readme
    assert f"{int(outcomes['active'].sum())} of them ({int(outcomes.loc['acute', 'active'])} acute, " \
           f"{int(outcomes.loc['chronic', 'active'])} chronic) are still active" in readme
    t01, t02 = judged.loc["T01"], judged.loc["T02"]
    assert (f"{share(t01['observed'])} of {int(t01['episodes'])} courses against T02's {share(t02['observed'])} of "
            f"{int(t02['episodes'])}") in readme
    assert (f"{share(last.loc['T01', 'observed'], 0)} of {int(last.loc['T01', 'episodes'])} against T02's "
            f"{share(last.loc['T02', 'observed'], 0)} of {int(last.loc['T02', 'episodes'])}") in readme
    assert f"{judged.loc['T01', 'difference'] * 100:+.1f} points" in readme.replace("−", "-")
    assert f"{checkins} check-ins in the committed sample" in readme
