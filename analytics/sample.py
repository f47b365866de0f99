"""The seeded sample clinic: a believable visit log for demos, tests and benchmarks, made by one
vectorised generator whether it is asked for 4,000 sessions or 10,000,000.

How a course unfolds (from the clinic's own account, sample_data/README.md has the figures):
an injury settles in 3-5 weekly hour-long sessions and chronic pain needs 8-12; there is little
lasting change after the first session and a clear one after the second; clients who stretch
between sessions, milder cases and clients with fewer old injuries do better; each session brings
immediate relief on the table, part of which lasts until the next visit.

Everything is drawn per client and per episode as numpy arrays, repeated to sessions with
np.repeat and accumulated with cumulative sums; the only Python loops are over the handful of
values a category can take. Same `sessions` and `seed` => the identical frame.
"""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from analytics import catalog, config

DEFAULT_SESSIONS = 4000
DEFAULT_SEED = 20241101
SAMPLE_CSV = config.SAMPLE_DATA_DIR / "visits.csv"
SAMPLE_CHECKINS_CSV = config.SAMPLE_DATA_DIR / "checkins.csv"

# A fixed two-year calendar (never today's date), so the sample is the same whenever it is made.
FIRST_DAY = dt.date(2024, 11, 1)
LAST_DAY = dt.date(2026, 10, 31)
CALENDAR_DAYS = (LAST_DAY - FIRST_DAY).days + 1

REQUIRED_COLUMNS = catalog.REQUIRED
OPTIONAL_COLUMNS = catalog.OPTIONAL
VISIT_LOG_COLUMNS = catalog.NAMES
ACUTE, CHRONIC = config.COURSE_TYPES.index("acute"), config.COURSE_TYPES.index("chronic")

# --- The clinics and their therapists -------------------------------------------------------
# One clinic handles about this many sessions in the two years; bigger samples get more clinics
# of the same size rather than one impossibly busy one.
SESSIONS_PER_CLINIC = 4000
MAIN_CLINIC = "main"
# The main clinic's three therapists (T01-T03) and their skill, which multiplies how fast their
# clients improve (log scale): Thea is clearly the best and, as the senior, is given more of the
# chronic cases, so her raw figures understate her and a case-mix adjusted comparison shows it.
MAIN_THERAPISTS = (("Thea Grove", 0.30), ("Rowan Kettle", 0.0), ("Sol Linden", -0.12))
MAIN_THERAPIST_SHARE = {"acute": (0.28, 0.40, 0.32), "chronic": (0.46, 0.30, 0.24)}
OTHER_CLINIC_THERAPISTS = (3, 5)  # inclusive range per extra clinic
OTHER_THERAPIST_SKILL_SD = 0.12

# Invented names, clearly not real people.
FIRST_NAMES = (
    "Ada", "Ben", "Cleo", "Dev", "Eli", "Faye", "Gus", "Hana", "Ivo", "Juno", "Kit", "Lena", "Milo",
    "Nia", "Otto", "Pia", "Quin", "Rosa", "Sami", "Tess", "Uma", "Vic", "Wes", "Yara", "Zeb",
)
LAST_NAMES = (
    "Brook", "Fern", "Moss", "Stone", "Vale", "Marsh", "Birch", "Heath", "Lark", "Reed", "Wren",
    "Dale", "Glen", "Ash", "Thorn", "Field", "Cove", "Hollow", "Meadow", "Pine", "Ridge", "Brae",
)
THERAPIST_FIRST_NAMES = ("Iris", "Bram", "Mira", "Noor", "Arlo", "Kai", "Lumi")
THERAPIST_LAST_NAMES = ("Grove", "Kettle", "Linden", "Alder", "Quarry", "Sorrel", "Tansy", "Yarrow")

# --- Who comes in ---------------------------------------------------------------------------
# condition: (share of episodes, share of them chronic). Plantar fasciitis is the most common
# complaint; bunions, hammer toes and flat feet are usually long-standing, shin splints and
# tendonitis usually a recent overload. Overall about 40% of courses are chronic.
CONDITION_MIX: dict[str, tuple[float, float]] = {
    "plantar_fasciitis": (0.30, 0.36),
    "heel_spur": (0.09, 0.50),
    "bunion": (0.08, 0.60),
    "hammer_toe": (0.07, 0.55),
    "flat_feet": (0.09, 0.60),
    "pronation": (0.08, 0.45),
    "mid_arch_pain": (0.08, 0.30),
    "tendonitis": (0.11, 0.30),
    "shin_splints": (0.10, 0.20),
}
SEVERITY_SHARES = {"mild": 0.25, "moderate": 0.55, "severe": 0.20}
PRIOR_INJURY_SHARES = (0.50, 0.30, 0.13, 0.07)  # 0, 1, 2, 3 earlier injuries
# Days from onset to the first visit, as a log-normal (median, spread) with bounds: an injury
# comes in within days or weeks, chronic pain after months or years.
ONSET_LAG_DAYS = {"acute": (14, 0.7, 2, 90), "chronic": (420, 0.8, 90, 3650)}
ONSET_UNKNOWN_SHARE = 0.03  # the client could not say when it started
# About one client in ten comes back later with a new episode (the observed share is lower,
# because some returns fall after the end of the calendar).
RETURN_SHARE = 0.17
RETURN_GAP_DAYS = (45, 150, 0.6)  # at least 45 days after the last visit, then log-normal
RETURN_SAME_CONDITION_SHARE = 0.5
RETURN_SAME_THERAPIST_SHARE = 0.75
# Personal stretching habit: a share of days stretched, Beta(a, b), mean about 55%.
ADHERENCE_BETA = (2.0, 1.6)

# --- How long a course runs -----------------------------------------------------------------
# Sessions in a course the client sees through: the clinic recommends 3-5 for an injury and
# 8-12 for chronic pain; a few need one or two more. Slow responders tend to the longer end.
COURSE_LENGTH_SHARES: dict[str, dict[int, float]] = {
    "acute": {3: 0.30, 4: 0.36, 5: 0.27, 6: 0.07},
    "chronic": {8: 0.15, 9: 0.17, 10: 0.22, 11: 0.17, 12: 0.17, 13: 0.07, 14: 0.05},
}
COURSE_LENGTH_FOLLOWS_RESPONSE = 0.5  # correlation between slowness and a longer course
# Early dropout (for a client of average adherence; poor stretchers drop out more), and the
# last visit of those who drop out.
DROPOUT_SHARE = {"acute": 0.105, "chronic": 0.23}
DROPOUT_ADHERENCE_EFFECT = 0.5  # log-odds per standard deviation of adherence
DROPOUT_LAST_VISIT_SHARES: dict[str, dict[int, float]] = {
    "acute": {1: 0.55, 2: 0.45},
    "chronic": {1: 0.18, 2: 0.20, 3: 0.17, 4: 0.15, 5: 0.12, 6: 0.10, 7: 0.08},
}
# Weekly visits; now and then a week is a day short or a few days long.
VISIT_GAP_SHARES = {6: 0.04, 7: 0.82, 8: 0.07, 9: 0.04, 10: 0.03}
SESSION_LENGTH_SHARES = {60: 0.92, 45: 0.04, 75: 0.04}  # minutes
SORE_SPOT_SHARE = 0.75  # "3 quarters of the hour-long sessions focus just on your sore spot"

# --- How pain responds ----------------------------------------------------------------------
# Baseline (visit-1) pain by severity: normal(mean, sd) on the 0-10 scale, at least 3.
BASELINE_PAIN = {"mild": (5.6, 1.0), "moderate": (7.0, 1.0), "severe": (8.3, 0.9)}
# The lasting share of pain removed after a dose of sessions is
#     most_relief * (1 - exp(-rate * dose)),
# where dose counts the sessions so far, each weighted by the stretching done in the week after
# it. The first session counts little (assessment and a first release: "you'll notice
# improvements after your second visit"). Chronic pain responds more slowly and less far, and
# varies more from client to client: about a quarter respond by visit 3, some 60% by visit 8.
RESPONSE_RATE = {"acute": 0.80, "chronic": 0.60}
RATE_SPREAD = 0.45  # log-normal spread of personal response
MOST_RELIEF_BETA = {"acute": (8.0, 2.5), "chronic": (2.2, 3.3)}  # Beta(a, b): means 0.76, 0.40
FIRST_SESSION_DOSE = 0.12
SEVERITY_RATE = {"mild": 1.3, "moderate": 1.0, "severe": 0.75}
PRIOR_INJURY_RATE = 0.92  # per earlier injury
ADHERENCE_RATE_EFFECT = 0.6  # a week of full stretching vs none: exp(+-0.6) times the dose
PAIN_NOISE_SD = 0.6  # how a pre-session score wanders around the course's trend
FLARE_UP_SHARE = 0.03  # a bad week: +1 or +2 points before that visit
# Immediate relief on the table: normal(mean, sd) points with mean rising with the pain brought in.
RELIEF_MEAN = (0.8, 0.2)  # intercept, per point of pre-session pain
RELIEF_SD = 0.7
# PSFS (patient-specific functional scale, 0-10, higher = better) and ankle dorsiflexion (the
# calf flexibility the clinic works on) are measured in about 70% of courses.
PSFS_RECORDED_SHARE = 0.70
DORSIFLEXION_RECORDED_SHARE = 0.70
PSFS_PER_PAIN_POINT = 0.8
DORSIFLEXION_BASELINE = (10.0, 3.0, 2, 20)  # mean, sd, bounds in degrees
DORSIFLEXION_GAIN = (6.0, 2.0, 1, 12)

# --- Data-quality wrinkles in every sample, as in a real clinic's export --------------------
PAIN_POST_BLANK_SHARE = 0.02  # post-session pain not written down
ADHERENCE_BLANK_SHARE = 0.03  # nobody asked about the week's stretching
# A slipped key: a low pre-session score typed 6-7 points too high (the data-quality report's
# implausible-jump check should catch it).
TYPING_SLIP_SHARE = 0.002

# --- After the last visit, and the course's own record (issue 16) ----------------------------
# Drawn from a generator of their own (seeded from the sample's seed), so the visits above are
# the same as before these were added.
ISSUE16_SEED_OFFSET = 16
# Why a finished course ended (its last row carries it; blank for some): completers mostly met
# their goals or improved enough, those who stopped early mostly for cost or time or no change.
DISCHARGE_SHARES = {
    "completed": {"goals_met": 0.48, "improved_enough": 0.32, "other": 0.05, None: 0.15},
    "stopped": {"cost_or_time": 0.28, "no_change": 0.18, "moved": 0.08, "referred_elsewhere": 0.08,
                "improved_enough": 0.10, "other": 0.05, None: 0.23},
}
FOOT_SIDE_SHARES = {"left": 0.40, "right": 0.38, "both": 0.14, None: 0.08}
# Foot function (FAAM ADL %, LEFS) is scored on some courses (more for the complaints that are
# about function more than pain), at the first and last visit and every third one between; it
# rises as pain falls.
FUNCTION_CONDITIONS = ("bunion", "flat_feet", "pronation", "hammer_toe")
FUNCTION_SCORED_SHARE = {"function": 0.60, "other": 0.25}
LEFS_SCORED_SHARE = 0.5  # of the courses with function scores, those also scored on the LEFS
FAAM_PER_PAIN_POINT, LEFS_PER_PAIN_POINT = 6.0, 4.5
NOTE_SHARE = 0.015
NOTES = ("Worked the calf and the arch.", "Reviewed the stretches together.", "Walked more this week.",
         "New shoes since the last visit.", "Taped the arch for the week.", "Long day on the feet before this session.")
# A course still running at LAST_DAY has its next appointment booked on its latest visit, a week on.
NEXT_APPOINTMENT_DAYS = 7
# Follow-ups (config.FOLLOWUP_DAYS after the last visit): answered within a few days of the due
# date, completers more often than those who stopped (so those who answer differ).
ANSWER_SHARE = {"completed": 0.58, "stopped": 0.34}
ANSWER_DAYS_LATE = (-5, 14)
BETWEEN_VISIT_SHARE = 0.06  # courses with a check-in between visits 2 and 3
# After the last visit, a client keeps stretching at a habit of their own; some stop altogether
# (more of those who did not complete the course).
STOP_STRETCHING_SHARE = {"completed": 0.22, "stopped": 0.45}
# Recurrence: the pain comes back at a constant monthly hazard, higher for chronic pain, for
# clients who stopped stretching and for courses not completed; many completed acute injuries
# heal for good ("some injuries heal and won't recur").
RECURRENCE_MONTHLY_HAZARD = {"acute": 0.03, "chronic": 0.08}
RECURRENCE_NO_STRETCH_FACTOR = 3.0
RECURRENCE_NOT_COMPLETED_FACTOR = 1.6
HEALED_FOR_GOOD_SHARE = 0.55  # of completed acute courses
# Without a recurrence, pain creeps back over six months by this share of the ground gained:
# little for completers who keep stretching, more for everyone else.
CREEP_SHARE = {"holding": 0.03, "other": 0.30}
RETURNED_PAIN_SHARE = (0.45, 0.8)  # a recurrence brings back this share (uniform) of the ground gained
CHECKIN_PAIN_SD = 0.6

# Sessions a client brings on average (measured on large samples); candidates are drawn with a
# margin and the first clients adding up to the requested size are kept.
SESSIONS_PER_CLIENT_ESTIMATE = 6.3
CANDIDATE_MARGIN = 1.25


def generate_visit_log(sessions: int = DEFAULT_SESSIONS, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """A visit log of about `sessions` sessions (within 1% from a few hundred up) from a seeded
    sample clinic: one row per session, columns VISIT_LOG_COLUMNS, rows in date order.

    ~600 clients, 3 therapists in one clinic ("main") at the default 4,000 sessions; larger
    samples add a clinic of 3-5 therapists per ~4,000 sessions. Dates fall in FIRST_DAY..LAST_DAY."""
    if sessions < 1:
        raise ValueError(f"sessions: {sessions} is not a positive number of sessions to generate.")
    rng = np.random.default_rng(seed)
    staff = _staff(rng, max(1, round(sessions / SESSIONS_PER_CLINIC)))
    candidates = math.ceil(sessions / SESSIONS_PER_CLIENT_ESTIMATE * CANDIDATE_MARGIN) + 20
    while True:
        clients = _clients(rng, candidates, staff)
        episodes = _episodes(rng, clients, staff)
        visits = _schedule(rng, episodes)
        if visits["day"].size >= sessions:
            break
        candidates *= 2  # a tiny sample can fall short by chance; draw again, more
    clients, episodes, visits = _first_clients_making(sessions, clients, episodes, visits)
    _pain_course(rng, clients, episodes, visits)
    frame = _visit_log_frame(rng, staff, clients, episodes, visits)
    _course_record(np.random.default_rng([seed, ISSUE16_SEED_OFFSET]), frame)
    return frame


def write_sample_csv(path=SAMPLE_CSV, sessions: int = DEFAULT_SESSIONS, seed: int = DEFAULT_SEED,
                     checkins: bool = True) -> Path:
    """Write the sample visit log as CSV (dates YYYY-MM-DD, blanks for missing values, whole
    numbers without ".0") and return its path; its check-ins (generate_checkins) go beside it,
    to checkins.csv in the same folder, in the check-in import format (checkins=False: not
    written). The committed sample is the default path and its checkins.csv."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    visits = generate_visit_log(sessions, seed)
    visits.to_csv(path, index=False, lineterminator="\n")
    if checkins:
        generate_checkins(visits, seed).to_csv(path.with_name(SAMPLE_CHECKINS_CSV.name), index=False, lineterminator="\n")
    return path


# --- Staff, clients, episodes ---------------------------------------------------------------

def _staff(rng: np.random.Generator, n_clinics: int) -> dict[str, np.ndarray]:
    """Clinics and therapists: each clinic's head count and first therapist, each therapist's skill
    and name. Therapists are numbered clinic by clinic, the main clinic's first."""
    low, high = OTHER_CLINIC_THERAPISTS
    headcount = np.concatenate([[len(MAIN_THERAPISTS)], rng.integers(low, high + 1, n_clinics - 1)])
    first_therapist = np.cumsum(headcount) - headcount
    skill = rng.normal(0.0, OTHER_THERAPIST_SKILL_SD, headcount.sum())
    skill[: len(MAIN_THERAPISTS)] = [therapist_skill for _, therapist_skill in MAIN_THERAPISTS]
    name = _names(THERAPIST_FIRST_NAMES, THERAPIST_LAST_NAMES,
                  rng.integers(0, len(THERAPIST_FIRST_NAMES) * len(THERAPIST_LAST_NAMES), headcount.sum()))
    name[: len(MAIN_THERAPISTS)] = [therapist_name for therapist_name, _ in MAIN_THERAPISTS]
    return {
        "clinic_headcount": headcount,
        "clinic_first_therapist": first_therapist,
        "therapist_skill": skill,
        "therapist_name": name,
    }


def _clients(rng: np.random.Generator, n: int, staff: dict) -> dict[str, np.ndarray]:
    """Candidate clients in random order: clinic, stretching habit, name, and whether they return."""
    return {
        "clinic": rng.integers(0, staff["clinic_headcount"].size, n),
        "adherence": rng.beta(*ADHERENCE_BETA, n),
        "name": rng.integers(0, len(FIRST_NAMES) * len(LAST_NAMES), n),
        "returns": rng.random(n) < RETURN_SHARE,
    }


def _episodes(rng: np.random.Generator, clients: dict, staff: dict) -> dict[str, np.ndarray]:
    """One first episode per client, then second episodes for the clients who return: condition,
    course type, severity, history, therapist, planned length, baseline and response."""
    n_clients = clients["clinic"].size
    returner = np.flatnonzero(clients["returns"])
    client = np.concatenate([np.arange(n_clients), returner])
    n = client.size
    is_return = np.arange(n) >= n_clients
    first_episode = client  # a client's first episode has the client's own index

    condition = _draw(rng, [share for share, _ in CONDITION_MIX.values()], n)
    same_condition = is_return & (rng.random(n) < RETURN_SAME_CONDITION_SHARE)
    condition[same_condition] = condition[first_episode[same_condition]]
    chronic_share = np.array([chronic for _, chronic in CONDITION_MIX.values()])
    is_chronic = rng.random(n) < chronic_share[condition]
    # The same complaint back after a chronic course is still chronic.
    is_chronic[same_condition] |= is_chronic[first_episode[same_condition]]

    severity = _draw(rng, list(SEVERITY_SHARES.values()), n)
    prior_injuries = _draw(rng, PRIOR_INJURY_SHARES, n)
    prior_injuries[is_return] = np.minimum(prior_injuries[first_episode[is_return]] + 1, len(PRIOR_INJURY_SHARES) - 1)

    therapist = _assign_therapists(rng, clients["clinic"][client], is_chronic, staff)
    same_therapist = is_return & (rng.random(n) < RETURN_SAME_THERAPIST_SHARE)
    therapist[same_therapist] = therapist[first_episode[same_therapist]]

    course = np.where(is_chronic, CHRONIC, ACUTE)  # index into config.COURSE_TYPES
    baseline_mean = np.array([m for m, _ in BASELINE_PAIN.values()])[severity]
    baseline_sd = np.array([s for _, s in BASELINE_PAIN.values()])[severity]
    baseline = np.clip(rng.normal(baseline_mean, baseline_sd), 3.0, 10.0)

    # Personal speed of response: course type, severity, history, therapist and chance.
    slowness = rng.standard_normal(n)
    rate = (np.array([RESPONSE_RATE[c] for c in config.COURSE_TYPES])[course]
            * np.array(list(SEVERITY_RATE.values()))[severity]
            * PRIOR_INJURY_RATE ** prior_injuries
            * np.exp(staff["therapist_skill"][therapist] - RATE_SPREAD * slowness))
    relief_a = np.array([MOST_RELIEF_BETA[c][0] for c in config.COURSE_TYPES])[course]
    relief_b = np.array([MOST_RELIEF_BETA[c][1] for c in config.COURSE_TYPES])[course]
    most_relief = rng.beta(relief_a, relief_b)

    planned = _planned_visits(rng, course, slowness, clients["adherence"][client])
    return {
        "client": client, "is_return": is_return, "same_condition": same_condition,
        "condition": condition, "course": course, "severity": severity, "prior_injuries": prior_injuries,
        "therapist": therapist, "baseline": baseline,
        "rate": rate, "most_relief": most_relief, "planned": planned,
        "onset_lag": _onset_lag(rng, course),
        "has_psfs": rng.random(n) < PSFS_RECORDED_SHARE,
        "has_dorsiflexion": rng.random(n) < DORSIFLEXION_RECORDED_SHARE,
        "first_day": rng.integers(0, CALENDAR_DAYS, n),  # second episodes get theirs in _schedule
        "return_gap": RETURN_GAP_DAYS[0] + np.rint(
            rng.lognormal(math.log(RETURN_GAP_DAYS[1]), RETURN_GAP_DAYS[2], n)).astype(np.int64),
        "tiebreak": rng.random(n),
    }


def _assign_therapists(rng, clinic: np.ndarray, is_chronic: np.ndarray, staff: dict) -> np.ndarray:
    """Each episode's primary therapist: any of its clinic's therapists alike, except in the main
    clinic, where the senior therapist takes more of the chronic courses."""
    headcount = staff["clinic_headcount"][clinic]
    therapist = staff["clinic_first_therapist"][clinic] + (rng.random(clinic.size) * headcount).astype(np.int64)
    for course, shares in MAIN_THERAPIST_SHARE.items():
        chosen = (clinic == 0) & (is_chronic == (course == "chronic"))  # clinic 0 is "main"
        therapist[chosen] = _draw(rng, shares, int(chosen.sum()))
    return therapist


def _planned_visits(rng, course: np.ndarray, slowness: np.ndarray, adherence: np.ndarray) -> np.ndarray:
    """Sessions each episode will have if the calendar does not end first: a full course (longer
    for slow responders), or a few visits for those who drop out early."""
    n = course.size
    planned = np.empty(n, dtype=np.int64)
    rho = COURSE_LENGTH_FOLLOWS_RESPONSE
    length_score = rho * slowness + math.sqrt(1 - rho * rho) * rng.standard_normal(n)
    a, b = ADHERENCE_BETA
    adherence_z = (adherence - a / (a + b)) / math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    drop_draw = rng.random(n)
    drop_visit_draw = rng.random(n)
    for index, name in enumerate(config.COURSE_TYPES):
        in_course = course == index
        lengths = COURSE_LENGTH_SHARES[name]
        # Gaussian copula: the length score's quantile picks the course length.
        cuts = [NormalDist().inv_cdf(q) for q in np.cumsum(list(lengths.values()))[:-1]]
        planned[in_course] = np.array(list(lengths))[np.searchsorted(cuts, length_score[in_course])]
        base = DROPOUT_SHARE[name]
        log_odds = math.log(base / (1 - base)) - DROPOUT_ADHERENCE_EFFECT * adherence_z[in_course]
        drops = drop_draw[in_course] < 1 / (1 + np.exp(-log_odds))
        last_visits = DROPOUT_LAST_VISIT_SHARES[name]
        cumulative = np.cumsum(list(last_visits.values()))
        last_visit = np.array(list(last_visits))[
            np.searchsorted(cumulative / cumulative[-1], drop_visit_draw[in_course], side="right")]
        planned[in_course] = np.where(drops, last_visit, planned[in_course])
    return planned


def _onset_lag(rng, course: np.ndarray) -> np.ndarray:
    """Days between onset and the first visit."""
    lag = np.empty(course.size, dtype=np.int64)
    draw = rng.standard_normal(course.size)
    for index, name in enumerate(config.COURSE_TYPES):
        median, spread, low, high = ONSET_LAG_DAYS[name]
        in_course = course == index
        lag[in_course] = np.clip(np.rint(median * np.exp(spread * draw[in_course])), low, high)
    return lag


# --- Sessions -------------------------------------------------------------------------------

def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For episodes with `counts` sessions each, laid out one episode after another: each
    session's episode, its visit number, and each episode's first row."""
    episode = np.repeat(np.arange(counts.size), counts)
    first_row = np.cumsum(counts) - counts
    visit_number = np.arange(episode.size) - first_row[episode] + 1
    return episode, visit_number, first_row


def _sum_so_far(values: np.ndarray, episode: np.ndarray, first_row: np.ndarray) -> np.ndarray:
    """Running total of `values` within each episode (rows laid out as by _expand)."""
    total = np.cumsum(values)
    return total - (total[first_row] - values[first_row])[episode]


def _schedule(rng, episodes: dict) -> dict[str, np.ndarray]:
    """Session days (counted from FIRST_DAY) for every planned visit, with return episodes placed
    after the client's first course; visits after LAST_DAY are cut, so courses that began in the
    last weeks are still running. Sets episodes["sessions"] to the visits left."""
    episode, visit_number, first_row = _expand(episodes["planned"])
    gap = _draw_values(rng, VISIT_GAP_SHARES, episode.size)
    gap[visit_number == 1] = 0
    offset = _sum_so_far(gap, episode, first_row)
    last_offset = offset[first_row + episodes["planned"] - 1]

    first_day = episodes["first_day"]
    is_return = episodes["is_return"]
    first_episode = episodes["client"][is_return]
    first_day[is_return] = (first_day[first_episode] + last_offset[first_episode]
                            + episodes["return_gap"][is_return])
    # A chronic complaint that comes back dates from its original onset.
    recurring = is_return & episodes["same_condition"] & (episodes["course"] == CHRONIC)
    earlier = episodes["client"][recurring]
    episodes["onset_lag"][recurring] = first_day[recurring] - first_day[earlier] + episodes["onset_lag"][earlier]
    day = first_day[episode] + offset
    # The clinic is closed on Sundays: such a visit moves to Monday. Gaps are at least 6 days,
    # so dates still increase with the visit number.
    day += (day + FIRST_DAY.weekday()) % 7 == 6
    within_calendar = day < CALENDAR_DAYS
    episodes["sessions"] = np.bincount(episode[within_calendar], minlength=first_day.size)
    return {"episode": episode[within_calendar], "visit_number": visit_number[within_calendar],
            "day": day[within_calendar]}


def _first_clients_making(sessions: int, clients: dict, episodes: dict, visits: dict):
    """Keep the first candidate clients whose sessions add up closest to `sessions`. Candidates
    are independent draws, so the kept ones are as typical as the whole lot."""
    per_client = np.bincount(episodes["client"], weights=episodes["sessions"], minlength=clients["clinic"].size)
    running = np.cumsum(per_client)
    first_candidates = int(np.argmin(np.abs(running - sessions))) + 1
    kept_client = (np.arange(per_client.size) < first_candidates) & (per_client > 0)
    kept_episode = kept_client[episodes["client"]] & (episodes["sessions"] > 0)
    kept_visit = kept_episode[visits["episode"]]
    new_client_index = np.cumsum(kept_client) - 1
    new_episode_index = np.cumsum(kept_episode) - 1
    clients = {name: values[kept_client] for name, values in clients.items()}
    episodes = {name: values[kept_episode] for name, values in episodes.items()}
    visits = {name: values[kept_visit] for name, values in visits.items()}
    episodes["client"] = new_client_index[episodes["client"]]
    visits["episode"] = new_episode_index[visits["episode"]]
    return clients, episodes, visits


def _pain_course(rng, clients: dict, episodes: dict, visits: dict) -> None:
    """Pain before and after every session, stretching adherence, PSFS and dorsiflexion, added
    to `visits` (rows still laid out episode by episode)."""
    episode, visit_number = visits["episode"], visits["visit_number"]
    first_row = np.cumsum(episodes["sessions"]) - episodes["sessions"]
    n = episode.size
    is_first_visit = visit_number == 1

    # Stretching in the week before each visit: days out of 7 at the client's own habit.
    habit = clients["adherence"][episodes["client"]][episode]
    adherence_pct = np.rint(rng.binomial(7, habit) * 100 / 7)
    adherence_pct[is_first_visit] = np.nan  # no week of home programme before the first visit

    # The lasting effect of the sessions so far, each weighted by the week of stretching after it.
    previous_session_dose = np.where(visit_number == 2, FIRST_SESSION_DOSE, 1.0)
    week_weight = np.exp(ADHERENCE_RATE_EFFECT * (np.nan_to_num(adherence_pct, nan=50.0) - 50) / 50)
    dose = _sum_so_far(np.where(is_first_visit, 0.0, previous_session_dose * week_weight), episode, first_row)
    progress = 1 - np.exp(-episodes["rate"][episode] * dose)
    baseline = episodes["baseline"][episode]
    expected_pain = baseline * (1 - episodes["most_relief"][episode] * progress)

    flare_up = (rng.random(n) < FLARE_UP_SHARE) * rng.integers(1, 3, n)
    wander = rng.normal(0.0, PAIN_NOISE_SD, n)
    pain_pre = np.clip(np.rint(np.where(is_first_visit, baseline, expected_pain + wander + flare_up)), 0, 10)

    relief = np.rint(rng.normal(RELIEF_MEAN[0] + RELIEF_MEAN[1] * pain_pre, RELIEF_SD))
    pain_post = pain_pre - np.clip(relief, 0, pain_pre)
    # PSFS follows the lasting pain drop (and a little of the relief on the table).
    psfs_baseline = np.clip(rng.normal(10 - 0.75 * episodes["baseline"], 1.1), 0, 10)[episode]
    psfs_pre = np.clip(psfs_baseline + PSFS_PER_PAIN_POINT * (baseline - expected_pain)
                       + rng.normal(0, 0.4, n), 0, 10)
    psfs_pre[is_first_visit] = psfs_baseline[is_first_visit]
    psfs_post = np.clip(psfs_pre + np.abs(rng.normal(0.3 * (pain_pre - pain_post), 0.3)), 0, 10)

    mean, sd, low, high = DORSIFLEXION_BASELINE
    dorsiflexion_baseline = np.clip(rng.normal(mean, sd, episodes["rate"].size), low, high)
    mean, sd, low, high = DORSIFLEXION_GAIN
    dorsiflexion_gain = np.clip(rng.normal(mean, sd, episodes["rate"].size), low, high)
    dorsiflexion_pre = np.rint(dorsiflexion_baseline[episode] + dorsiflexion_gain[episode] * progress
                               + rng.normal(0, 1.0, n))
    dorsiflexion_post = dorsiflexion_pre + np.maximum(np.rint(rng.normal(1.5, 1.0, n)), 0)

    # Real-export wrinkles.
    slipped = (~is_first_visit) & (pain_pre <= 3) & (rng.random(n) < TYPING_SLIP_SHARE)
    pain_pre[slipped] += rng.integers(6, 8, int(slipped.sum()))
    pain_pre = np.minimum(pain_pre, 10)
    adherence_pct[rng.random(n) < ADHERENCE_BLANK_SHARE] = np.nan
    pain_post_blank = rng.random(n) < PAIN_POST_BLANK_SHARE

    has_psfs = episodes["has_psfs"][episode]
    has_dorsiflexion = episodes["has_dorsiflexion"][episode]
    visits.update({
        "pain_pre": pain_pre,
        "pain_post": np.where(pain_post_blank, np.nan, pain_post),
        "stretching_adherence_pct": adherence_pct,
        "psfs_pre": np.where(has_psfs, np.round(psfs_pre, 1), np.nan),
        "psfs_post": np.where(has_psfs, np.round(psfs_post, 1), np.nan),
        "dorsiflexion_pre_deg": np.where(has_dorsiflexion, dorsiflexion_pre, np.nan),
        "dorsiflexion_post_deg": np.where(has_dorsiflexion, dorsiflexion_post, np.nan),
    })


# --- The frame ------------------------------------------------------------------------------

def _visit_log_frame(rng, staff: dict, clients: dict, episodes: dict, visits: dict) -> pd.DataFrame:
    """Name everything and lay the sessions out in date order, as a clinic's export would."""
    n_episodes = episodes["client"].size
    # Episodes are numbered in order of their first visit, clients in order of their first episode.
    episode_rank = _rank(episodes["first_day"], episodes["tiebreak"])
    first_of_client = ~episodes["is_return"]
    client_rank = np.empty(clients["clinic"].size, dtype=np.int64)
    client_rank[episodes["client"][first_of_client]] = _rank(episodes["first_day"][first_of_client],
                                                             episodes["tiebreak"][first_of_client])
    order = np.lexsort((episode_rank[visits["episode"]], visits["day"]))
    episode = visits["episode"][order]
    client = episodes["client"][episode]
    therapist = episodes["therapist"][episode]
    day = visits["day"][order]
    n = episode.size

    client_ids = _ids("C", clients["clinic"].size, 5)
    episode_ids = _ids("E", n_episodes, 5)
    therapist_ids = _ids("T", staff["therapist_skill"].size, 2)
    clinic_ids = np.concatenate([[MAIN_CLINIC], _ids("clinic", staff["clinic_headcount"].size, 2)[1:]]).astype(object)
    client_names = _names(FIRST_NAMES, LAST_NAMES, clients["name"])

    onset_day = episodes["first_day"] - episodes["onset_lag"]
    onset_known = rng.random(n_episodes) >= ONSET_UNKNOWN_SHARE
    earliest_day = min(0, int(onset_day.min()))
    dates = _dates(earliest_day, CALENDAR_DAYS)  # dates[d - earliest_day] is day d
    duration = _draw_values(rng, SESSION_LENGTH_SHARES, n)
    sore_spot = np.rint(duration * SORE_SPOT_SHARE) + rng.integers(-5, 6, n)

    frame = pd.DataFrame({
        "client_id": client_ids[client_rank[client]],
        "episode_id": episode_ids[episode_rank[episode]],
        "condition": np.array(config.CONDITIONS, dtype=object)[episodes["condition"][episode]],
        "course_type": np.array(config.COURSE_TYPES, dtype=object)[episodes["course"][episode]],
        "visit_number": visits["visit_number"][order],
        "session_date": dates[day - earliest_day],
        "therapist_id": therapist_ids[therapist],
        "pain_pre": visits["pain_pre"][order].astype(np.int64),
        "pain_post": _whole_numbers(visits["pain_post"][order]),
        "clinic_id": clinic_ids[clients["clinic"][client]],
        "client_name": client_names[client],
        "therapist_name": staff["therapist_name"][therapist],
        "severity": np.array(config.SEVERITIES, dtype=object)[episodes["severity"][episode]],
        "prior_injuries": episodes["prior_injuries"][episode],
        "onset_date": np.where(onset_known, dates[onset_day - earliest_day], None)[episode],
        "duration_min": duration,
        "sore_spot_min": sore_spot.astype(np.int64),
        "stretching_adherence_pct": _whole_numbers(visits["stretching_adherence_pct"][order]),
        "psfs_pre": visits["psfs_pre"][order],
        "psfs_post": visits["psfs_post"][order],
        "dorsiflexion_pre_deg": _whole_numbers(visits["dorsiflexion_pre_deg"][order]),
        "dorsiflexion_post_deg": _whole_numbers(visits["dorsiflexion_post_deg"][order]),
        # Issue 16's columns, filled by _course_record from a generator of their own.
        "discharge_reason": np.full(n, None, dtype=object),
        "foot_side": np.full(n, None, dtype=object),
        "faam_adl_pct": np.full(n, np.nan),
        "lefs": _whole_numbers(np.full(n, np.nan)),
        "note": np.full(n, None, dtype=object),
        "next_appointment": np.full(n, None, dtype=object),  # set by _course_record: no draw of its own
    }, copy=False)  # the columns are fresh arrays; copying 10 million rows into blocks costs seconds
    return frame


def _per_episode(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per episode of a visit-log frame: what the course record and check-ins are drawn from."""
    by_episode = frame.groupby("episode_id", sort=True)
    episodes = by_episode.agg(
        client_id=("client_id", "first"), condition=("condition", "first"), course_type=("course_type", "first"),
        visits=("visit_number", "max"), first_date=("session_date", "min"), last_date=("session_date", "max"),
        adherence=("stretching_adherence_pct", "mean"))
    last_rows = by_episode["visit_number"].idxmax()
    first_rows = by_episode["visit_number"].idxmin()
    episodes["baseline"] = frame.loc[first_rows.to_numpy(), "pain_pre"].to_numpy().astype(float)
    episodes["last_pain"] = frame.loc[last_rows.to_numpy(), "pain_pre"].to_numpy().astype(float)
    episodes["last_row"] = last_rows.to_numpy()
    minimum = episodes["course_type"].map({course: low for course, (low, _) in config.RECOMMENDED_SESSIONS.items()})
    episodes["completed"] = episodes["visits"] >= minimum
    last = pd.to_datetime(episodes["last_date"])
    episodes["finished"] = (pd.Timestamp(LAST_DAY) - last).dt.days > config.ACTIVE_WITHIN_DAYS
    return episodes


def _choose(rng, shares: dict, n: int) -> np.ndarray:
    """n values drawn from {value: share} (values may be None)."""
    return np.array(list(shares), dtype=object)[_draw(rng, list(shares.values()), n)]


def _course_record(rng, frame: pd.DataFrame) -> None:
    """The issue-16 columns of the visit log, in place: discharge_reason on a finished course
    (every row of it, one value per episode), foot_side, FAAM ADL and LEFS scores on some courses
    rising as pain falls, a few short notes, and on the latest visit of each course still running
    at LAST_DAY the next appointment a week later (blank on every other row). The appointment is
    drawn from nothing, so adding it left every other column, and the check-ins, as they were."""
    episodes = _per_episode(frame)
    n = len(episodes)
    reason = np.where(episodes["completed"], _choose(rng, DISCHARGE_SHARES["completed"], n),
                      _choose(rng, DISCHARGE_SHARES["stopped"], n))
    reason[~episodes["finished"].to_numpy()] = None
    side = _choose(rng, FOOT_SIDE_SHARES, n)
    share = np.where(episodes["condition"].isin(FUNCTION_CONDITIONS), FUNCTION_SCORED_SHARE["function"],
                     FUNCTION_SCORED_SHARE["other"])
    scored = rng.random(n) < share
    lefs_too = scored & (rng.random(n) < LEFS_SCORED_SHARE)
    faam_start = np.clip(rng.normal(88 - FAAM_PER_PAIN_POINT * episodes["baseline"], 6), 5, 95)
    lefs_start = np.clip(rng.normal(70 - LEFS_PER_PAIN_POINT * episodes["baseline"], 5), 5, 75)

    row_episode = episodes.index.get_indexer(frame["episode_id"])
    gained = episodes["baseline"].to_numpy()[row_episode] - frame["pain_pre"].to_numpy(dtype=float)
    visit_number = frame["visit_number"].to_numpy()
    is_last = np.zeros(len(frame), dtype=bool)
    is_last[episodes["last_row"].to_numpy()] = True
    on_form = (visit_number == 1) | is_last | (visit_number % 3 == 0)
    rows = len(frame)
    faam = np.clip(np.asarray(faam_start)[row_episode] + FAAM_PER_PAIN_POINT * gained + rng.normal(0, 3, rows), 0, 100)
    lefs = np.clip(np.asarray(lefs_start)[row_episode] + LEFS_PER_PAIN_POINT * gained + rng.normal(0, 2.5, rows), 0, 80)
    frame["discharge_reason"] = reason[row_episode]
    frame["foot_side"] = side[row_episode]
    frame["faam_adl_pct"] = np.where(scored[row_episode] & on_form, np.round(faam, 1), np.nan)
    frame["lefs"] = _whole_numbers(np.where(lefs_too[row_episode] & on_form, np.rint(lefs), np.nan))
    note = rng.random(rows) < NOTE_SHARE
    frame["note"] = np.where(note, np.array(NOTES, dtype=object)[rng.integers(0, len(NOTES), rows)], None)
    running = episodes["last_row"].to_numpy()[~episodes["finished"].to_numpy()]
    appointment = np.full(rows, None, dtype=object)
    appointment[running] = frame["session_date"].to_numpy()[running] + dt.timedelta(days=NEXT_APPOINTMENT_DAYS)
    frame["next_appointment"] = appointment


CHECKIN_COLUMNS = ("episode_id", "answered_on", "pain", "first_steps_pain", "stretch_days", "pgic", "pain_returned")


def generate_checkins(visits: pd.DataFrame, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The sample clinic's check-ins for a visit log made by generate_visit_log, in the check-in
    import format (CHECKIN_COLUMNS, pain_returned yes/no or blank, dates YYYY-MM-DD, only up to
    LAST_DAY): for finished courses the follow-ups at config.FOLLOWUP_DAYS after the last visit,
    about half answered (completers more often), and for a few courses a check-in between visits
    2 and 3. What the answers say is planted (sample_data/README.md): the pain holds for completers
    who keep stretching and creeps back otherwise, and comes back (pain_returned yes) more for
    chronic courses, for clients who stopped stretching and for courses not completed. A client's
    later course for the same condition counts as the pain back from a little before it began,
    and no check-in of a course falls after the client's next course began."""
    rng = np.random.default_rng([seed, ISSUE16_SEED_OFFSET, 1])
    episodes = _per_episode(visits)
    n = len(episodes)
    completed = episodes["completed"].to_numpy()
    chronic = (episodes["course_type"] == "chronic").to_numpy()
    habit = np.nan_to_num(episodes["adherence"].to_numpy(dtype=float) / 100, nan=0.5)
    stops = rng.random(n) < np.where(completed, STOP_STRETCHING_SHARE["completed"], STOP_STRETCHING_SHARE["stopped"])
    last = pd.to_datetime(episodes["last_date"]).to_numpy()
    first = pd.to_datetime(episodes["first_date"])

    # The client's next course (any), and next course for the same condition, after this one.
    order = episodes.assign(first=first).reset_index().sort_values(["client_id", "first"])
    next_start = order.groupby("client_id")["first"].shift(-1)
    next_same = order.groupby(["client_id", "condition"])["first"].shift(-1)
    next_start = next_start.set_axis(order["episode_id"]).reindex(episodes.index).to_numpy()
    next_same = next_same.set_axis(order["episode_id"]).reindex(episodes.index).to_numpy()
    days = lambda until: (until - last) / np.timedelta64(1, "D")  # noqa: E731
    next_same_day = days(next_same)

    hazard = (np.where(chronic, RECURRENCE_MONTHLY_HAZARD["chronic"], RECURRENCE_MONTHLY_HAZARD["acute"])
              * np.where(stops, RECURRENCE_NO_STRETCH_FACTOR, 1.0) * np.where(completed, 1.0, RECURRENCE_NOT_COMPLETED_FACTOR))
    healed = completed & ~chronic & (rng.random(n) < HEALED_FOR_GOOD_SHARE)
    recurs_day = np.where(healed, np.inf, rng.exponential(30.4 / hazard))
    before_new = next_same_day - rng.integers(7, 31, n)
    recurs_day = np.where(np.isnan(next_same_day), recurs_day, np.minimum(recurs_day, np.maximum(before_new, 1)))
    holding = completed & ~stops
    creep = np.where(holding, CREEP_SHARE["holding"], CREEP_SHARE["other"])
    back = rng.uniform(*RETURNED_PAIN_SHARE, n)
    gained = np.maximum(episodes["baseline"].to_numpy() - episodes["last_pain"].to_numpy(), 0)
    first_steps = episodes["condition"].isin(config.FIRST_STEPS_CONDITIONS).to_numpy()
    answer_share = np.where(completed, ANSWER_SHARE["completed"], ANSWER_SHARE["stopped"])
    finished = episodes["finished"].to_numpy()

    parts = []
    for day in config.FOLLOWUP_DAYS:
        answered_day = day + rng.integers(ANSWER_DAYS_LATE[0], ANSWER_DAYS_LATE[1] + 1, n)
        on = last + answered_day * np.timedelta64(1, "D")
        keep = (finished & (rng.random(n) < answer_share) & (on <= np.datetime64(LAST_DAY))
                & (np.isnan(days(next_start)) | (on < next_start)))
        recurred = recurs_day <= answered_day
        pain = (episodes["last_pain"].to_numpy() + gained * np.where(recurred, back, creep * min(day / 182, 1.0))
                + rng.normal(0, CHECKIN_PAIN_SD, n))
        pain = np.clip(np.rint(pain), 0, 10)
        parts.append(pd.DataFrame({
            "episode_id": episodes.index[keep], "answered_on": pd.to_datetime(on[keep]).date,
            "pain": pain[keep], "first_steps_pain": np.where(first_steps, np.minimum(pain + 1, 10), np.nan)[keep],
            "stretch_days": np.where(stops, 0, np.maximum(rng.binomial(7, habit), 1))[keep],
            "pgic": _pgic(rng, episodes["baseline"].to_numpy(), pain)[keep],
            "pain_returned": np.where(recurred, "yes", "no")[keep]}))
    # A few check-ins between visits 2 and 3 (no "has it come back?" then).
    between = (episodes["visits"].to_numpy() >= 3) & (rng.random(n) < BETWEEN_VISIT_SHARE)
    second = visits[visits["visit_number"] == 2].set_index("episode_id")
    ids = episodes.index[between]
    on = pd.to_datetime(second.loc[ids, "session_date"]) + pd.Timedelta(days=3)
    parts.append(pd.DataFrame({
        "episode_id": ids, "answered_on": on.dt.date.to_numpy(), "pain": second.loc[ids, "pain_pre"].to_numpy(dtype=float),
        "first_steps_pain": np.nan, "stretch_days": rng.binomial(7, habit[between]), "pgic": np.nan, "pain_returned": None}))
    checkins = pd.concat(parts, ignore_index=True).sort_values(["answered_on", "episode_id"], ignore_index=True)
    for column in ("pain", "first_steps_pain", "stretch_days", "pgic"):
        checkins[column] = _whole_numbers(checkins[column].to_numpy(dtype=float))
    return checkins[list(CHECKIN_COLUMNS)]


def _pgic(rng, baseline: np.ndarray, pain: np.ndarray) -> np.ndarray:
    """The client's impression of change (1 very much improved .. 7 very much worse) from the
    share of the first visit's pain gone, give or take one step now and then."""
    gone = (baseline - pain) / np.maximum(baseline, 1)
    answer = np.select([gone >= 0.6, gone >= 0.35, gone >= 0.15, gone >= -0.05, gone >= -0.25],
                       [1, 2, 3, 4, 5], default=6)
    step = np.where(rng.random(baseline.size) < 0.2, rng.choice([-1, 1], baseline.size), 0)
    return np.clip(answer + step, 1, 7).astype(float)


def _draw(rng, shares, n: int) -> np.ndarray:
    """n category indices drawn with the given shares."""
    cumulative = np.cumsum(np.asarray(shares, dtype=float))
    return np.searchsorted(cumulative / cumulative[-1], rng.random(n), side="right").astype(np.int64)


def _draw_values(rng, shares: dict[int, float], n: int) -> np.ndarray:
    """n values drawn from {value: share}."""
    return np.array(list(shares), dtype=np.int64)[_draw(rng, list(shares.values()), n)]


def _rank(first_key: np.ndarray, second_key: np.ndarray) -> np.ndarray:
    """0-based position of each element when sorted by first_key, then second_key."""
    order = np.lexsort((second_key, first_key))
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return rank


def _ids(prefix: str, n: int, min_digits: int) -> np.ndarray:
    """prefix + zero-padded 1..n, e.g. C00001; as Python strings shared by every row that uses them."""
    digits = max(min_digits, len(str(n)))
    numbers = np.strings.zfill(np.arange(1, n + 1).astype(str), digits)
    return np.strings.add(prefix, numbers).astype(object)


def _names(first_names: tuple[str, ...], last_names: tuple[str, ...], code: np.ndarray) -> np.ndarray:
    """'First Last' for each code in 0..len(first)*len(last)-1."""
    every_name = np.array([f"{first} {last}" for first in first_names for last in last_names], dtype=object)
    return every_name[code]


def _dates(first: int, stop: int) -> np.ndarray:
    """datetime.date objects for the days first..stop-1 counted from FIRST_DAY."""
    start = np.datetime64(FIRST_DAY, "D")
    return np.arange(start + first, start + stop).astype(object)


def _whole_numbers(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Floats that are whole numbers or NaN as a nullable integer column (written without '.0')."""
    missing = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing)


if __name__ == "__main__":
    print(write_sample_csv(), SAMPLE_CHECKINS_CSV)
