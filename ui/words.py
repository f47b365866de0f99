"""Words a person reads that state a clinical threshold, built from analytics.config when they are
shown, so a changed threshold changes every screen that names it."""
from __future__ import annotations

from analytics import client, config
from analytics.filters import Filter
from analytics.metrics import rule


def _name(chosen: Filter | str | None) -> str:
    name = chosen.rule if isinstance(chosen, Filter) else chosen
    return config.DEFAULT_PAIN_RULE if name is None else name


def improvement_rule(chosen: Filter | str | None = None) -> str:
    """The meaningful-improvement rule of a filter (or a rule's name; None is the default):
    "at least 2 points and 30%", "at least 50%" (then "below …")."""
    return f"at least {rule.pain(_name(chosen)).words()}"


def rule_name(chosen: Filter | str | None = None) -> str:
    """Which rule a figure uses, to follow the thresholds: "the points-and-percent rule"."""
    return f"the {_name(chosen)} rule"


def improvement_visit() -> str:
    """The visit whose pain before the session judges "improved after the second session": "visit 3"."""
    return f"visit {config.AFTER_SESSION2_VISIT}"


def recommended_minimums() -> str:
    """The fewest sessions that complete a course, by course type: "3 acute, 8 chronic"."""
    return ", ".join(f"{config.RECOMMENDED_SESSIONS[course][0]} {course}" for course in config.COURSE_TYPES)


def recommended_range(course_type: str) -> str:
    """The recommended number of sessions for one course type: "3-5"."""
    low, high = config.RECOMMENDED_SESSIONS[course_type]
    return f"{low}-{high}"


def active_window() -> str:
    """How recent a visit keeps an unfinished course active: "21 days"."""
    return f"{config.ACTIVE_WITHIN_DAYS} days"


def adherence_bands() -> str:
    """The stretching-adherence bands: "0-25, 25-50, 50-75 and 75-100%"."""
    bands = [f"{low}-{high}" for low, high in config.ADHERENCE_BANDS]
    return (", ".join(bands[:-1]) + " and " + bands[-1] if len(bands) > 1 else bands[0]) + "%"


# A course's status (metrics.query.STATUSES) and why it ended (config.DISCHARGE_REASONS), as a
# person says them; tables and charts show these in place of the stored codes.
STATUS_WORDS: dict[str, str] = {"completed": "completed", "active": "active", "closed_early": "closed early",
                                "lost_to_follow_up": "lost to follow-up"}
DISCHARGE_REASON_WORDS: dict[str, str] = {
    "goals_met": "goals met", "improved_enough": "improved enough", "no_change": "no change",
    "cost_or_time": "cost or time", "moved": "moved away", "referred_elsewhere": "referred elsewhere",
    "other": "another reason"}


def discharge_reason(reason: str) -> str:
    """Why a course ended, in plain words: cost_or_time -> "cost or time"."""
    return DISCHARGE_REASON_WORDS.get(reason, reason.replace("_", " "))


def course_status(status: str, reason: str | None = None) -> str:
    """A course's status with its discharge reason, if it has one: "closed early: cost or time",
    "completed: goals met", "lost to follow-up"."""
    words = STATUS_WORDS.get(status, status.replace("_", " "))
    if isinstance(reason, str) and reason:
        return f"{words}: {discharge_reason(reason)}"
    return words


def dropout_meaning() -> str:
    """What a drop-out figure counts, for the captions that show one."""
    return ("a drop-out is a course that stopped short of the recommended minimum without meeting its goals: "
            f"closed early (with a reason), or lost to follow-up (no reason, no visit for {active_window()})")


# The client's check-in page (app_pages/checkin.py): what it asks, in the client's words.
CHECKIN_TITLE = "How is your foot?"
CHECKIN_PAIN = "Your pain right now (0 = no pain, 10 = worst imaginable)"
CHECKIN_FIRST_STEPS = "Pain on your first steps this morning (0-10)"
CHECKIN_STRETCH_DAYS = "On how many of the last 7 days did you do your stretches?"
CHECKIN_PGIC = "Since your treatment began, how would you describe the change in your foot?"
CHECKIN_PAIN_RETURNED = "Since your last visit, has the pain come back?"
CHECKIN_SEND = "Send my answers"
CHECKIN_THANKS = "Thank you: your answers are saved. You can close this page."
CHECKIN_PLAN = "Your stretching plan"
YES_NO = ("yes", "no")


def pgic_answers() -> tuple[str, ...]:
    """The PGIC's seven answers as the client reads them, 1 (very much improved) first."""
    return tuple(answer.capitalize() for answer in config.PGIC_ANSWERS)


def followup_name(day: int) -> str:
    """A follow-up by its distance from the last visit: 28 -> "4 weeks", 91 -> "3 months"."""
    if day < 60 and day % 7 == 0:
        return f"{day // 7} weeks"
    if day < 60:
        return f"{day} days"
    return f"{round(day / 30.44)} months"


def followup_label(day: int) -> str:
    """A follow-up as people say it, from its day after the last visit: 28 -> "4 weeks",
    91 -> "3 months", 182 -> "6 months" (analytics.client.followup_words)."""
    return client.followup_words(day)


def followups() -> str:
    """The follow-ups after the last visit: "4 weeks, 3 months and 6 months"."""
    labels = [followup_label(day) for day in config.FOLLOWUP_DAYS]
    return ", ".join(labels[:-1]) + " and " + labels[-1] if len(labels) > 1 else labels[0]


def stretch_bands() -> str:
    """The bands of stretching days at a follow-up: "0, 1-3 and 4-7 days a week"."""
    bands = [f"{low}" if low == high else f"{low}-{high}" for low, high in config.STRETCH_DAY_BANDS]
    return (", ".join(bands[:-1]) + " and " + bands[-1] if len(bands) > 1 else bands[0]) + " days a week"


def pgic_improved() -> str:
    """The PGIC answers counted as improved: "much or very much improved"."""
    answers = list(reversed(config.PGIC_ANSWERS[:config.PGIC_IMPROVED_AT_MOST]))
    return " or ".join(answers).replace(" improved or very much", " or very much")


def recurrence_window() -> str:
    """How soon a new course for the same complaint counts as the pain coming back: "12 months"."""
    days = config.RECURRENCE_WITHIN_DAYS
    return f"{round(days / 30.4)} months" if days >= 60 else f"{days} days"


def function_changes() -> str:
    """The meaningful changes in foot function: "8 points on the FAAM ADL, 9 on the LEFS"."""
    return f"{config.MCID_FAAM_ADL_POINTS:g} points on the FAAM ADL, {config.MCID_LEFS_POINTS:g} on the LEFS"
