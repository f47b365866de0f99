"""What the two therapist pages share: who is looking, the course-of-care picker kept in the
address (`?episode=E00012`, so a reload shows the same client), client view, and the client's
charts in the manager pages' palette (ui/charts.py). The forms are in ui/forms.py."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analytics import client, config, metrics
from analytics import text as stored_text
from analytics.filters import Filter
from ui import charts, figure_cache, guard, signin, text, words

EPISODE_PARAM = "episode"
MAX_CHOICES = 200  # the picker lists this many matches; a search narrows the rest
IMPROVED_COLOUR = charts.STATUS_COLOURS["completed"]
RANGE_COLOUR = charts.STATUS_COLOURS["completed"]

_SELECTED = "_therapist_episode"     # the chosen episode, kept across the two pages
_LAST_URL = "_therapist_episode_url"  # the address value this picker last wrote
_PICK = "therapist_episode_pick"
_TOGGLE = "therapist_client_view"
_LEAVING = "_client_view_leaving"   # the switch was turned off in client view: ask for the password
_VIEWED = "_client_view_episode"    # the course of care client view shows
# A horizontal legend at the figure's foot, below the x-axis title, with the bottom margin made
# for it: on a phone its entries take several rows and must not cover the axis title.
FOOT_LEGEND = {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0}
# Client view: no sidebar at all, whatever else may draw there (a constant, no data in it).
CLIENT_VIEW_CSS = ("<style>[data-testid='stSidebar'], [data-testid='stSidebarCollapsedControl'],"
                   " [data-testid='stExpandSidebarButton'], [data-testid='stSidebarNav'] {display: none;}</style>")


def viewer_filter() -> Filter:
    """Every episode for a manager (or nobody signed in); a therapist sees only their own clients."""
    return Filter(viewer_therapist=signin.viewer_therapist())


def who() -> str:
    """The name stored with a correction: the signed-in user."""
    return signin.username() or "dashboard"


def plain(value: object) -> str:
    """Stored text (a client's name) shown literally in Markdown, on one line (ui/text.py)."""
    return text.markdown(value)


# ---------------------------------------------------------------------------------------------
# The chosen course of care


def selected_episode() -> str | None:
    """The episode in the address when someone set or edited it, else the one last chosen on
    either therapist page (page navigation drops the address)."""
    address = st.query_params.get(EPISODE_PARAM)
    if address and address != st.session_state.get(_LAST_URL):
        st.session_state[_SELECTED] = address
        st.session_state[_LAST_URL] = address
    return st.session_state.get(_SELECTED)


def choose_episode(episode_id: str | None) -> None:
    """Make `episode_id` the selection and put it in the address."""
    st.session_state[_SELECTED] = episode_id
    st.session_state[_LAST_URL] = episode_id
    if episode_id:
        st.query_params[EPISODE_PARAM] = episode_id
    elif EPISODE_PARAM in st.query_params:
        del st.query_params[EPISODE_PARAM]


def _episode_label(row) -> str:
    name = (stored_text.label(row.client_name, text.LABEL_CHARS)
            if isinstance(row.client_name, str) and row.client_name else "(no name)")
    course = f"{row.course_type} {row.condition.replace('_', ' ')}".capitalize()
    dates = f"{pd.Timestamp(row.start_date):%d %b %Y} – {pd.Timestamp(row.last_date):%d %b %Y}"
    visits = f"{int(row.visits)} visit{'s' if int(row.visits) != 1 else ''}"
    return f"{name} ({row.client_id}) · {course} · {dates} · {visits} · {words.course_status(row.status, row.discharge_reason)}"


def episode_picker(con, f: Filter) -> str | None:
    """Search by name or id, pick a course of care; the choice goes to the address. Returns the
    chosen episode id, or None. An unknown or hidden id from the address is reported, not used."""
    wanted = selected_episode()
    search = st.text_input("Find a client", key="therapist_client_search", placeholder="Name or client id")
    matches = metrics.client_episodes(con, f, search, limit=MAX_CHOICES)
    total = int(matches["matches"].iloc[0]) if len(matches) else 0
    labels = {row.episode_id: _episode_label(row) for row in matches.itertuples()}
    if search:  # the few courses a search found are computed while the therapist picks one
        guard.prefetch_episode_views(list(labels), f)
    if wanted and wanted not in labels:
        summary = metrics.episode_summary(con, wanted, f)
        if summary:
            own = metrics.client_episodes(con, f, summary["client_id"], limit=MAX_CHOICES)
            labels = {row.episode_id: _episode_label(row) for row in own.itertuples() if row.episode_id == wanted} | labels
        else:
            st.warning(f"Course of care {plain(wanted[:40])} was not found, or is not one of your clients. "
                       "Find the client below.", icon=":material/search_off:")
            choose_episode(None)
            wanted = None
    if total > MAX_CHOICES:
        st.caption(f"Showing the {MAX_CHOICES} most recent of {total:,} courses of care; type more of the name to narrow them.")
    elif matches.empty and search:
        st.caption("No client matches that name or id.")
    st.session_state[_PICK] = wanted if wanted in labels else None  # the address or the other page decided
    chosen = st.selectbox("Course of care", list(labels), format_func=lambda episode: labels[episode], key=_PICK,
                          placeholder="Choose a client's course of care", on_change=_picked)
    if chosen and st.query_params.get(EPISODE_PARAM) != chosen:
        choose_episode(chosen)  # e.g. arrived from the other page, whose address was dropped
    return chosen


def _picked() -> None:
    choose_episode(st.session_state[_PICK])


def client_view_toggle() -> bool:
    """The 'Client view' switch. Turning it on hides the navigation (dashboard.py), the sidebar,
    the picker and every other client, and fixes the course of care shown; turning it off only
    asks for the signed-in user's password (client_view_exit). The state is the server's
    (ui/signin.py), so a removed ?client_view=1 or a rewritten switch value changes nothing."""
    is_on = signin.is_client_view()
    st.session_state[_TOGGLE] = is_on
    st.toggle("Client view", key=_TOGGLE, on_change=_flip_client_view,
              help="Turn the screen to the client: hides the client list, other clients' names and the menu, "
                   "and makes the text larger. Turning it off asks for your password.")
    if is_on:
        st.markdown(CLIENT_VIEW_CSS, unsafe_allow_html=True)
    return is_on


def _flip_client_view() -> None:
    if st.session_state[_TOGGLE]:
        if not signin.is_client_view():
            st.session_state.pop(_VIEWED, None)  # show the course of care chosen now
        signin.enter_client_view()
    elif signin.is_client_view():
        st.session_state[_LEAVING] = True


def client_view_episode() -> str | None:
    """The course of care client view shows: the one chosen when client view began. Neither the
    address nor a rerun message can change it while client view lasts."""
    if _VIEWED not in st.session_state:
        st.session_state[_VIEWED] = selected_episode()
    return st.session_state[_VIEWED]


def client_view_exit(con) -> None:
    """In client view, after the switch was turned off: the password form that ends it. A wrong
    password is refused like a wrong sign-in (audited, counted toward the account's lock and the
    throttle); "Stay in client view" puts the form away."""
    if not st.session_state.get(_LEAVING):
        return
    with st.form("leave_client_view", clear_on_submit=True):
        st.markdown("**Leaving client view** (for the therapist)")
        password = st.text_input("Your password", type="password", key="client_view_password")
        leave_column, stay_column = st.columns(2)
        leave = leave_column.form_submit_button("Leave client view", type="primary")
        stay = stay_column.form_submit_button("Stay in client view")
    if leave and signin.leave_client_view(con, password):
        st.session_state.pop(_LEAVING, None)
        st.session_state.pop(_VIEWED, None)
        st.rerun()
    elif leave:
        st.error(signin.refusal_message("password"))
    elif stay:
        st.session_state.pop(_LEAVING, None)
        st.rerun()


# ---------------------------------------------------------------------------------------------
# Charts


def _values(series: pd.Series) -> list:
    return [None if pd.isna(value) else float(value) for value in series]


@figure_cache.remembered
def pain_chart(view: client.EpisodeView, large: bool = False) -> go.Figure:
    """The client's pain before (line) and after (open circles) each session by visit, the typical
    course of similar clients behind it (middle half shaded, middle line dashed), the recommended
    session range shaded, and a star where a clear change was first reached."""
    summary, progress, typical = view.summary, view.progress, view.typical
    course = summary["course_type"]
    colour = charts.COURSE_COLOURS.get(course, charts.NEUTRAL)
    low, high = config.RECOMMENDED_SESSIONS[course]
    last_visit = int(progress["visit_number"].max()) if len(progress) else 1
    band = typical.dropna(subset=["p25_pain", "p75_pain"])
    band = band[band["visit_number"] <= max(last_visit, high + 1)]  # the few long courses say little
    x_max = max(last_visit, high, int(band["visit_number"].max()) if len(band) else 0)

    fig = go.Figure()
    fig.add_vrect(x0=low - 0.5, x1=high + 0.5, fillcolor=RANGE_COLOUR, opacity=0.10, line_width=0, layer="below",
                  annotation_text=f"recommended {low}-{high} sessions", annotation_position="top right",
                  annotation_font_color=RANGE_COLOUR)
    if len(band):
        visits = band["visit_number"].tolist()
        fig.add_trace(go.Scatter(x=visits, y=_values(band["p25_pain"]), mode="lines", line={"width": 0},
                                 showlegend=False, hoverinfo="skip", name="Similar clients, lower quarter"))
        fig.add_trace(go.Scatter(x=visits, y=_values(band["p75_pain"]), mode="lines", line={"width": 0},
                                 fill="tonexty", fillcolor="rgba(85, 85, 85, 0.18)",
                                 name="Similar clients (middle half)", legendrank=3, customdata=band["n"].tolist(),
                                 hovertemplate="Visit %{x}: middle half of similar clients up to %{y:.1f}"
                                               " (n=%{customdata})<extra></extra>"))
        fig.add_trace(go.Scatter(x=visits, y=_values(band["p50_pain"]), mode="lines",
                                 line={"color": charts.MUTED, "dash": "dash"}, name="Similar clients (middle)", legendrank=4,
                                 hovertemplate="Visit %{x}: typical %{y:.1f}<extra></extra>"))
    after = progress.dropna(subset=["pain_post"])
    fig.add_trace(go.Scatter(x=after["visit_number"].tolist(), y=_values(after["pain_post"]), mode="markers",
                             marker={"color": colour, "symbol": "circle-open", "size": 11, "line": {"width": 2}},
                             name="Pain after the session", legendrank=2,
                             hovertemplate="Visit %{x}: %{y} after the session<extra></extra>"))
    before = progress.dropna(subset=["pain_pre"])
    fig.add_trace(go.Scatter(x=before["visit_number"].tolist(), y=_values(before["pain_pre"]), mode="lines+markers",
                             line={"color": colour, "width": 4}, marker={"size": 11}, name="Pain before the session", legendrank=1,
                             hovertemplate="Visit %{x}: %{y} before the session<extra></extra>"))
    improved = summary.get("improved_at_visit")
    hit = before[before["visit_number"] == improved] if improved else before.iloc[0:0]
    if len(hit):
        fig.add_trace(go.Scatter(x=[int(hit["visit_number"].iloc[0])], y=[float(hit["pain_pre"].iloc[0])], mode="markers+text",
                                 marker={"symbol": "star", "size": 22, "color": IMPROVED_COLOUR},
                                 text=["clear change"], textposition="top center",
                                 textfont={"color": IMPROVED_COLOUR}, name="First clear change", legendrank=5,
                                 hovertemplate="Visit %{x}: first clear change<extra></extra>"))
    x_max = _followup_points(fig, view, before, colour, x_max)
    font = 18 if large else 14
    # traceorder "normal": with a filled band Plotly would reverse the legend, listing the client's
    # own pain last; their pain before the session comes first.
    fig.update_layout(title={"text": "Pain by visit"}, font={"size": font}, height=620 if large else 540,
                      legend={**FOOT_LEGEND, "traceorder": "normal"}, margin={"t": 70, "b": 210 if large else 180},
                      hovermode="closest")
    ticks = _followup_ticks(view, x_max)
    fig.update_xaxes(title_text="Visit" if not ticks else "Visit, then after the last visit", range=[0.5, x_max + 0.5],
                     dtick=1, tickfont={"size": font},
                     **({"tickmode": "array", "tickvals": [t for t, _ in ticks], "ticktext": [w for _, w in ticks]}
                        if ticks else {}))
    fig.update_yaxes(title_text="Pain (0-10)", range=[0, 10.5], dtick=2, tickfont={"size": font})
    return text.inert_figure(fig)


def _answered_followups(view: client.EpisodeView) -> pd.DataFrame:
    followups = view.followups
    return followups.dropna(subset=["pain"]) if len(followups) else followups


def _followup_points(fig: go.Figure, view: client.EpisodeView, before: pd.DataFrame, colour: str, x_max: int) -> int:
    """The chart continued past the last visit: one place per follow-up (config.FOLLOWUP_DAYS)
    after the visits, a dotted line from the last visit's pain to each answered follow-up's
    pain (diamonds), and a faint line where the visits end. Returns the new right end."""
    answered = _answered_followups(view)
    if answered.empty:
        return x_max
    positions = {day: x_max + 1 + number for number, day in enumerate(config.FOLLOWUP_DAYS)}
    x = [positions[int(day)] for day in answered["followup_day"] if int(day) in positions]
    y = _values(answered["pain"])[:len(x)]
    words = [client.followup_words(int(day)) for day in answered["followup_day"]][:len(x)]
    if len(before):
        last = before.iloc[-1]
        fig.add_trace(go.Scatter(x=[int(last["visit_number"]), *x], y=[float(last["pain_pre"]), *y], mode="lines",
                                 line={"color": colour, "width": 2, "dash": "dot"}, hoverinfo="skip", showlegend=False,
                                 name="Since the last visit"))
    fig.add_trace(go.Scatter(x=x, y=y, mode="markers", marker={"color": colour, "symbol": "diamond", "size": 14},
                             name="Pain after the last visit", legendrank=2, customdata=words,
                             hovertemplate="%{customdata} after the last visit: %{y}<extra></extra>"))
    fig.add_vline(x=x_max + 0.5, line_dash="dot", line_color=charts.MUTED)
    return x_max + len(config.FOLLOWUP_DAYS)


def _followup_ticks(view: client.EpisodeView, x_max: int) -> list[tuple[int, str]]:
    """The x-axis labels when follow-ups are drawn: visit numbers, then '4 weeks', '3 months'..."""
    if _answered_followups(view).empty:
        return []
    visits = x_max - len(config.FOLLOWUP_DAYS)
    return [(number, str(number)) for number in range(1, visits + 1)] + [
        (visits + 1 + number, client.followup_words(day)) for number, day in enumerate(config.FOLLOWUP_DAYS)]


@figure_cache.remembered
def small_charts(progress: pd.DataFrame, course_type: str, large: bool = False) -> list[tuple[str, go.Figure]]:
    """Function (PSFS), ankle dorsiflexion and weekly stretching, each only when recorded."""
    colour = charts.COURSE_COLOURS.get(course_type, charts.NEUTRAL)
    figures = []
    for prefix, title, axis in (("psfs", "Function", "Function (0-10, higher is better)"),
                                ("dorsiflexion", "Ankle flexibility", "Ankle dorsiflexion (degrees)")):
        pre = f"{prefix}_pre" if prefix == "psfs" else f"{prefix}_pre_deg"
        post = f"{prefix}_post" if prefix == "psfs" else f"{prefix}_post_deg"
        if progress[[pre, post]].isna().all().all():
            continue
        fig = go.Figure()
        for column, name, style in ((pre, "before the session", {"width": 3}), (post, "after the session", {"dash": "dot"})):
            rows = progress.dropna(subset=[column])
            fig.add_trace(go.Scatter(x=rows["visit_number"].tolist(), y=_values(rows[column]), mode="lines+markers",
                                     line={"color": colour, **style}, name=name))
        _small_layout(fig, title, axis, large)
        if prefix == "psfs":  # the whole 0-10 scale: a narrow axis would exaggerate a change
            fig.update_yaxes(range=[0, 10.5], dtick=2)
        figures.append((prefix, text.inert_figure(fig)))
    weeks = progress.dropna(subset=["stretching_adherence_pct"])
    if len(weeks):
        # Every bar says its share, so 0% (a bar of no height) reads differently from a week
        # not recorded, which is marked as such (no home program before the first visit).
        fig = go.Figure(go.Bar(x=weeks["visit_number"].tolist(), y=_values(weeks["stretching_adherence_pct"]),
                               marker_color=colour, name="stretching", texttemplate="%{y:.0f}%",
                               textposition="outside", cliponaxis=False,
                               hovertemplate="Week before visit %{x}: stretched on %{y:.0f}% of days<extra></extra>"))
        missing = [int(visit) for visit in progress["visit_number"]
                   if visit > 1 and visit not in set(weeks["visit_number"])]
        if missing:
            fig.add_trace(go.Scatter(x=missing, y=[6] * len(missing), mode="text", text=["not recorded"] * len(missing),
                                     textfont={"color": charts.MUTED}, name="not recorded", showlegend=False,
                                     hovertemplate="Week before visit %{x}: not recorded<extra></extra>"))
        _small_layout(fig, "Home stretching", "Days stretched (%)", large, x_title="Week before visit")
        fig.update_yaxes(range=[0, 112])
        figures.append(("stretching", text.inert_figure(fig)))
    return figures


def _small_layout(fig: go.Figure, title: str, y_title: str, large: bool, x_title: str = "Visit") -> None:
    fig.update_layout(title={"text": title}, font={"size": 16 if large else 12}, height=320,
                      legend=FOOT_LEGEND, margin={"t": 50, "b": 130 if large else 110})
    tick = {"size": 16 if large else 12}  # the client reads the numbers too
    fig.update_xaxes(title_text=x_title, dtick=1, tickfont=tick)
    fig.update_yaxes(title_text=y_title, tickfont=tick)
