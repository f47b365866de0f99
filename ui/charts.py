"""Every chart the manager pages draw, built from the small frames analytics.metrics returns.

One palette (Okabe-Ito, safe for the common colour-vision deficiencies): acute courses are
always orange and chronic courses always blue. Each chart says how many courses or sessions
it rests on, names its axes with units, shows n on hover, and sends at most MAX_POINTS points
to the browser whatever the size of the clinic (the frames are aggregates already; funnel
limit lines are thinned). Every string in a figure is literal text, never Plotly markup
(ui/text.py inert_figure); a name is shortened on the chart and longer in its hover text."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analytics import config
from analytics import text as stored_text
from analytics.metrics import suppression
from ui import figure_cache, text, words

# Okabe & Ito (2008), "Color Universal Design".
COURSE_COLOURS = {"acute": "#E69F00", "chronic": "#0072B2"}
STATUS_COLOURS = {"completed": "#009E73", "active": "#56B4E9", "closed_early": "#E69F00", "lost_to_follow_up": "#D55E00"}
# Codes whose words are not the code with spaces (words.py).
CODE_WORDS = {**words.STATUS_WORDS, **words.DISCHARGE_REASON_WORDS}
NEUTRAL = "#555555"
MUTED = "#999999"
VIEWER = "#009E73"  # the signed-in therapist's own position (Okabe-Ito green)
MAX_POINTS = 10_000

PAIN_PRE_AXIS = "Pain before session (0-10)"
PAIN_AXIS = "Pain (0-10)"
VISIT_AXIS = "Visit number"
PHASE_NAMES = {"pre": "before session", "post": "after session"}


def label(value: str) -> str:
    """A stored value as people write it: plantar_fasciitis -> Plantar fasciitis,
    lost_to_follow_up -> Lost to follow-up, cost_or_time -> Cost or time."""
    code = str(value)
    return CODE_WORDS.get(code, code.replace("_", " ")).capitalize()


PANEL_PX = 260  # one panel of a figure whose panels stand one above the other
LEGEND_PX = 150  # below the plot: the x-axis title, then up to three rows of a horizontal legend


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, n: str | None = None, **extra) -> go.Figure:
    """Titles, axis names and a horizontal legend at the very bottom of the figure (below the
    x-axis title, so they never overlap however many rows the legend takes on a phone). `n`
    (what the chart rests on) goes on a line of its own under the title: Plotly never wraps a
    title, and the two short lines fit a phone where one long one would be cut."""
    # At the figure's top, above any panel titles.
    heading: dict[str, object] = {"text": title, "yref": "container", "y": 1, "yanchor": "top", "pad": {"t": 12}}
    if n:
        heading["subtitle"] = {"text": n, "font": {"size": 12}}
    fig.update_layout(title=heading, hovermode="closest", **extra)
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    fig = limit_points(text.inert_figure(fig))
    legend = fig.layout.showlegend is not False and sum(bool(trace.showlegend is not False and trace.name)
                                                        for trace in fig.data) > 1
    fig.update_layout(legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0,
                              "traceorder": "normal"},
                      margin={"t": 70 + (PANEL_TITLE_PX if n and _top_panel_titles(fig) else 0),
                              "b": LEGEND_PX if legend else 60})
    return fig


PANEL_TITLE_PX = 25  # room under a subtitle for the top row's panel titles


def _top_panel_titles(fig: go.Figure) -> bool:
    """Whether the figure has panel titles (make_subplots') above its top row."""
    return any(annotation.yref == "paper" and (annotation.y or 0) >= 0.99 for annotation in fig.layout.annotations)


def point_count(fig: go.Figure) -> int:
    """How many data points the figure sends to the browser (x values over all traces)."""
    total = 0
    for trace in fig.data:
        values = trace.x if getattr(trace, "x", None) is not None else getattr(trace, "y", None)
        total += 0 if values is None else len(values)
    return total


def limit_points(fig: go.Figure, max_points: int = MAX_POINTS) -> go.Figure:
    """A last guard: thin every trace evenly if the figure would carry more than max_points."""
    total = point_count(fig)
    if total <= max_points:
        return fig
    keep = max_points / total
    for trace in fig.data:
        if getattr(trace, "x", None) is None:
            continue
        size = len(trace.x)
        chosen = np.unique(np.linspace(0, size - 1, max(2, int(size * keep))).round().astype(int))
        for attribute in ("x", "y", "customdata", "text", "error_x", "error_y"):
            values = getattr(trace, attribute, None)
            if isinstance(values, (tuple, list, np.ndarray)) and len(values) == size:
                setattr(trace, attribute, np.asarray(values, dtype=object)[chosen])
    return fig


def _names(names: pd.Series, limit: int) -> list[str]:
    """Stored names as chart text of at most `limit` characters, on one line (escaped later,
    with the rest of the figure, by _layout)."""
    return [stored_text.label("" if pd.isna(name) else name, limit) for name in names]


def _courses(frame: pd.DataFrame) -> list[str]:
    return [course for course in config.COURSE_TYPES if course in set(frame["course_type"])]


def _band(x: Iterable, low: Iterable, high: Iterable, colour: str, name: str, shape: str = "linear") -> list[go.Scatter]:
    """A shaded 95% confidence band: an invisible lower edge and an upper edge filled down to it."""
    edge = {"width": 0, "shape": shape}
    x = list(x)
    return [
        go.Scatter(x=x, y=list(low), mode="lines", line=edge, hoverinfo="skip", showlegend=False, name=f"{name} 95% CI"),
        go.Scatter(x=x, y=list(high), mode="lines", line=edge, fill="tonexty", fillcolor=_transparent(colour, 0.18),
                   hoverinfo="skip", showlegend=False, name=f"{name} 95% CI"),
    ]


def _transparent(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _shade_recommended(fig: go.Figure, courses: Iterable[str], row: int | None = None, col: int | None = None) -> None:
    for course in courses:
        low, high = config.RECOMMENDED_SESSIONS[course]
        fig.add_vrect(x0=low - 0.5, x1=high + 0.5, fillcolor=COURSE_COLOURS[course], opacity=0.10, line_width=0,
                      layer="below", annotation_text=f"{course} {low}-{high} sessions",
                      annotation_position="top left", annotation_font_color=COURSE_COLOURS[course],
                      row=row, col=col)


def _courses_n(frame: pd.DataFrame, column: str) -> str:
    """'acute n = 417, chronic n = 312' from a per-course count column."""
    counts = frame.groupby("course_type")[column].max()
    return ", ".join(f"{course} n = {int(counts[course]):,}" for course in config.COURSE_TYPES if course in counts)


# --- Pain over the course ---------------------------------------------------------------------

@figure_cache.remembered
def pain_trajectory(trajectory: pd.DataFrame, phases: tuple[str, ...] = ("pre",), bands: bool = True,
                    title: str = "Pain before each session") -> go.Figure:
    """Mean pain by visit for acute and chronic courses (pain_trajectory's frame) with its 95%
    band, the recommended ranges shaded and visit 3 before the session, "after session 2",
    marked. The line and band go only through visits reached by config.MIN_TRAJECTORY_COURSES
    courses or more; the rest are faint markers with their n."""
    fig = go.Figure()
    for course in _courses(trajectory):
        for phase in phases:
            rows = trajectory[(trajectory["course_type"] == course) & (trajectory["phase"] == phase)]
            if rows.empty:
                continue
            name = f"{course.capitalize()}, {PHASE_NAMES[phase]}" if len(phases) > 1 else course.capitalize()
            rows, few = _enough_courses(rows)
            if bands:
                known = rows.dropna(subset=["ci_low", "ci_high"])
                fig.add_traces(_band(known["visit_number"], known["ci_low"], known["ci_high"], COURSE_COLOURS[course], name))
            if len(few):
                fig.add_trace(_few_courses(few, course, phase, name))
            fig.add_trace(go.Scatter(
                x=rows["visit_number"], y=rows["mean"], name=name, mode="lines+markers",
                line={"color": COURSE_COLOURS[course], "dash": "solid" if phase == "pre" else "dot"},
                marker={"symbol": "circle" if phase == "pre" else "diamond-open"},
                customdata=np.column_stack([rows["n"], rows["ci_low"], rows["ci_high"]]),
                hovertemplate=(f"{name}<br>visit %{{x}}: mean pain %{{y:.1f}}"
                               "<br>95% CI %{customdata[1]:.1f}-%{customdata[2]:.1f}<br>n = %{customdata[0]:,} scores"
                               "<extra></extra>"),
            ))
    _shade_recommended(fig, _courses(trajectory))
    after = trajectory[(trajectory["visit_number"] == config.AFTER_SESSION2_VISIT) & (trajectory["phase"] == "pre")]
    if not after.empty:
        fig.add_trace(go.Scatter(
            x=after["visit_number"], y=after["mean"], mode="markers", name="After session 2 (visit 3, before session)",
            marker={"symbol": "star", "size": 16, "color": [COURSE_COLOURS[c] for c in after["course_type"]],
                    "line": {"color": "black", "width": 1}},
            customdata=np.column_stack([after["course_type"], after["n"]]),
            hovertemplate="%{customdata[0]} after session 2: mean pain %{y:.1f}<br>n = %{customdata[1]:,} scores<extra></extra>",
        ))
    n = _courses_n(trajectory[(trajectory["visit_number"] == 1) & (trajectory["phase"] == "pre")], "n")
    return _layout(fig, title, VISIT_AXIS, PAIN_PRE_AXIS if phases == ("pre",) else PAIN_AXIS, n=f"{n} courses",
                   yaxis={"range": [0, 10]}, xaxis={"dtick": 1})


def _enough_courses(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A trajectory's visits split in two: those reached by config.MIN_TRAJECTORY_COURSES courses
    or more (the line and its band) and the rest (faint markers, _few_courses)."""
    enough = rows["n"] >= config.MIN_TRAJECTORY_COURSES
    return rows[enough], rows[~enough]


def _few_courses(rows: pd.DataFrame, course: str, phase: str, name: str) -> go.Scatter:
    """Visits reached by fewer than config.MIN_TRAJECTORY_COURSES courses: faint markers off the
    line, each with its n, so a handful of long courses is not read as the trend."""
    return go.Scatter(
        x=rows["visit_number"], y=rows["mean"], name=f"{name} (fewer than {config.MIN_TRAJECTORY_COURSES} courses)",
        mode="markers", showlegend=False,
        marker={"color": COURSE_COLOURS[course], "opacity": 0.35, "symbol": "circle" if phase == "pre" else "diamond-open"},
        customdata=rows["n"].to_numpy(),
        hovertemplate=(f"{name}<br>visit %{{x}}: mean pain %{{y:.1f}}<br>n = %{{customdata:,}} scores, too few "
                       f"(under {config.MIN_TRAJECTORY_COURSES}) to draw as the line<extra></extra>"),
    )


@figure_cache.remembered
def sessions_attended(distribution: pd.DataFrame) -> go.Figure:
    """How many sessions finished courses lasted (highest visit number; sessions_attended leaves
    out those still running), acute above chronic (one panel each, full width, so their titles
    and bars fit a phone), the recommended range shaded."""
    courses = _courses(distribution)
    fig = make_subplots(rows=max(1, len(courses)), cols=1, vertical_spacing=0.2, subplot_titles=[
        f"{c.capitalize()} (n = {int(distribution.loc[distribution['course_type'] == c, 'episodes'].sum()):,} finished courses)"
        for c in courses])
    for position, course in enumerate(courses, start=1):
        rows = distribution[distribution["course_type"] == course]
        fig.add_trace(go.Bar(
            x=rows["visits"], y=rows["episodes"], name=course.capitalize(), marker_color=COURSE_COLOURS[course],
            hovertemplate=f"{course}: %{{y:,}} courses ended at visit %{{x}}<extra></extra>",
        ), row=position, col=1)
        _shade_recommended(fig, [course], row=position, col=1)
        fig.update_xaxes(dtick=1, row=position, col=1)
    n = int(distribution["episodes"].sum())
    fig = _layout(fig, "Sessions attended per finished course", "Sessions attended (highest visit number)", "Courses",
                  n=f"against the recommended range, n = {n:,} finished courses", showlegend=False,
                  height=PANEL_PX * max(1, len(courses)) + 130)
    for row in range(1, len(courses)):  # the axis is named once, under the bottom panel
        fig.update_xaxes(title_text="", row=row)
    return fig


@figure_cache.remembered
def status_mix(outcomes: pd.DataFrame) -> go.Figure:
    """Completed / active / closed early / lost to follow-up share of courses, per course type
    (course_outcomes)."""
    fig = go.Figure()
    # Listed bottom-up by plotly, so reversed to put acute on top.
    courses = [c for c in config.COURSE_TYPES if c in set(outcomes["course_type"])][::-1]
    rows = outcomes.set_index("course_type").loc[courses]
    names = [f"{c.capitalize()} (n = {int(rows.loc[c, 'episodes']):,})" for c in courses]
    for status, colour in STATUS_COLOURS.items():
        fig.add_trace(go.Bar(
            y=names, x=rows[f"{status}_share"] * 100, name=label(status), orientation="h", marker_color=colour,
            customdata=rows[status].to_numpy(),
            hovertemplate=f"{words.STATUS_WORDS[status]}: %{{x:.0f}}% (n = %{{customdata:,}} courses)<extra></extra>",
        ))
    return _layout(fig, "Course status", "Share of courses (%)", "", n=f"n = {int(rows['episodes'].sum()):,} courses",
                   barmode="stack", height=120 + 70 * len(courses))


@figure_cache.remembered
def immediate_relief(relief: pd.DataFrame) -> go.Figure:
    """Pain relief within a session (before minus after), mean and 95% CI by visit."""
    fig = go.Figure()
    for course in _courses(relief):
        rows = relief[relief["course_type"] == course]
        fig.add_trace(go.Bar(
            x=rows["visit_number"], y=rows["mean_relief"], name=course.capitalize(),
            marker_color=COURSE_COLOURS[course],
            error_y={"type": "data", "symmetric": False, "array": (rows["ci_high"] - rows["mean_relief"]).to_numpy(),
                     "arrayminus": (rows["mean_relief"] - rows["ci_low"]).to_numpy(), "color": NEUTRAL},
            customdata=rows["sessions"].to_numpy(),
            hovertemplate=f"{course} visit %{{x}}: relief %{{y:.1f}} points<br>n = %{{customdata:,}} sessions<extra></extra>",
        ))
    n = int(relief["sessions"].sum()) if len(relief) else 0
    return _layout(fig, "Immediate relief within a session", VISIT_AXIS,
                   "Pain relief, before minus after (points)", n=f"n = {n:,} sessions", barmode="group", xaxis={"dtick": 1})


# --- Conditions ---------------------------------------------------------------------------------

@figure_cache.remembered
def condition_trajectories(trajectory: pd.DataFrame, conditions: list[str], columns: int = 2) -> go.Figure:
    """Small multiples: pain before each session by visit, one panel per condition in the given
    order, acute and chronic lines in each (pain_trajectory by course type and condition), each
    with its 95% band. As in pain_trajectory, the line and band go only through visits reached
    by config.MIN_TRAJECTORY_COURSES courses or more; the rest are faint markers with their n."""
    pre = trajectory[trajectory["phase"] == "pre"]
    rows_needed = max(1, -(-len(conditions) // columns))
    titles = []
    for condition in conditions:
        first = pre[(pre["condition"] == condition) & (pre["visit_number"] == 1)]
        titles.append(f"{label(condition)} (n = {int(first['n'].sum()):,})")
    fig = make_subplots(rows=rows_needed, cols=columns, subplot_titles=titles, shared_yaxes=True,
                        vertical_spacing=0.12 if rows_needed > 1 else 0.2)
    shown = set()
    for position, condition in enumerate(conditions):
        row, col = divmod(position, columns)
        for course in config.COURSE_TYPES:
            rows = pre[(pre["condition"] == condition) & (pre["course_type"] == course)]
            if rows.empty:
                continue
            name = f"{label(condition)}, {course}"
            rows, few = _enough_courses(rows)
            known = rows.dropna(subset=["ci_low", "ci_high"])
            for trace in _band(known["visit_number"], known["ci_low"], known["ci_high"], COURSE_COLOURS[course], name):
                fig.add_trace(trace, row=row + 1, col=col + 1)
            if len(few):
                fig.add_trace(_few_courses(few, course, "pre", name), row=row + 1, col=col + 1)
            fig.add_trace(go.Scatter(
                x=rows["visit_number"], y=rows["mean"], name=course.capitalize(), mode="lines+markers",
                legendgroup=course, showlegend=course not in shown, line={"color": COURSE_COLOURS[course]},
                marker={"size": 5}, customdata=np.column_stack([rows["n"], rows["ci_low"], rows["ci_high"]]),
                hovertemplate=f"{name}<br>visit %{{x}}: mean pain %{{y:.1f}}"
                              "<br>95% CI %{customdata[1]:.1f}-%{customdata[2]:.1f}"
                              "<br>n = %{customdata[0]:,} scores<extra></extra>",
            ), row=row + 1, col=col + 1)
            shown.add(course)
    fig.update_yaxes(range=[0, 10])
    fig.update_layout(height=260 * rows_needed + 120)
    n = int(pre.loc[pre["visit_number"] == 1, "n"].sum())
    fig = _layout(fig, "Pain before each session, by condition", "", "", n=f"n = {n:,} courses")
    fig.update_annotations(font_size=11)  # two panels side by side on a phone: the names must fit
    fig.update_xaxes(title_text=VISIT_AXIS, row=rows_needed)
    fig.update_yaxes(title_text=PAIN_PRE_AXIS, col=1)
    return fig


# --- Therapists ---------------------------------------------------------------------------------

# A chart of therapists' intervals lists at most this many (those outside the limits first; the
# table below it has everyone), so a chain of 1,000 therapists does not make a 60,000 px figure.
MAX_THERAPIST_ROWS = 30
THERAPIST_ROW_PX = 26


def therapist_labels(rows: pd.DataFrame, limit: int) -> list[str]:
    """How therapists are named on a chart: the name shortened to `limit`, followed by the id
    where two shown therapists share that label (names repeat in a chain; ids do not)."""
    names = pd.Series(_names(rows["therapist_name"], limit), index=rows.index)
    repeated = names.duplicated(keep=False) & (rows["therapist_name"] != rows["therapist_id"])
    ids = [stored_text.label(therapist, limit) for therapist in rows["therapist_id"]]
    return [f"{name} ({therapist})" if twice else name for name, therapist, twice in zip(names, ids, repeated)]


@figure_cache.remembered
def therapist_adjusted(comparison: pd.DataFrame, measure: str = "Responder rate", unit: str = "share",
                       courses: str = "finished courses") -> go.Figure:
    """Observed minus expected per therapist (metrics.therapist_outcome's rows) with its 95% interval, one row per
    therapist id in the frame's order, at most MAX_THERAPIST_ROWS (the viewer's own always among
    them); therapists with too few
    courses are shown as such, without a point. A share is drawn in percentage points."""
    scale, axis = (100, "percentage points") if unit == "share" else (1, unit)
    shown = comparison.head(MAX_THERAPIST_ROWS)
    if comparison["is_viewer"].any() and not shown["is_viewer"].any():  # a therapist always sees their own row
        shown = pd.concat([shown.head(MAX_THERAPIST_ROWS - 1), comparison[comparison["is_viewer"]]])
    shown = shown.reset_index(drop=True)
    position = np.arange(len(shown))  # by position, so two therapists of one name never merge
    fig = go.Figure()
    judged = shown["judgement"] != "too few to judge"
    points = shown[judged]
    labels = therapist_labels(shown, text.LABEL_CHARS)
    hover_names = therapist_labels(shown, text.HOVER_CHARS)
    fig.add_trace(go.Scatter(
        x=points["difference"] * scale, y=position[judged.to_numpy()], mode="markers", name="Observed − expected",
        # A therapist signed in sees only their own position marked (metrics anonymise the rest).
        marker={"size": np.where(points["is_viewer"], 15, 11), "color": np.where(points["is_viewer"], VIEWER, NEUTRAL)},
        error_x={"type": "data", "symmetric": False, "array": ((points["ci_high"] - points["difference"]) * scale).to_numpy(),
                 "arrayminus": ((points["difference"] - points["ci_low"]) * scale).to_numpy(), "color": NEUTRAL},
        customdata=np.column_stack([points["episodes"], points["observed"] * scale, points["expected"] * scale,
                                    points["judgement"], np.asarray(hover_names, dtype=object)[judged.to_numpy()],
                                    [stored_text.label(therapist, text.HOVER_CHARS) for therapist in points["therapist_id"]]]),
        hovertemplate=(f"%{{customdata[4]}} (id %{{customdata[5]}}): %{{x:+.1f}} {axis} (%{{customdata[3]}})<br>observed %{{customdata[1]:.1f}},"
                       f" expected %{{customdata[2]:.1f}}<br>n = %{{customdata[0]:,}} {courses}<extra></extra>"),
    ))
    too_few = shown[~judged]
    if len(too_few):
        fig.add_trace(go.Scatter(
            x=[0] * len(too_few), y=position[(~judged).to_numpy()], mode="text", name="Too few to judge",
            text=[f"too few to judge (n = {n})" for n in too_few["episodes"]], textfont={"color": MUTED},
            customdata=np.asarray(hover_names, dtype=object)[(~judged).to_numpy()],
            hovertemplate="%{customdata}: %{text}<extra></extra>",
        ))
    fig.add_vline(x=0, line_color=MUTED, line_dash="dash")
    n = int(comparison["episodes"].sum())
    listed = "" if len(comparison) <= MAX_THERAPIST_ROWS else \
        f"; {len(shown)} of {len(comparison):,} therapists, those outside the limits first"
    # Short lines that fit a phone: the page's "Judged on" choice above says what is measured.
    return _layout(fig, "Observed − expected", f"Observed − expected ({axis})", "",
                   n=f"n = {n:,} {courses}{listed}",
                   height=max(300, THERAPIST_ROW_PX * len(shown) + 170), showlegend=False,
                   yaxis={"tickmode": "array", "tickvals": position.tolist(), "ticktext": labels,
                          "autorange": "reversed"})


# A funnel names only the therapists outside its 95% limits (and "You"); the rest are in the hover.
FUNNEL_HEIGHT_PX = 520
# A point's name on a funnel: at most two lines of this many characters, so a phone's 390 px
# shows it whole; points near the right (left) edge put it to their left (right).
POINT_LABEL_CHARS = 14


def point_labels(labels: Iterable[str], x: Iterable[float], column: int) -> tuple[np.ndarray, list[str], list[str]]:
    """Scatter-point names wrapped for a narrow chart. Returns the two lines of each name (a long
    name broken at a space, each line at most POINT_LABEL_CHARS, the second shortened with an
    ellipsis) as two columns to append to the points' customdata at `column` and `column` + 1;
    each point's texttemplate showing them (empty for an unnamed point); and each point's
    textposition. The names stay data, escaped by _layout; only the line break is markup."""
    lines = []
    for name in labels:
        name = name or ""
        if len(name) <= POINT_LABEL_CHARS:
            lines.append((name, ""))
            continue
        cut = name.rfind(" ", 0, POINT_LABEL_CHARS + 1)
        cut = cut if cut > 0 else POINT_LABEL_CHARS
        lines.append((name[:cut].rstrip(), stored_text.shorten(name[cut:].strip(), POINT_LABEL_CHARS)))
    first, second = f"%{{customdata[{column}]}}", f"%{{customdata[{column + 1}]}}"
    templates = ["" if not top else first if not bottom else f"{first}<br>{second}" for top, bottom in lines]
    xs = np.asarray(list(x), dtype=float)
    right = float(np.nanmax(xs)) if xs.size else 0.0
    sides = ["top left" if right and value > 0.65 * right else "top right" if right and value < 0.15 * right
             else "top center" for value in xs]
    return np.array(lines, dtype=object).reshape(-1, 2), templates, sides


@figure_cache.remembered
def outcome_funnel(result, measure: str = "Responder rate", unit: str = "share",
                   courses: str = "courses") -> go.Figure:
    """Observed minus expected against the number of courses judged, one point per therapist id,
    inside the 95% and 99.8% limits chance alone gives around 0 (metrics.therapist_outcome);
    only points outside the 95% limits (and the viewer's own) carry their name. Its height is
    fixed, however many therapists there are."""
    scale, axis = (100, "percentage points") if unit == "share" else (1, unit)
    rows = result.therapists
    points = rows[rows["judgement"] != "too few to judge"]
    # Lines from the fewest courses judged; the height fits the points and the funnel at the smallest
    # of them, not the limits' runaway at 1 course.
    limits = result.limits[result.limits["episodes"] >= config.MIN_EPISODES_TO_JUDGE]
    smallest = limits[limits["episodes"] >= (points["episodes"].min() if len(points) else 0)].head(1)
    reach = max([*(points["difference"].abs() * scale), *(smallest["upper_998"] * scale), 0]) * 1.15 or 1.0
    if len(limits) > 400:  # smooth lines: a few hundred log-spaced counts draw them exactly enough
        limits = limits.iloc[np.unique(np.geomspace(1, len(limits), 400).round().astype(int) - 1)]
    fig = go.Figure()
    for level, dash in (("998", "dot"), ("95", "dash")):
        name = "99.8% limits" if level == "998" else "95% limits"
        for side in ("lower", "upper"):
            fig.add_trace(go.Scatter(
                x=limits["episodes"], y=limits[f"{side}_{level}"] * scale, mode="lines", name=name,
                legendgroup=level, showlegend=side == "upper", line={"color": MUTED, "dash": dash},
                hovertemplate=f"{name}: %{{y:+.1f}} at n = %{{x:,}}<extra></extra>",
            ))
    outside = points["funnel_position"].str.startswith(("above", "below")).to_numpy()
    names = therapist_labels(points, text.LABEL_CHARS)
    shown = np.where(points["is_viewer"], "You", np.where(outside, np.asarray(names, dtype=object), ""))
    lines, templates, sides = point_labels(shown, points["episodes"], column=3)
    fig.add_trace(go.Scatter(
        x=points["episodes"], y=points["difference"] * scale, mode="markers+text", name="Therapists",
        text=shown, texttemplate=templates, textposition=sides,
        marker={"size": np.where(points["is_viewer"], 14, 9),
                "color": np.where(points["is_viewer"], VIEWER, np.where(outside, "#CC79A7", NEUTRAL))},
        customdata=np.column_stack([
            np.where(points["is_viewer"], "You", np.asarray(therapist_labels(points, text.HOVER_CHARS), dtype=object)),
            points["funnel_position"], [stored_text.label(therapist, text.HOVER_CHARS) for therapist in points["therapist_id"]],
            lines]),
        hovertemplate=(f"%{{customdata[0]}} (id %{{customdata[2]}}): %{{y:+.1f}} {axis}<br>%{{customdata[1]}}<br>"
                       f"n = %{{x:,}} {courses}<extra></extra>"),
    ))
    n = int(points["episodes"].sum())
    return _layout(fig, "Funnel plot", f"{courses.capitalize()} judged (n)",
                   f"Observed − expected ({axis})", n=f"n = {n:,} {courses}",
                   height=FUNNEL_HEIGHT_PX,
                   yaxis={"range": [-reach, reach]})


# --- Home program and data quality ----------------------------------------------------------------

@figure_cache.remembered
def home_program(effect: pd.DataFrame, value: str, title: str, axis_title: str, count: str) -> go.Figure:
    """One outcome column of home_program_effect by stretching adherence band and course type;
    `count` names the column holding the n behind each bar."""
    fig = go.Figure()
    scale = 100 if value.endswith(("rate", "session2", "session2_itt")) else 1
    for course in _courses(effect):
        rows = effect[effect["course_type"] == course]
        fig.add_trace(go.Bar(
            x=rows["adherence_band"], y=rows[value] * scale, name=course.capitalize(),
            marker_color=COURSE_COLOURS[course], customdata=rows[count].to_numpy(),
            hovertemplate=f"{course}, adherence %{{x}}: %{{y:.0f}}<br>n = %{{customdata:,}} courses<extra></extra>",
        ))
    n = int(effect[count].sum())
    return _layout(fig, title, "Mean stretching adherence between sessions (%)", axis_title,
                   n=f"n = {n:,} courses", barmode="group")


CHECK_NAMES = {
    "missing_visits": "Gaps in visit numbers",
    "missing_pre": "No pain score before session",
    "missing_post": "No pain score after session",
    "implausible_jump": "Implausible jump in pain",
    "relief_negative": "Pain higher after session",
    "same_date": "Two visits on one date",
    "missing_adherence": "No stretching adherence",
    "missing_onset": "No onset date",
    "dates_out_of_order": "Visit dates out of order",
}


def check_name(check: str) -> str:
    """A data-quality check's name as a manager would say it."""
    return CHECK_NAMES.get(check, label(check))


@figure_cache.remembered
def data_quality(checks: pd.DataFrame) -> go.Figure:
    """Findings per data-quality check."""
    rows = checks.iloc[::-1]
    fig = go.Figure(go.Bar(
        x=rows["count"], y=[check_name(c) for c in rows["check"]], orientation="h", marker_color=NEUTRAL,
        customdata=rows["description"].to_numpy(), hovertemplate="%{y}: n = %{x:,}<br>%{customdata}<extra></extra>",
    ))
    return _layout(fig, "Data-quality findings", "Findings (n)", "", n=f"n = {int(checks['count'].sum()):,}")


# --- In words ---------------------------------------------------------------------------------------

def _share(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.0%}"


def treatment_answer(headline: dict, outcomes: pd.DataFrame, medians: pd.DataFrame) -> str:
    """One plain-text paragraph answering "Does treatment work?" from metrics.headline,
    course_outcomes and median_visits_to_improvement (the latter two indexed by course type)."""
    followed = int(outcomes["episodes_with_followup"].sum()) if len(outcomes) else 0
    if followed < config.MIN_EPISODES_TO_JUDGE:
        return (f"Too few courses in this selection have a pain score after the first visit ({followed}) "
                "to say. Widen the filters.")
    responders = int(outcomes["responders"].sum())
    rate = responders / followed
    verdict = ("Yes, for most clients." if rate >= 0.5 else
               "For some clients." if rate >= 0.3 else "Not clearly.")
    sentences = [f"{verdict} Of the {followed:,} courses with a pain score after the first visit, {rate:.0%} "
                 f"ended with pain {words.improvement_rule(headline['rule']['name'])} below where they started "
                 f"({words.rule_name(headline['rule']['name'])})."]
    for course in config.COURSE_TYPES:
        if course not in outcomes.index or headline["by_course"][course]["episodes"] == 0:
            continue
        row, summary = outcomes.loc[course], headline["by_course"][course]
        after_two, itt = summary["responder_rate_after_session2"], summary["responder_rate_after_session2_itt"]
        started = "" if summary["episodes_eligible_itt"] is None else (
            f" ({_share(itt)} of the {int(summary['episodes_eligible_itt']):,} who started, counting those who "
            "stopped before as not improved)")
        low, high = config.RECOMMENDED_SESSIONS[course]
        median = medians.loc[course, "median_visits"] if course in medians.index else None
        by_when = (f"half had improved by visit {median:.0f}" if median is not None and median == median
                   else "how soon half improved is hidden (too few other therapists' courses)"
                   if median is None and suppression.suppressed(medians)
                   else "fewer than half had improved by the last visit recorded")
        change = (f"pain before the session fell on average by {row['mean_change_points']:.1f} points out of 10"
                  f" ({row['mean_change_pct']:.0f}% of the first visit)"
                  if row["mean_change_points"] == row["mean_change_points"] else "no later pain score was recorded")
        sentences.append(
            f"{course.capitalize()} courses ({low}-{high} sessions recommended, median {row['median_sessions']:g} attended): "
            f"{_share(after_two)} of the {int(summary['episodes_reaching_visit3']):,} that reached a third visit had improved "
            f"after the second session{started}, {by_when}, and {change}.")
    relief = outcomes["mean_immediate_relief"].dropna()
    if len(relief):
        amounts = " and ".join(f"{points:.1f} points ({course})" for course, points in relief.items())
        sentences.append(f"Each session also brings relief on the table, on average {amounts}; "
                         "the figures above count only the lasting change, measured before the next session.")
    sentences.append("These are the outcomes of treated clients without an untreated comparison group, so some "
                     "of the improvement might have come anyway.")
    return " ".join(sentences)


# --- Time to improvement among all who started, and control charts ---------------------------------

@figure_cache.remembered
def time_to_improvement(curve: pd.DataFrame, medians: pd.DataFrame, all_started: pd.DataFrame) -> go.Figure:
    """Time to meaningful improvement read two ways, one above the other on the same axes (full
    width each, so their titles fit a phone): first the
    Kaplan-Meier share not yet improved (metrics.time_to_improvement, drop-outs censored) with
    its 95% band and the median visit marked; below it the share of all who started not yet
    improved (metrics.improvement_all_started, drop-outs counted as never improved) with its
    95% band."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12, subplot_titles=[
        "Kaplan-Meier: drop-outs leave the count", "All who started: drop-outs never improved"])
    for course in _courses(pd.concat([curve[["course_type"]], all_started[["course_type"]]])):
        colour = COURSE_COLOURS[course]
        rows = curve[curve["course_type"] == course]
        median = medians.loc[medians["course_type"] == course, "median_visits"]
        median = float(median.iloc[0]) if len(median) and pd.notna(median.iloc[0]) else None
        name = course.capitalize() + (f" (half improved by visit {median:.0f})" if median is not None
                                      else " (half not yet improved)")
        fig.add_traces(_band(rows["visit_number"], rows["ci_low"] * 100, rows["ci_high"] * 100, colour, course,
                             shape="hv"), rows=1, cols=1)
        fig.add_trace(go.Scatter(
            x=rows["visit_number"], y=rows["survival"] * 100, name=name, mode="lines+markers", legendgroup=course,
            line={"color": colour, "shape": "hv"},
            customdata=np.column_stack([rows["at_risk"], rows["events"], rows["ci_low"] * 100, rows["ci_high"] * 100]),
            hovertemplate=(f"{course.capitalize()} after visit %{{x}}: %{{y:.0f}}% not yet improved (Kaplan-Meier)"
                           "<br>95% CI %{customdata[2]:.0f}-%{customdata[3]:.0f}%"
                           "<br>n = %{customdata[0]:,} still followed, %{customdata[1]:,} improved here<extra></extra>"),
        ), row=1, col=1)
        if median is not None:
            fig.add_vline(x=median, line_dash="dash", line_color=colour, row=1, col=1)
        started = all_started[all_started["course_type"] == course]
        fig.add_traces(_band(started["visit_number"], (1 - started["ci_high"]) * 100, (1 - started["ci_low"]) * 100,
                             colour, course, shape="hv"), rows=2, cols=1)
        fig.add_trace(go.Scatter(
            x=started["visit_number"], y=(1 - started["share"]) * 100, name=f"{course.capitalize()}, all who started",
            mode="lines+markers", legendgroup=course, showlegend=False, line={"color": colour, "shape": "hv"},
            customdata=np.column_stack([started["episodes"], started["improved"], (1 - started["ci_high"]) * 100,
                                        (1 - started["ci_low"]) * 100, started["still_running_left_out"]]),
            hovertemplate=(f"{course.capitalize()} by visit %{{x}}: %{{y:.0f}}% of all who started not yet improved"
                           "<br>95% CI %{customdata[2]:.0f}-%{customdata[3]:.0f}%"
                           "<br>n = %{customdata[0]:,} courses, %{customdata[1]:,} improved"
                           "<br>%{customdata[4]:,} still running left out<extra></extra>"),
        ), row=2, col=1)
    for row in (1, 2):
        fig.add_hline(y=50, line_dash="dot", line_color=MUTED, row=row, col=1)
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(range=[0, 102])
    n = ", ".join(f"{r.course_type} n = {int(r.episodes):,}" for r in medians.itertuples())
    fig = _layout(fig, "Time to meaningful improvement, two readings", VISIT_AXIS, "", n=f"{n} courses",
                  height=2 * PANEL_PX + 200)
    fig.update_xaxes(showticklabels=True)
    fig.update_xaxes(title_text="", row=1)  # the axis is named once, under the bottom panel
    fig.update_yaxes(title_text="Not yet improved (%)")
    return fig


CONTROL_OUTSIDE = "#D55E00"  # Okabe-Ito vermilion: a month beyond its limits


@figure_cache.remembered
def control_chart(charts: pd.DataFrame, measure: str, title: str, y_title: str, n_name: str) -> go.Figure:
    """One measure of metrics.monthly_control_charts by month, a panel per course type, one
    above the other: the months' values, the centre line and the 3-sigma limits (stepped, as they change with each
    month's n), months outside the limits marked. Rates are drawn in percent; `n_name` says what
    a month's n counts."""
    rows = charts[charts["measure"] == measure]
    courses = _courses(rows)
    scale = 1 if measure == "new_courses" else 100
    shown = "%{y:,.0f}" if scale == 1 else "%{y:.0f}%"
    fig = make_subplots(rows=max(1, len(courses)), cols=1, shared_xaxes=True, vertical_spacing=0.15, subplot_titles=[
        f"{course.capitalize()} (n = {int(rows.loc[rows['course_type'] == course, 'n'].sum()):,} {n_name})"
        for course in courses])
    outside_months = 0
    for position, course in enumerate(courses, start=1):
        panel = rows[rows["course_type"] == course]
        first = position == 1
        for side, name in (("upper", "Limits (3 sigma)"), ("lower", "Limits (3 sigma)")):
            fig.add_trace(go.Scatter(
                x=panel["month"], y=panel[side] * scale, mode="lines", name=name, legendgroup="limits",
                showlegend=first and side == "upper", line={"color": MUTED, "dash": "dash", "shape": "hvh"},
                hovertemplate=f"{side} limit: {shown}<extra></extra>"), row=position, col=1)
        fig.add_trace(go.Scatter(
            x=panel["month"], y=panel["centre"] * scale, mode="lines", name="Centre (all months)", legendgroup="centre",
            showlegend=first, line={"color": NEUTRAL}, hovertemplate=f"centre {shown}<extra></extra>"), row=position, col=1)
        fig.add_trace(go.Scatter(
            x=panel["month"], y=panel["value"] * scale, mode="lines+markers", name=course.capitalize(),
            line={"color": COURSE_COLOURS[course]}, marker={"size": 7},
            customdata=np.column_stack([panel["n"], panel["lower"] * scale, panel["upper"] * scale]),
            hovertemplate=(f"{course} %{{x|%b %Y}}: {shown}<br>limits %{{customdata[1]:.0f}}-%{{customdata[2]:.0f}}"
                           f"<br>n = %{{customdata[0]:,}} {n_name}<extra></extra>")), row=position, col=1)
        outside = panel[panel["outside"].astype(bool)]
        outside_months += len(outside)
        fig.add_trace(go.Scatter(
            x=outside["month"], y=outside["value"] * scale, mode="markers", name="Outside the limits",
            legendgroup="outside", showlegend=first,
            marker={"symbol": "x", "size": 13, "color": CONTROL_OUTSIDE, "line": {"width": 1}},
            customdata=outside["n"].to_numpy(),
            hovertemplate=(f"{course} %{{x|%b %Y}}: {shown}, outside the limits<br>n = %{{customdata:,}} {n_name}"
                           "<extra></extra>")), row=position, col=1)
    fig.update_yaxes(rangemode="tozero")
    months = "1 month" if outside_months == 1 else f"{outside_months} months"
    fig = _layout(fig, title, "Month of first visit", "",
                  n=f"{months} outside the limits; n = {int(rows['n'].sum()):,} {n_name}",
                  height=PANEL_PX * max(1, len(courses)) + 200)
    fig.update_xaxes(showticklabels=True)
    for row in range(1, len(courses)):  # the axis is named once, under the bottom panel
        fig.update_xaxes(title_text="", row=row)
    fig.update_yaxes(title_text=y_title)
    return fig


# --- Lasting results (after the last visit) ---------------------------------------------------------

GROUP_COLOURS = ("#009E73", "#CC79A7", "#E69F00", "#0072B2", "#D55E00", "#56B4E9", "#F0E442", NEUTRAL)


def _group_colours(groups: Iterable[str]) -> dict[str, str]:
    """A colour per group: acute orange and chronic blue as everywhere, the rest Okabe-Ito in turn."""
    chosen: dict[str, str] = {}
    for number, group in enumerate(dict.fromkeys(groups)):
        chosen[group] = COURSE_COLOURS.get(group, GROUP_COLOURS[number % len(GROUP_COLOURS)])
    return chosen


def _group_name(group: str) -> str:
    return label(group) if group in config.CONDITIONS or group in config.COURSE_TYPES else str(group).capitalize()


@figure_cache.remembered
def durability(frame: pd.DataFrame, value: str, title: str, y_title: str, share: bool = False) -> go.Figure:
    """One column of metrics.durability by follow-up (4 weeks, 3 months, 6 months), a line per
    group with its 95% interval as error bars: `value` with `value`_low/_high, or, for
    share_still_improved, ci_low/ci_high (`share`: shown in %)."""
    fig = go.Figure()
    low, high = ("ci_low", "ci_high") if share else (f"{value}_low", f"{value}_high")
    scale = 100 if share else 1
    colours = _group_colours(frame["group"])
    for group, colour in colours.items():
        rows = frame[frame["group"] == group].sort_values("followup_day")
        x = [words.followup_label(int(day)) for day in rows["followup_day"]]
        y = rows[value] * scale
        counts = rows["judged"] if share else rows["answered"]
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines+markers", name=_group_name(group), line={"color": colour},
            error_y={"type": "data", "symmetric": False, "array": (rows[high] * scale - y).fillna(0).to_numpy(),
                     "arrayminus": (y - rows[low] * scale).fillna(0).to_numpy(), "thickness": 1},
            customdata=np.column_stack([counts, rows[low] * scale, rows[high] * scale]),
            hovertemplate=(f"{_group_name(group)} at %{{x}}: %{{y:.1f}}" + ("%" if share else "")
                           + "<br>95% CI %{customdata[1]:.1f} to %{customdata[2]:.1f}"
                           "<br>n = %{customdata[0]:,} answers<extra></extra>")))
    if not share:
        fig.add_hline(y=0, line_dash="dot", line_color=MUTED)
    n = int(frame.groupby("followup_day")["judged" if share else "answered"].sum().max()) if len(frame) else 0
    return _layout(fig, title, "Follow-up after the last visit", y_title, n=f"n = up to {n:,} answers a follow-up",
                   **({"yaxis": {"range": [0, 102]}} if share else {}))


@figure_cache.remembered
def recurrence(curve: pd.DataFrame) -> go.Figure:
    """metrics.recurrence: the share still without the pain back (Kaplan-Meier) by days after
    the last visit, a step line per group with its 95% band, drawn while at least
    config.MIN_RECURRENCE_AT_RISK courses are still followed (a thinner tail only jumps about)."""
    fig = go.Figure()
    curve = curve[curve["at_risk"] >= config.MIN_RECURRENCE_AT_RISK]
    colours = _group_colours(curve["group"])
    for group, colour in colours.items():
        rows = curve[curve["group"] == group].sort_values("day")
        x = [0, *rows["day"]]
        fig.add_traces(_band(x, [100, *(rows["ci_low"] * 100)], [100, *(rows["ci_high"] * 100)], colour, str(group),
                             shape="hv"))
        fig.add_trace(go.Scatter(
            x=x, y=[100, *(rows["survival"] * 100)], mode="lines", name=_group_name(group),
            line={"color": colour, "shape": "hv"},
            customdata=np.column_stack([[int(rows["at_risk"].iloc[0]) if len(rows) else 0, *rows["at_risk"]],
                                        [0, *rows["events"]]]),
            hovertemplate=(f"{_group_name(group)}, day %{{x}}: %{{y:.0f}}% without the pain back"
                           "<br>n = %{customdata[0]:,} still followed, %{customdata[1]:,} recurred here<extra></extra>")))
    n = int(curve.groupby("group")["at_risk"].max().sum()) if len(curve) else 0
    return _layout(fig, "Pain not back yet", "Days after the last visit", "Without the pain back (%)",
                   n=f"n = {n:,} courses heard from after the last visit", yaxis={"range": [0, 102]})


@figure_cache.remembered
def followup_response(response: pd.DataFrame) -> go.Figure:
    """metrics.followup_response: the share of due follow-ups answered, with 95% intervals."""
    x = [words.followup_label(int(day)) for day in response["followup_day"]]
    y = response["response_rate"] * 100
    fig = go.Figure(go.Bar(
        x=x, y=y, marker_color=NEUTRAL, name="Answered",
        error_y={"type": "data", "symmetric": False, "array": (response["ci_high"] * 100 - y).to_numpy(),
                 "arrayminus": (y - response["ci_low"] * 100).to_numpy()},
        customdata=np.column_stack([response["answered"], response["due"]]),
        hovertemplate="%{x}: %{y:.0f}% answered<br>n = %{customdata[0]:,} of %{customdata[1]:,} due<extra></extra>"))
    n = int(response["due"].sum())
    return _layout(fig, "Follow-ups answered", "Follow-up after the last visit", "Answered (%)",
                   n=f"n = {n:,} follow-ups due", yaxis={"range": [0, 102]})


@figure_cache.remembered
def pgic(summary: pd.DataFrame) -> go.Figure:
    """metrics.pgic_summary: the share much or very much improved at each follow-up, a bar per group."""
    fig = go.Figure()
    colours = _group_colours(summary["group"])
    for group, colour in colours.items():
        rows = summary[summary["group"] == group].sort_values("followup_day")
        y = rows["share_improved"] * 100
        fig.add_trace(go.Bar(
            x=[words.followup_label(int(day)) for day in rows["followup_day"]], y=y, name=_group_name(group),
            marker_color=colour,
            error_y={"type": "data", "symmetric": False, "array": (rows["ci_high"] * 100 - y).to_numpy(),
                     "arrayminus": (y - rows["ci_low"] * 100).to_numpy()},
            customdata=rows["answered"].to_numpy(),
            hovertemplate=f"{_group_name(group)} at %{{x}}: %{{y:.0f}}%<br>n = %{{customdata:,}} answers<extra></extra>"))
    n = int(summary.groupby("followup_day")["answered"].sum().max()) if len(summary) else 0
    return _layout(fig, f"Feel {words.pgic_improved()}", "Follow-up after the last visit", "Clients (%)",
                   n=f"n = up to {n:,} answers a follow-up", barmode="group", yaxis={"range": [0, 102]})


@figure_cache.remembered
def function_responders(frame: pd.DataFrame) -> go.Figure:
    """metrics.function_responders: the share whose foot function rose meaningfully, per scale
    and group, with 95% intervals."""
    fig = go.Figure()
    colours = _group_colours(frame["group"])
    names = {"faam_adl": "FAAM ADL", "lefs": "LEFS"}
    for group, colour in colours.items():
        rows = frame[frame["group"] == group]
        y = rows["share"] * 100
        fig.add_trace(go.Bar(
            x=[names.get(scale, scale) for scale in rows["scale"]], y=y, name=_group_name(group), marker_color=colour,
            error_y={"type": "data", "symmetric": False, "array": (rows["ci_high"] * 100 - y).to_numpy(),
                     "arrayminus": (y - rows["ci_low"] * 100).to_numpy()},
            customdata=rows["courses"].to_numpy(),
            hovertemplate=f"{_group_name(group)}, %{{x}}: %{{y:.0f}}% improved<br>n = %{{customdata:,}} courses<extra></extra>"))
    n = int(frame["courses"].sum())
    return _layout(fig, "Foot function improved", "Function score", "Courses (%)",
                   n=f"n = {n:,} courses with two scores", barmode="group", yaxis={"range": [0, 102]})
