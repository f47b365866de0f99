"""The filter sidebar every manager page shares. Its state lives in the address bar
(`?course=acute&condition=plantar_fasciitis&from=2025-01-01&to=2025-12-31&rule=points-or-percent`), so a
filtered view can be bookmarked and sent to a colleague. The improvement rule is chosen here too
(`rule=`, left out of the address when it is the default)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Collection
from typing import Any

import duckdb
import streamlit as st

from analytics import config, options
from analytics import text as stored_text
from analytics.filters import Filter
from analytics.metrics import rule as rules
from ui import charts, guard, signin, text

# Address parameter -> (Filter field, widget label). Lists may repeat the parameter
# (?condition=a&condition=b) or separate values with commas (?condition=a,b).
LIST_PARAMS: dict[str, tuple[str, str]] = {
    "clinic": ("clinics", "Clinic"),
    "therapist": ("therapists", "Therapist"),
    "condition": ("conditions", "Condition"),
    "course": ("course_types", "Course type"),
    "severity": ("severities", "Severity"),
}
DATE_PARAMS: dict[str, tuple[str, str]] = {"from": ("start", "Courses starting from"), "to": ("end", "… up to")}
RULE_PARAM = "rule"  # the improvement rule's name (config.PAIN_RULES); the default is not written
PARAMS = (*DATE_PARAMS, *LIST_PARAMS, RULE_PARAM)

_WIDGET = "filter_{}".format           # widget keys: filter_from, filter_course, ...
_LAST_URL = "_filters_last_url"        # the parameters this sidebar last wrote
_LAST_VALUES = "_filters_last_values"  # the values behind them, to restore widgets after a page switch


def sidebar(con: duckdb.DuckDBPyConnection) -> Filter:
    """Draw the filters in the sidebar and return the Filter they describe.

    The address decides on a fresh visit or when someone edits it; afterwards the widgets decide
    and the address follows them. Unknown values in the address are dropped with a warning."""
    choices = guard.filter_options(con)  # options.filter_options, once per data version
    withheld: set[str] = set()
    if (viewer := signin.viewer_therapist()) is not None:
        # A therapist filters by no colleague: the list of names is not offered, and a
        # therapist=... in the address is dropped like any unknown value. Nor by a clinic where
        # fewer than two colleagues work, whose figures would be one colleague's own.
        clinics = choices.clinics_for(viewer)
        withheld = set(choices.clinics) - set(clinics)
        choices = dataclasses.replace(choices, therapists={}, clinics=clinics)
    problems = _seed_widgets_from_address(choices, withheld)
    with st.sidebar:
        st.header("Filters")
        for problem in problems:
            st.warning(problem, icon=":material/warning:")
        values = _draw_widgets(choices)
        st.button("Clear filters", on_click=_clear, key="filter_clear", width="stretch")
    _write_address(values)
    f = Filter(
        start=values["from"], end=values["to"],
        clinics=tuple(values["clinic"]), therapists=tuple(values["therapist"]),
        conditions=tuple(values["condition"]), course_types=tuple(values["course"]),
        severities=tuple(values["severity"]),
        # A therapist looking at these pages sees colleagues anonymised, as the metrics define.
        viewer_therapist=signin.viewer_therapist(),
        # The default is None, so the default rule's figures are cached once whichever way it came.
        rule=None if values[RULE_PARAM] == config.DEFAULT_PAIN_RULE else values[RULE_PARAM],
    )
    if f.viewer_therapist is not None:
        # A therapist's dates count whole months: two filters a few days apart cannot be
        # subtracted to single out one colleague's course (README, Security).
        rounded = f.in_whole_months()
        if rounded != f:
            st.sidebar.caption(f"Dates count whole months for a therapist: courses starting "
                               f"{_month_words(rounded.start, rounded.end)}.")
        f = rounded
    return f


def _month_words(start: dt.date | None, end: dt.date | None) -> str:
    """'from 1 Dec 2024 up to 31 Dec 2024' (either end may be open)."""
    parts = [f"from {start:%-d %b %Y}"] if start is not None else []
    parts += [f"up to {end:%-d %b %Y}"] if end is not None else []
    return " ".join(parts)


def describe(f: Filter) -> str:
    """The filter as the address writes it, ids and dates only: 'from=2024-12-07&course=acute',
    or 'no filter'."""
    parts = [f"{param}={value.isoformat()}" for param, (field, _) in DATE_PARAMS.items()
             if (value := getattr(f, field)) is not None]
    parts += [f"{param}={','.join(values)}" for param, (field, _) in LIST_PARAMS.items() if (values := getattr(f, field))]
    if f.rule is not None and f.rule != config.DEFAULT_PAIN_RULE:
        parts.append(f"{RULE_PARAM}={f.rule}")
    return "&".join(parts) or "no filter"


def rule_label(name: str) -> str:
    """A rule's name with its thresholds, as the sidebar offers it: 'points-or-percent (2 points or 30%)'."""
    return f"{name} ({rules.pain(name).words()}{', default' if name == config.DEFAULT_PAIN_RULE else ''})"


def _choices_for(param: str, choices: options.FilterOptions) -> dict[str, str]:
    """value -> label for a list parameter."""
    if param in ("clinic", "therapist"):  # stored names, shown on one line and shortened
        names = choices.clinics if param == "clinic" else choices.therapists
        return {value: stored_text.label(name, text.LABEL_CHARS) for value, name in names.items()}
    stored = {"condition": choices.conditions, "course": choices.course_types, "severity": choices.severities}[param]
    return {value: charts.label(value) for value in stored}


def _address() -> dict[str, list[str]]:
    return {param: st.query_params.get_all(param) for param in PARAMS if param in st.query_params}


def _shown(text: str) -> str:
    """A value from the address, made safe to echo in a Markdown message."""
    return "`" + re.sub(r"[^\w\-.:, ]", "?", text)[:40] + "`"


def parse_address(address: dict[str, list[str]], choices: options.FilterOptions,
                  withheld_clinics: Collection[str] = ()) -> tuple[dict[str, Any], list[str]]:
    """Filter values from address parameters, and a message for each value that was ignored
    (`withheld_clinics`: clinics that exist but this viewer may not filter by)."""
    values: dict[str, Any] = {"from": None, "to": None, **{param: [] for param in LIST_PARAMS},
                              RULE_PARAM: config.DEFAULT_PAIN_RULE}
    problems: list[str] = []
    chosen_rule = [v.strip() for v in address.get(RULE_PARAM, []) if v.strip()]
    if chosen_rule and chosen_rule[-1] in config.PAIN_RULES:
        values[RULE_PARAM] = chosen_rule[-1]
    elif chosen_rule:
        problems.append(f"Ignored {RULE_PARAM}={_shown(chosen_rule[-1])} in the address: the rules are "
                        f"{', '.join(rules.pain_rule_names())}.")
    for param in DATE_PARAMS:
        raw = [v.strip() for v in address.get(param, []) if v.strip()]
        if not raw:
            continue
        try:
            values[param] = dt.date.fromisoformat(raw[-1])
        except ValueError:
            problems.append(f"Ignored {param}={_shown(raw[-1])} in the address: dates are written YYYY-MM-DD.")
    if values["from"] and values["to"] and values["from"] > values["to"]:
        problems.append("Ignored the dates in the address: the start is after the end.")
        values["from"] = values["to"] = None
    for param in LIST_PARAMS:
        known = _choices_for(param, choices)
        for value in (part.strip() for raw in address.get(param, []) for part in raw.split(",")):
            if not value:
                continue
            if value in known:
                if value not in values[param]:
                    values[param].append(value)
            elif param == "therapist" and not known:  # a therapist viewer: no colleague filter (see sidebar)
                problems.append(f"Ignored {param}={_shown(value)} in the address: a therapist sees the clinic's "
                                "figures as a whole, never filtered to a colleague.")
            elif param == "clinic" and value in withheld_clinics:
                problems.append(f"Ignored {param}={_shown(value)} in the address: a therapist filters only by a "
                                f"clinic where at least {config.MIN_CLINIC_COLLEAGUES} colleagues have courses, so "
                                "its figures are never one colleague's own.")
            else:
                problems.append(f"Ignored {param}={_shown(value)} in the address: no such {param} in this database.")
    return values, problems


def _seed_widgets_from_address(choices: options.FilterOptions, withheld_clinics: Collection[str] = ()) -> list[str]:
    current, last = _address(), st.session_state.get(_LAST_URL)
    if last is None or (current and current != last):
        # A fresh visit (a bookmark, a shared link) or an address edited by hand: it decides.
        values, problems = parse_address(current, choices, withheld_clinics)
    else:
        # The widgets decide. Writing each value back through the Session State API carries it
        # over to the same widget on another page (navigation gives widgets a new identity and
        # drops the address); a widget with no state at all gets the last values back.
        last_values, problems = st.session_state.get(_LAST_VALUES, {}), []
        values = {param: st.session_state[_WIDGET(param)] if _WIDGET(param) in st.session_state else value
                  for param, value in last_values.items()}
    for param, value in values.items():
        if param in LIST_PARAMS:
            # A stored value no longer in the database (e.g. after an import) is dropped quietly.
            value = [v for v in value or [] if v in _choices_for(param, choices)]
        if param == RULE_PARAM and value not in config.PAIN_RULES:
            value = config.DEFAULT_PAIN_RULE
        st.session_state[_WIDGET(param)] = value
    return problems


def _draw_widgets(choices: options.FilterOptions) -> dict[str, Any]:
    values: dict[str, Any] = {}
    chosen = [st.session_state.get(_WIDGET(p)) for p in DATE_PARAMS]
    known = [d for d in (choices.first_start, choices.last_start, *chosen) if d is not None]
    low, high = (min(known), max(known)) if known else (None, None)
    for param, (_, label) in DATE_PARAMS.items():
        values[param] = st.date_input(label, value=None, min_value=low, max_value=high, key=_WIDGET(param),
                                      format="YYYY-MM-DD",
                                      help="A course belongs to the period in which its first session was.")
    if values["from"] and values["to"] and values["from"] > values["to"]:
        st.warning("The start date is after the end date; the dates are ignored.", icon=":material/warning:")
        values["from"] = values["to"] = None
    for param, (_, label) in LIST_PARAMS.items():
        labels = _choices_for(param, choices)
        if param == "therapist" and not labels:  # a therapist viewer (see sidebar)
            values[param] = []
            continue
        values[param] = st.multiselect(label, options=list(labels), format_func=labels.__getitem__, key=_WIDGET(param),
                                       placeholder="All")
    values[RULE_PARAM] = st.selectbox(
        "Improvement rule", options=list(rules.pain_rule_names()), format_func=rule_label, key=_WIDGET(RULE_PARAM),
        help="What counts as a meaningful improvement in pain against the first visit, in every figure: "
             "points-and-percent (the clinic's default, stricter than Farrar et al. 2001); points-or-percent "
             "(Farrar et al. 2001); percent-30 and percent-50 (IMMPACT moderate and substantial, Dworkin et al. 2008).")
    return values


def _clear() -> None:
    # The improvement rule is a way of counting, not a filter: it stays as chosen.
    for param in (*DATE_PARAMS, *LIST_PARAMS):
        st.session_state[_WIDGET(param)] = None if param in DATE_PARAMS else []


def _write_address(values: dict[str, Any]) -> None:
    wanted: dict[str, list[str]] = {}
    for param in DATE_PARAMS:
        if values[param] is not None:
            wanted[param] = [values[param].isoformat()]
    for param in LIST_PARAMS:
        if values[param]:
            wanted[param] = list(values[param])
    if values[RULE_PARAM] != config.DEFAULT_PAIN_RULE:
        wanted[RULE_PARAM] = [values[RULE_PARAM]]
    current = _address()
    for param in PARAMS:
        if param in wanted and current.get(param) != wanted[param]:
            st.query_params[param] = wanted[param]
        elif param not in wanted and param in current:
            del st.query_params[param]
    st.session_state[_LAST_URL] = wanted
    st.session_state[_LAST_VALUES] = {param: values[param] for param in PARAMS}
