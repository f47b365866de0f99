"""Every clinical threshold and vocabulary the analytics use, named once so a change is one edit."""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

# The nine complaints the clinic treats (calves first). Stored values are snake_case.
CONDITIONS: tuple[str, ...] = (
    "plantar_fasciitis",
    "heel_spur",
    "bunion",
    "hammer_toe",
    "flat_feet",
    "pronation",
    "mid_arch_pain",
    "tendonitis",
    "shin_splints",
)
COURSE_TYPES: tuple[str, ...] = ("acute", "chronic")
SEVERITIES: tuple[str, ...] = ("mild", "moderate", "severe")
PHASES: tuple[str, ...] = ("pre", "post")
# Why a course of care ended (the visit log's optional discharge_reason, one per course, or
# "Close this course" on the Client progress page), and which foot it treats (foot_side, stored
# only). Course status (metrics/query.py episodes_cte) reads the reason: a course closed for one
# of COMPLETING_REASONS is completed whatever its length; closed for any other reason before the
# recommended minimum it is closed early (a drop-out the clinic knows the reason of); a course
# with a reason is never active.
DISCHARGE_REASONS: tuple[str, ...] = ("goals_met", "improved_enough", "no_change", "cost_or_time", "moved",
                                      "referred_elsewhere", "other")
COMPLETING_REASONS: tuple[str, ...] = ("goals_met", "improved_enough")
FOOT_SIDES: tuple[str, ...] = ("left", "right", "both")

# The visit-log columns themselves (names, ranges, labels, storage) live in analytics/catalog.py.

# The clinic's promise: acute injuries need 3-5 hour-long sessions, chronic pain 8-12.
RECOMMENDED_SESSIONS: dict[str, tuple[int, int]] = {"acute": (3, 5), "chronic": (8, 12)}

# Meaningful improvement on the 0-10 pain scale is a named choice (PAIN_RULES). The default,
# "points-and-percent", asks for a drop of at least 2 points AND at least 30% of baseline: a
# stricter reading than Farrar et al. 2001 (Pain 94:149-158), whose "much improved" is about
# 2 points OR about 30%; Salaffi et al. 2004 (Eur J Pain 8:283-291) found 2 points and 33% to
# be "much better" in chronic musculoskeletal pain. The same 2-point rule is used for PSFS.
MCID_PAIN_POINTS: float = 2.0
MCID_PAIN_FRACTION: float = 0.30
MCID_PSFS_POINTS: float = 2.0

# The improvement rules a manager may choose, by name: (points, fraction, combine); None = not
# asked; MCID = MCID_PAIN_POINTS / MCID_PAIN_FRACTION above, read when the rule is used (so a
# changed threshold changes the default rule and its words).
#   points-and-percent  >= 2 points and >= 30% (default; stricter than Farrar, cf. Salaffi 2004)
#   points-or-percent   >= 2 points or >= 30%  (Farrar et al. 2001)
#   percent-30          >= 30%  (IMMPACT "moderately important", Dworkin et al. 2008, J Pain 9:105-121)
#   percent-50          >= 50%  (IMMPACT "substantial", Dworkin et al. 2008)
MCID = "MCID"
PAIN_RULES: dict[str, tuple[float | str | None, float | str | None, str]] = {
    "points-and-percent": (MCID, MCID, "and"),
    "points-or-percent": (MCID, MCID, "or"),
    "percent-30": (None, 0.30, "and"),
    "percent-50": (None, 0.50, "and"),
}
DEFAULT_PAIN_RULE: str = "points-and-percent"

# "Improved after the second session" is judged on the pain reported before visit 3: the lasting
# effect of two sessions, not the relief felt on the table.
AFTER_SESSION2_VISIT: int = 3

# An unfinished course with no discharge reason is "active" while its last visit is within this
# many days of the latest session in the data; after that it is "lost to follow-up": the client
# has most likely stopped coming without saying why.
ACTIVE_WITHIN_DAYS: int = 21

# The importing and reporting machine's date: no session may be after it, and "active" never
# counts back from a later day. Looked up at every use, so a test can fix it.
today: Callable[[], dt.date] = dt.date.today

# Stretching adherence bands for the home-program comparison, in percent (lower bound inclusive,
# the last band includes 100).
ADHERENCE_BANDS: tuple[tuple[int, int], ...] = ((0, 25), (25, 50), (50, 75), (75, 100))

# Fair therapist comparison: fewer finished episodes than this and we say "too few to judge".
MIN_EPISODES_TO_JUDGE: int = 10
# Typical-course band: fewer peers with the same condition than this and we fall back to the
# course type alone.
MIN_TYPICAL_COURSE_PEERS: int = 30
# ... and the band is drawn only at visits where at least this many peers have a score, and stops
# at the first visit with fewer: a band resting on one or two other clients would show their own
# pain (small-cell suppression, as health statistics offices publish).
MIN_TYPICAL_COURSE_PEERS_PER_VISIT: int = 10
# Pain by visit is drawn as the line only where it rests on at least this many courses; a visit
# reached by fewer (the long tail of a few courses running past the recommended range) is shown
# as a faint marker with its n, so a rise carried by a handful of clients is not read as a trend.
MIN_TRAJECTORY_COURSES: int = 20
# A therapist (not a manager) sees a clinic-wide figure, chart point or table row only when it
# rests on at least this many courses of other therapists, or on none (then it is all their own
# clients): small-cell suppression, so a narrow filter cannot single out a colleague's client.
MIN_CELL_COURSES: int = 10
# ...and the clinic filter offers a therapist only the clinics where at least this many other
# therapists have courses: a clinic of the viewer and one colleague would make every figure that
# colleague's own results, which the Therapists page shows only anonymised.
MIN_CLINIC_COLLEAGUES: int = 2

# The overview shows a change against the previous period only when the earlier figure rests on
# at least this many courses; fewer, and a change of "+78.9 points" may be one client.
MIN_COMPARISON_COURSES: int = 20

# What clients report themselves (check-ins), between visits and after the last one.
# Follow-ups are due this many days after a course's last visit (4 weeks, 3 months, 6 months),
# once the course is no longer active. A check-in answers follow-up k when it is dated from
# FOLLOWUP_OPENS_DAYS_BEFORE days before k's due date up to the day before the next follow-up
# opens; the last one stays open FOLLOWUP_LAST_OPEN_DAYS after its due date (analytics/metrics/followups.py).
FOLLOWUP_DAYS: tuple[int, ...] = tuple(int(day) for day in os.environ.get("CLINIC_FOLLOWUP_DAYS", "28,91,182").split(","))
FOLLOWUP_OPENS_DAYS_BEFORE: int = 7
FOLLOWUP_LAST_OPEN_DAYS: int = 60
# A course's check-in link stops working this many months after its last visit (or when revoked).
CHECKIN_LINK_MONTHS: int = int(os.environ.get("CLINIC_CHECKIN_LINK_MONTHS", "8"))
# The address clients reach the dashboard at (a check-in link is {CLINIC_PUBLIC_URL}/?checkin=TOKEN):
# set it to the clinic's public https address; the default suits a dashboard on this machine.
CLINIC_PUBLIC_URL: str = os.environ.get("CLINIC_PUBLIC_URL", "http://localhost:8501")
# The Patient Global Impression of Change (Hurst and Bolton 2004), stored 1-7 in this order;
# "much or very much improved" (1-2) is the responder share reported.
PGIC_ANSWERS: tuple[str, ...] = ("very much improved", "much improved", "minimally improved", "no change",
                                 "minimally worse", "much worse", "very much worse")
PGIC_IMPROVED_AT_MOST: int = 2
# Conditions whose check-in also asks for the pain of the first steps in the morning.
FIRST_STEPS_CONDITIONS: tuple[str, ...] = ("plantar_fasciitis", "heel_spur")
# Days with stretches in the last 7, as the lasting-results page groups them.
STRETCH_DAY_BANDS: tuple[tuple[int, int], ...] = ((0, 0), (1, 3), (4, 7))
# Recurrence: a follow-up saying the pain came back, or a new course for the same client and
# condition starting within this many days after the last visit.
RECURRENCE_WITHIN_DAYS: int = 365
# The share recurred by 3, 6 or 12 months is read off the Kaplan-Meier curve only where at least
# this many courses are still followed (the tail of a curve resting on a handful jumps to 0 or 1).
MIN_RECURRENCE_AT_RISK: int = 20
# Meaningful change on the foot-function scores: FAAM ADL 8 points (Martin et al. 2005, Foot
# Ankle Int 26:968-983), LEFS 9 points (Binkley et al. 1999, Phys Ther 79:371-383).
MCID_FAAM_ADL_POINTS: float = 8.0
MCID_LEFS_POINTS: float = 9.0

# A change of more than this many points between consecutive pre-session scores is flagged as
# implausible in the data-quality report (typing errors such as 2 -> 9 -> 2).
IMPLAUSIBLE_JUMP_POINTS: float = 5.0

# Imports larger than this are refused before they are read (hostile or mistaken files).
# The default is also the uploader's limit in .streamlit/config.toml (server.maxUploadSize).
MAX_IMPORT_BYTES_DEFAULT_MB: int = 200  # a 1 M-row visit log as CSV is about 125 MB
MAX_IMPORT_BYTES: int = int(os.environ.get("CLINIC_MAX_IMPORT_MB", str(MAX_IMPORT_BYTES_DEFAULT_MB))) * 1024 * 1024

# Sign-in: one browser session or client address with this many failed sign-ins within the
# minutes below is refused further tries on any account until the oldest is that old (on top of
# the per-account lock in analytics/auth.py). A signed-in user idle for CLINIC_IDLE_MINUTES is
# signed out: a tablet left on the desk does not stay open to the next person.
SIGN_IN_THROTTLE_FAILURES: int = int(os.environ.get("CLINIC_SIGN_IN_THROTTLE_FAILURES", "10"))
SIGN_IN_THROTTLE_MINUTES: int = int(os.environ.get("CLINIC_SIGN_IN_THROTTLE_MINUTES", "15"))
# ...and one with failures on this many different user names within those minutes, so one
# password cannot be tried on every account (a person mistyping their own name twice still gets in).
SIGN_IN_THROTTLE_ACCOUNTS: int = int(os.environ.get("CLINIC_SIGN_IN_THROTTLE_ACCOUNTS", "3"))
IDLE_MINUTES: float = float(os.environ.get("CLINIC_IDLE_MINUTES", "30"))

def warm_up_on_open() -> bool:
    """Whether the dashboard computes ahead in the background: the Overview's default figures as
    soon as it opens the database (ui/guard.py WARM_UP), and the few courses a therapist's search
    found (prefetch_episode_views). CLINIC_WARM_UP=off switches both off (the tests do, but for
    the ones that test them: a background computation would race their counts)."""
    return os.environ.get("CLINIC_WARM_UP", "on") != "off"


# DuckDB memory for the dashboard process (imports from the command line are not limited).
# 600 MB keeps the process within 1.2 GB through a browser session at 10 M sessions (953 MB
# measured, against 1,366 MB with 1 GB, at the same page times: benchmarks/RESULTS.md section 8).
APP_MEMORY_LIMIT: str = os.environ.get("CLINIC_APP_MEMORY_LIMIT", "600MB")

# The clinic as the client's take-home report names it: its name and how to reach it (a phone
# number, an address), set per clinic; blank contact lines are left out.
CLINIC_NAME: str = os.environ.get("CLINIC_NAME", "Foot-pain clinic")
CLINIC_CONTACT: str = os.environ.get("CLINIC_CONTACT", "")

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA_DIR = REPO_ROOT / "sample_data"
DEFAULT_DB_PATH = REPO_ROOT / "data" / "clinic.duckdb"


def database_path(explicit: str | os.PathLike | None = None) -> Path:
    """The clinic database: an explicit path, else $CLINIC_DB, else data/clinic.duckdb."""
    if explicit:
        return Path(explicit)
    if os.environ.get("CLINIC_DB"):
        return Path(os.environ["CLINIC_DB"])
    return DEFAULT_DB_PATH


# The clinic chain (docs/architecture.md, "A clinic chain"): with CLINIC_DATABASE_URL set
# (postgresql://user@host:port/dbname) PostgreSQL is the system of record and every dashboard
# process keeps its database file (CLINIC_DB, one per process) as a local copy of it. Read when
# used, so a test can switch it on for one case.
def database_url() -> str | None:
    """The PostgreSQL address of the clinic chain, None when the chain mode is off."""
    return os.environ.get("CLINIC_DATABASE_URL") or None


# How often a replica asks PostgreSQL whether another process wrote (seconds).
CHAIN_POLL_SECONDS: float = float(os.environ.get("CLINIC_CHAIN_POLL_SECONDS", "1"))


def __getattr__(name: str):
    """REQUIRED_COLUMNS, OPTIONAL_COLUMNS and VISIT_LOG_COLUMNS, once named here, now come from
    the catalog (imported lazily: the catalog itself reads config's vocabularies)."""
    derived = {"REQUIRED_COLUMNS": "REQUIRED", "OPTIONAL_COLUMNS": "OPTIONAL", "VISIT_LOG_COLUMNS": "NAMES"}
    if name in derived:
        from analytics import catalog

        return getattr(catalog, derived[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Operations on one machine (analytics/ops.py): the inbox folder the running dashboard imports
# from, the socket the command line talks to it through, and the scheduled daily backup. Each
# defaults to a place beside the database file and is looked up at every use (tests move them).
def inbox_path(database: Path | None = None) -> Path:
    """The inbox: $CLINIC_INBOX, else inbox/ beside the database (data/inbox/ by default)."""
    if os.environ.get("CLINIC_INBOX"):
        return Path(os.environ["CLINIC_INBOX"])
    return (database or database_path()).parent / "inbox"


def socket_path(database: Path | None = None) -> Path:
    """The dashboard's command socket: $CLINIC_SOCKET, else DATABASE.sock beside the database."""
    if os.environ.get("CLINIC_SOCKET"):
        return Path(os.environ["CLINIC_SOCKET"])
    database = database or database_path()
    return database.with_name(database.name + ".sock")


# A file in the inbox is imported once its size and modification time have not changed for this
# many seconds (a copy or a cron job still writing it is left alone).
INBOX_SETTLE_SECONDS: float = float(os.environ.get("CLINIC_INBOX_SETTLE_SECONDS", "2"))


def backup_folder(database: Path | None = None) -> Path | None:
    """Where the dashboard makes its daily backup: $CLINIC_BACKUP_DIR, else backups/ beside the
    database (data/backups/); CLINIC_BACKUP_DIR=off switches the scheduled backup off."""
    value = os.environ.get("CLINIC_BACKUP_DIR", "")
    if value.strip().lower() == "off":
        return None
    if value:
        return Path(value)
    return (database or database_path()).parent / "backups"


# The hour (local time, 0-23) of the daily backup, and how many backups to keep (newest first).
BACKUP_HOUR: int = int(os.environ.get("CLINIC_BACKUP_HOUR", "2"))
BACKUP_KEEP: int = int(os.environ.get("CLINIC_BACKUP_KEEP", "14"))
