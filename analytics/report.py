"""The one-page progress report a therapist hands to a client: name, course of care, the pain
chart drawn with PDF primitives, the plain-language summary and the home-stretching plan.
Made locally with fpdf2: no browser, no image export, no network. Every text is drawn as plain
text (fpdf2 reads no markup unless asked), without bidirectional controls, and a long name is
shortened, so the report is always one page."""
from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import io
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from fpdf import FPDF
from fpdf.fonts import TTFFont

from analytics import checkins, client, config
from analytics import text as stored_text
from analytics.client import EpisodeView

# Default home-stretching notes per condition, for the therapist to adapt. Calves first: a tight
# calf pulls on the heel and the arch, so every plan starts there.
STRETCHING_NOTES: dict[str, str] = {
    "plantar_fasciitis": (
        "1. Calf stretch against a wall, back knee straight, then bent: 3 x 30 seconds each leg, twice a day.\n"
        "2. Before your first steps in the morning: pull your toes back towards your shin, 10 x 10 seconds.\n"
        "3. Roll the arch of your foot over a cold water bottle for 2 minutes in the evening."),
    "heel_spur": (
        "1. Calf stretch against a wall, back knee straight, then bent: 3 x 30 seconds each leg, twice a day.\n"
        "2. Seated towel stretch: loop a towel around the ball of the foot and pull gently, 3 x 30 seconds.\n"
        "3. Roll the arch over a tennis ball for 2 minutes; wear cushioned shoes on hard floors."),
    "bunion": (
        "1. Calf stretch against a wall, back knee straight, then bent: 3 x 30 seconds each leg, daily.\n"
        "2. Gently ease the big toe into line with your fingers, 5 x 10 seconds.\n"
        "3. Spread your toes wide and hold for 5 seconds, 10 times; choose shoes with room for the toes."),
    "hammer_toe": (
        "1. Calf stretch against a wall, back knee straight, then bent: 3 x 30 seconds each leg, daily.\n"
        "2. Towel scrunches: pull a towel towards you with your toes, 2 x 10.\n"
        "3. Gently straighten each bent toe with your fingers, 5 x 10 seconds."),
    "flat_feet": (
        "1. Calf stretch against a wall, back knee straight, then bent: 3 x 30 seconds each leg, daily.\n"
        "2. Short foot: lift your arch without curling the toes, hold 5 seconds, 10 times.\n"
        "3. Slow heel raises on both feet, 2 x 12."),
    "pronation": (
        "1. Calf stretch against a wall, back knee straight, then bent: 3 x 30 seconds each leg, daily.\n"
        "2. Short foot: lift your arch without curling the toes, hold 5 seconds, 10 times.\n"
        "3. Stand on one leg for 30 seconds, 3 times each side, near a wall for safety."),
    "mid_arch_pain": (
        "1. Calf stretch against a wall, back knee straight, then bent: 3 x 30 seconds each leg, daily.\n"
        "2. Roll the arch over a tennis ball for 2 minutes.\n"
        "3. Seated towel stretch: loop a towel around the ball of the foot and pull gently, 3 x 30 seconds."),
    "tendonitis": (
        "1. Gentle calf stretch against a wall, no bouncing: 3 x 30 seconds each leg, twice a day.\n"
        "2. Slow heel raises on both feet, lowering over 3 seconds, 2 x 10, only if they do not hurt.\n"
        "3. Rest from running and jumping until your therapist says otherwise."),
    "shin_splints": (
        "1. Calf stretch against a wall, back knee straight, then bent: 3 x 30 seconds each leg, daily.\n"
        "2. Toe raises: lift your toes and the front of your feet off the floor, 2 x 15.\n"
        "3. Cut running distance by half for two weeks; walk or cycle instead."),
}
SAFETY_NOTE = "Stop any stretch that causes sharp pain, and tell your therapist at your next visit."
MAX_NOTES_CHARS = 1500
CHART_HEIGHT = 100  # mm  # the plan must fit on the one page under the chart
MAX_NAME_CHARS = 60  # the title "Your progress: <name>" takes at most two lines

# The same palette as the dashboard's charts (Okabe-Ito), as RGB.
ORANGE, BLUE, GREEN, GREY = (230, 159, 0), (0, 114, 178), (0, 158, 115), (120, 120, 120)
BAND, RANGE, INK, LIGHT = (190, 205, 225), (222, 240, 228), (30, 30, 30), (215, 215, 215)

# A Unicode font for names such as "Zoë Ødegård" or "Dvořák": DejaVu Sans, from Debian's
# fonts-dejavu-core or the copy matplotlib (a lifelines dependency) ships. Without either, the
# core Helvetica font is used and text is reduced to Latin-1 (see latin1_text).
FONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    *([Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"]
      if (spec := importlib.util.find_spec("matplotlib")) and spec.submodule_search_locations else []),
)


def default_notes(condition: str) -> str:
    """The default home-stretching plan for a condition (calves first), and the safety note."""
    plan = STRETCHING_NOTES.get(condition, STRETCHING_NOTES["plantar_fasciitis"].split("\n")[0])
    return f"{plan}\n{SAFETY_NOTE}"


@dataclasses.dataclass(frozen=True)
class ReportContent:
    """What goes on the page. `progress` is metrics.episode_progress's frame, `typical`
    metrics.typical_course's (may be empty), `recommended` the course type's session range and
    `peers` whom the typical band is drawn from (client.peer_description); the therapist's name,
    the next appointment (stored with the latest visit, when not past) and the clinic's name and contact
    (config.CLINIC_NAME, CLINIC_CONTACT) head the page. `followups` is
    metrics.episode_followups's frame: the answered ones are drawn after the visits."""

    client_name: str
    course_type: str
    episode_line: str
    summary: str
    notes: str
    progress: pd.DataFrame
    typical: pd.DataFrame
    recommended: tuple[int, int]
    improved_at_visit: int | None
    peers: str
    generated_on: dt.date
    therapist: str | None = None
    next_appointment: dt.date | None = None
    checkin_url: str | None = None  # the course's live check-in link, printed with its QR code
    followups: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    clinic_name: str = dataclasses.field(default_factory=lambda: config.CLINIC_NAME)
    clinic_contact: str = dataclasses.field(default_factory=lambda: config.CLINIC_CONTACT)


# Parts of an emoji that are not a picture of their own: skin-tone modifiers, joiners, variation
# selectors, combining marks. Dropped, so "👍🏽" is one replaced character, not two.
_EMOJI_PARTS = ("Sk", "Mn", "Cf")


def latin1_text(text: str) -> str:
    """Text the core PDF fonts can draw: Latin-1 characters as they are, accented letters
    outside Latin-1 without their accent (ř -> r), anything else (emoji, other scripts) a visible
    '?', so a name never silently loses a character."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        if ord(char) < 256:
            out.append(char)
            continue
        if unicodedata.category(char) in _EMOJI_PARTS:
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(base if base and all(ord(c) < 256 for c in base) else "?")
    return _tidy_spaces("".join(out))


def _tidy_spaces(text: str) -> str:
    """Collapse the double spaces a dropped emoji leaves, line by line."""
    return "\n".join(" ".join(line.split(" ")).replace("  ", " ").strip() for line in text.split("\n"))


class ReportPage(FPDF):
    """An A4 page in the reports' fonts: DejaVu Sans when found (find_font), else the core
    Latin-1 font; text_for_font() makes any text drawable in it."""

    def __init__(self, font_path: Path | None):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.set_auto_page_break(False)
        self.set_margins(15, 15, 15)
        self.font_family_name = "Helvetica"
        self._font: TTFFont | None = None
        if font_path is not None:
            self.add_font("DejaVu", "", str(font_path))
            self.font_family_name = "DejaVu"
            font = self.fonts["dejavu"]
            assert isinstance(font, TTFFont)  # add_font above loaded it from a TrueType file
            self._font = font

    def text_for_font(self, text: str) -> str:
        """`text` as the chosen font can draw it: a character it has no glyph for (an emoji, a
        script it lacks) becomes a visible □, never silently nothing; no bidirectional controls
        or other invisible characters; line breaks are kept."""
        text = stored_text.visible(text, keep_newlines=True)
        if self._font is None:
            return latin1_text(text)
        cmap = self._font.cmap
        missing = "□" if ord("□") in cmap else "?"
        out: list[str] = []
        for char in unicodedata.normalize("NFC", text):
            if char in "\n\t" or ord(char) in cmap:
                out.append(char)
            elif unicodedata.category(char) not in _EMOJI_PARTS and out[-1:] != [missing]:
                out.append(missing)  # one mark for a run, such as a family emoji's people
        return _tidy_spaces("".join(out))

    def write_font(self, size: float, bold: bool = False) -> None:
        # DejaVu is added in one style only; bold is drawn as the regular face, a bit larger.
        if self.font_family_name == "Helvetica":
            self.set_font("Helvetica", "B" if bold else "", size)
        else:
            self.set_font("DejaVu", "", size + (1 if bold else 0))


def find_font(candidates: Sequence[Path] = FONT_CANDIDATES) -> Path | None:
    """The first Unicode font file that exists, or None to fall back to the core fonts."""
    return next((path for path in candidates if path.is_file()), None)


def new_page(font_path: Path | None | str = "auto") -> ReportPage:
    """A report with its one page added. `font_path` 'auto' finds DejaVu Sans (find_font); None
    forces the core Latin-1 font; else the font file to use."""
    pdf = ReportPage(find_font() if font_path == "auto" else (Path(font_path) if font_path else None))
    pdf.add_page()
    return pdf


def progress_report_pdf(content: ReportContent, font_path: Path | None | str = "auto") -> bytes:
    """The one-page A4 report as PDF bytes, in the font new_page() chooses from `font_path`."""
    pdf = new_page(font_path)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    text = pdf.text_for_font

    pdf.write_font(18, bold=True)
    pdf.set_text_color(*INK)
    name = stored_text.label(content.client_name, MAX_NAME_CHARS)
    title = _at_most_lines(pdf, width, 8, text(f"Your progress: {name}"), 2)  # wide letters too
    pdf.multi_cell(width, 8, title, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.write_font(11)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(width, 5.5, text(content.episode_line), align="L", new_x="LMARGIN", new_y="NEXT")
    details = [f"Therapist: {stored_text.label(content.therapist, MAX_NAME_CHARS)}" if content.therapist else "",
               visit_dates_line(content.progress),
               f"Next appointment: {content.next_appointment:%A %d %B %Y}" if content.next_appointment else ""]
    for line in filter(None, details):
        pdf.multi_cell(width, 5.5, _at_most_lines(pdf, width, 5.5, text(line), 2), align="L",
                       new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_text_color(*INK)
    pdf.write_font(12)
    pdf.multi_cell(width, 6, text(content.summary), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    top = pdf.get_y()
    _draw_chart(pdf, content, pdf.l_margin, top, width, CHART_HEIGHT)
    pdf.set_y(top + CHART_HEIGHT + 8)

    pdf.write_font(13, bold=True)
    pdf.multi_cell(width, 7, "Your home stretching plan", align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.write_font(11)
    notes = content.notes.strip()
    if len(notes) > MAX_NOTES_CHARS:
        notes = notes[:MAX_NOTES_CHARS - 1].rstrip() + "…"
    lines = pdf.multi_cell(width, 5.5, text(notes), align="L", dry_run=True, output="LINES")
    assert isinstance(lines, list)  # output="LINES" returns the wrapped lines only
    bottom = pdf.h - 31 - (CHECKIN_QR_MM + 3 if content.checkin_url else 0)
    room = int((bottom - pdf.get_y()) // 5.5)  # above the check-in code, the clinic's line and the footnote
    if len(lines) > room:  # one page, always: keep the lines that fit
        lines = lines[:max(room - 1, 0)] + ["…" if pdf.font_family_name == "DejaVu" else "..."]
    pdf.multi_cell(width, 5.5, "\n".join(lines), align="L", new_x="LMARGIN", new_y="NEXT")

    if content.checkin_url:
        _draw_checkin(pdf, content.checkin_url, pdf.h - 28 - CHECKIN_QR_MM, width)

    pdf.set_y(pdf.h - 26)
    pdf.write_font(10, bold=True)
    pdf.set_text_color(*INK)
    clinic = " · ".join(part for part in (stored_text.one_line(content.clinic_name),
                                          stored_text.one_line(content.clinic_contact)) if part)
    pdf.multi_cell(width, 5, _at_most_lines(pdf, width, 5, text(clinic), 1), align="L",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.write_font(8)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(width, 4, text(f"Made on {content.generated_on:%d %B %Y}. The shaded band: {content.peers}. "
                                  f"{client.clear_change_meaning()}"),
                   align="L", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


CHECKIN_QR_MM = 24


def _draw_checkin(pdf: ReportPage, url: str, top: float, width: float) -> None:
    """The check-in link's QR code with a line saying what it is for, and the address itself."""
    pdf.image(io.BytesIO(checkins.qr_png(url)), x=pdf.l_margin, y=top, w=CHECKIN_QR_MM, h=CHECKIN_QR_MM)
    left = pdf.l_margin + CHECKIN_QR_MM + 4
    pdf.set_xy(left, top + 3)
    pdf.write_font(11, bold=True)
    pdf.set_text_color(*INK)
    pdf.multi_cell(width - CHECKIN_QR_MM - 4, 5.5, "Tell us how your foot is doing", align="L", new_x="LEFT", new_y="NEXT")
    pdf.write_font(9)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(width - CHECKIN_QR_MM - 4, 4.5, pdf.text_for_font(
        "Scan the code with your phone's camera, or open the address below, to answer a few questions "
        f"between visits and after your last one. It is your personal link: please keep it to yourself.\n{url}"),
        align="L", new_x="LMARGIN", new_y="NEXT")


def _at_most_lines(pdf: ReportPage, width: float, line_height: float, text: str, most: int) -> str:
    """`text` wrapped to `width` in the current font, cut to `most` lines ending in an ellipsis."""
    lines = pdf.multi_cell(width, line_height, text, align="L", dry_run=True, output="LINES")
    assert isinstance(lines, list)  # output="LINES" returns the wrapped lines only
    if len(lines) <= most:
        return "\n".join(lines)
    ellipsis = "…" if pdf.font_family_name == "DejaVu" else "..."
    last, room = lines[most - 1], width - 2 * pdf.c_margin  # a cell's text stays inside its padding
    while last and pdf.get_string_width(last + ellipsis) > room:
        last = last[:-1]
    return "\n".join([*lines[:most - 1], last.rstrip() + ellipsis])


def chart_last_visit(content: ReportContent) -> int:
    """The last visit the report's chart shows, as the screen's (ui/client_charts.pain_chart): the
    client's last visit or the end of the recommended range, and the typical band up to one
    visit past the range (the few long courses say little)."""
    high = content.recommended[1]
    last_visit = int(content.progress["visit_number"].max()) if len(content.progress) else 1
    x_max = max(last_visit, high, 2)
    if len(content.typical):
        x_max = max(x_max, min(int(content.typical["visit_number"].max()), max(last_visit, high + 1)))
    return x_max


def _draw_chart(pdf: ReportPage, content: ReportContent, left: float, top: float, width: float, height: float) -> None:
    """Pain before (line) and after (open circles) each session by visit, the typical course
    band behind it, the recommended session range shaded and the visit of the first clear change."""
    progress, typical = content.progress, content.typical
    low, high = content.recommended
    x_max = chart_last_visit(content)
    answered = content.followups.dropna(subset=["pain"]) if len(content.followups) else content.followups
    slots = x_max + (len(config.FOLLOWUP_DAYS) if len(answered) else 0)
    plot_left, plot_top = left + 12, top + 4
    plot_width, plot_height = width - 14, height - 22

    def x_at(visit: float) -> float:
        return plot_left + (visit - 0.5) / slots * plot_width

    def y_at(pain: float) -> float:
        return plot_top + (10 - pain) / 10 * plot_height

    pdf.set_line_width(0.2)
    # The recommended range, shaded across its visits.
    pdf.set_fill_color(*RANGE)
    pdf.rect(x_at(low - 0.5), plot_top, x_at(min(high, x_max) + 0.5) - x_at(low - 0.5), plot_height, style="F")
    pdf.write_font(8)
    pdf.set_text_color(*GREEN)
    pdf.set_xy(x_at(low - 0.5), plot_top + 1)
    pdf.cell(x_at(min(high, x_max) + 0.5) - x_at(low - 0.5), 4, f"recommended {low}-{high} sessions", align="C")
    # Grid and axes.
    pdf.set_draw_color(*LIGHT)
    pdf.set_text_color(*GREY)
    for pain in range(0, 11, 2):
        pdf.line(plot_left, y_at(pain), plot_left + plot_width, y_at(pain))
        pdf.set_xy(left, y_at(pain) - 2)
        pdf.cell(10, 4, str(pain), align="R")
    for visit in range(1, x_max + 1):
        pdf.set_xy(x_at(visit) - 5, plot_top + plot_height + 1)
        pdf.cell(10, 4, str(visit), align="C")
    pdf.set_xy(plot_left, plot_top + plot_height + 5)
    pdf.cell(plot_width, 4, "Visit", align="C")
    with pdf.rotation(90, left + 2, plot_top + plot_height / 2):
        pdf.set_xy(left + 2 - 15, plot_top + plot_height / 2 - 2)
        pdf.cell(30, 4, "Pain (0-10)", align="C")
    pdf.set_draw_color(*GREY)
    pdf.line(plot_left, plot_top + plot_height, plot_left + plot_width, plot_top + plot_height)
    pdf.line(plot_left, plot_top, plot_left, plot_top + plot_height)

    # The typical course: the middle half of similar clients, and its middle line (dashed).
    band = typical.dropna(subset=["p25_pain", "p75_pain"]) if len(typical) else typical
    band = band[band["visit_number"] <= x_max] if len(band) else band
    if len(band) >= 2:
        upper = [(x_at(v), y_at(p)) for v, p in zip(band["visit_number"], band["p75_pain"])]
        lower = [(x_at(v), y_at(p)) for v, p in zip(band["visit_number"], band["p25_pain"])]
        pdf.set_fill_color(*BAND)
        pdf.polygon(upper + lower[::-1], style="F")
        pdf.set_draw_color(*GREY)
        pdf.set_dash_pattern(dash=1.2, gap=1)
        pdf.polyline([(x_at(v), y_at(p)) for v, p in zip(band["visit_number"], band["p50_pain"])])
        pdf.set_dash_pattern()

    # The client: after the session (open circles), before the session (line and dots).
    colour = ORANGE if content.course_type == "acute" else BLUE
    after = progress.dropna(subset=["pain_post"])
    pdf.set_draw_color(*colour)
    pdf.set_line_width(0.3)
    for visit, pain in zip(after["visit_number"], after["pain_post"]):
        pdf.circle(x_at(visit), y_at(pain), 1.1, style="D")
    before = progress.dropna(subset=["pain_pre"])
    points = [(x_at(v), y_at(p)) for v, p in zip(before["visit_number"], before["pain_pre"])]
    pdf.set_line_width(0.7)
    if len(points) >= 2:
        pdf.polyline(points)
    pdf.set_fill_color(*colour)
    for x, y in points:
        pdf.circle(x, y, 1.3, style="F")
    # The first clear change.
    if content.improved_at_visit is not None:
        hit = before[before["visit_number"] == content.improved_at_visit]
        if len(hit):
            x, y = x_at(content.improved_at_visit), y_at(float(hit["pain_pre"].iloc[0]))
            pdf.set_draw_color(*GREEN)
            pdf.set_line_width(0.6)
            pdf.circle(x, y, 2.6, style="D")
            pdf.set_text_color(*GREEN)
            pdf.write_font(8)
            pdf.set_xy(x - 15, y - 8)
            pdf.cell(30, 4, "clear change", align="C")
    if len(answered):
        _draw_followups(pdf, answered, points[-1] if points else None, x_max, x_at, y_at, colour,
                        (plot_top, plot_height))
    pdf.set_line_width(0.2)

    # Legend.
    legend_y = top + height - 5
    pdf.write_font(8)
    pdf.set_text_color(*INK)
    x = plot_left
    for draw, label in ((_legend_line(colour), "pain before the session"),
                        (_legend_circle(colour), "after the session"),
                        (_legend_band(), "similar clients (middle half)"),
                        (_legend_range(), "recommended sessions")):
        draw(pdf, x, legend_y + 2)
        pdf.set_xy(x + 6, legend_y)
        label_width = pdf.get_string_width(label) + 1
        pdf.cell(label_width, 4, label)
        x += 6 + label_width + 4


def _draw_followups(pdf: ReportPage, answered: pd.DataFrame, last_point, x_max: int, x_at, y_at, colour,
                    plot: tuple[float, float]) -> None:
    """The chart continued past the last visit: a dotted line from the last visit's pain to each
    answered follow-up's pain (diamonds), one place per config.FOLLOWUP_DAYS after the visits,
    labelled "4 weeks", "3 months", ..., behind a faint line where the visits end."""
    plot_top, plot_height = plot
    pdf.set_draw_color(*GREY)
    pdf.set_line_width(0.2)
    pdf.set_dash_pattern(dash=0.8, gap=0.8)
    pdf.line(x_at(x_max + 0.5), plot_top, x_at(x_max + 0.5), plot_top + plot_height)
    pdf.set_text_color(*GREY)
    pdf.write_font(7)
    place = {day: x_max + 1 + number for number, day in enumerate(config.FOLLOWUP_DAYS)}
    for day, slot in place.items():
        pdf.set_xy(x_at(slot) - 8, plot_top + plot_height + 1)
        pdf.cell(16, 4, client.followup_words(day), align="C")
    shown = [(x_at(place[int(day)]), y_at(float(pain))) for day, pain in zip(answered["followup_day"], answered["pain"])
             if int(day) in place]
    pdf.set_draw_color(*colour)
    pdf.set_line_width(0.4)
    if last_point is not None and shown:
        pdf.polyline([last_point, *shown])
    pdf.set_dash_pattern()
    pdf.set_fill_color(*colour)
    for x, y in shown:
        pdf.polygon([(x, y - 1.8), (x + 1.8, y), (x, y + 1.8), (x - 1.8, y)], style="F")


def _legend_line(colour):
    def draw(pdf, x, y):
        pdf.set_draw_color(*colour)
        pdf.set_line_width(0.7)
        pdf.line(x, y, x + 5, y)
        pdf.set_line_width(0.2)
    return draw


def _legend_circle(colour):
    def draw(pdf, x, y):
        pdf.set_draw_color(*colour)
        pdf.circle(x + 2.5, y, 1.1, style="D")
    return draw


def _legend_band():
    def draw(pdf, x, y):
        pdf.set_fill_color(*BAND)
        pdf.rect(x, y - 1.5, 5, 3, style="F")
    return draw


def _legend_range():
    def draw(pdf, x, y):
        pdf.set_fill_color(*RANGE)
        pdf.rect(x, y - 1.5, 5, 3, style="F")
    return draw


def report_filename(client_id: str, episode_id: str) -> str:
    """A safe download name from ids only (names stay out of file names and logs)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{client_id}_{episode_id}")
    return f"progress_{safe}.pdf"


def episode_line(summary: dict, progress: pd.DataFrame) -> str:
    """'Acute plantar fasciitis, 4 sessions, 1 Nov 2024 - 22 Nov 2024 (course E00012)'."""
    condition = f"{summary['course_type']} {summary['condition'].replace('_', ' ')}".capitalize()
    visits = int(summary.get("visits") or 0)
    dates = ""
    if len(progress):
        first, last = pd.Timestamp(progress["session_date"].min()), pd.Timestamp(progress["session_date"].max())
        dates = f", {first:%d %b %Y}" + (f" - {last:%d %b %Y}" if last != first else "")
    return f"{condition}, {visits} {'session' if visits == 1 else 'sessions'}{dates} (course {summary['episode_id']})"



def visit_dates_line(progress: pd.DataFrame) -> str:
    """'Visits: 6 Jan, 13 Jan and 20 Jan 2025' (each year once), '' with no visits."""
    dates = sorted(pd.to_datetime(progress["session_date"]).dt.date.unique()) if len(progress) else []
    if not dates:
        return ""
    shown = []
    for number, date in enumerate(dates):
        last_of_year = number == len(dates) - 1 or dates[number + 1].year != date.year
        shown.append(f"{date.day} {date:%b}" + (f" {date.year}" if last_of_year else ""))
    listed = ", ".join(shown[:-1]) + (" and " if len(shown) > 1 else "") + shown[-1]
    return f"{'Visit' if len(dates) == 1 else 'Visits'}: {listed}"


def upcoming_appointment(view: EpisodeView, today: dt.date) -> dt.date | None:
    """The next appointment to print: the one stored with the course's latest visit
    (EpisodeView.next_appointment), when it is `today` or later; one already past is not next."""
    stored = view.next_appointment
    return stored if stored is not None and stored >= today else None


def report_content(view: EpisodeView, notes: str, generated_on: dt.date, therapist: str | None = None,
                   checkin_url: str | None = None) -> ReportContent:
    """The report's content for an episode as the client progress page shows it, with the
    therapist's name and the course's live check-in link when given, and the next appointment
    stored with the latest visit when it is not past (upcoming_appointment)."""
    summary = view.summary
    return ReportContent(therapist=therapist, next_appointment=upcoming_appointment(view, generated_on),
                         checkin_url=checkin_url,
        client_name=view.client_name or summary["client_id"], course_type=summary["course_type"],
        episode_line=episode_line(summary, view.progress),
        summary=" ".join(part for part in (view.sentence, view.held) if part), notes=notes,
        progress=view.progress, typical=view.typical,
        recommended=config.RECOMMENDED_SESSIONS[summary["course_type"]],
        improved_at_visit=summary.get("improved_at_visit"), peers=view.peers, generated_on=generated_on,
        followups=view.followups)
