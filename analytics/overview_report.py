"""The one-page Overview for the monthly team meeting, as a PDF: the filter and the improvement
rule it was made with, the headline figures each with its n (and the period before, where
compared), and the conditions within acute and within chronic courses, all who started. Drawn
with fpdf2 like the client's report (analytics/report.py): no browser, no network, plain text
only, always one page."""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path

import pandas as pd

from analytics import config
from analytics import text as stored_text
from analytics.metrics import suppression
from analytics.report import GREY, INK, LIGHT, ReportPage, new_page

ROW_HEIGHT = 5.2  # mm
MAX_CONDITION_ROWS = len(config.CONDITIONS)


@dataclasses.dataclass(frozen=True)
class OverviewContent:
    """What goes on the page: `kpis` is metrics.kpis's frame, `conditions` metrics.condition_by_course's;
    `filter_text` the filter in words or address form, `rule_text` the rule by name and thresholds."""

    kpis: pd.DataFrame
    conditions: pd.DataFrame
    filter_text: str
    rule_text: str
    generated_on: dt.date
    clinic_name: str = dataclasses.field(default_factory=lambda: config.CLINIC_NAME)


def _figure(metric: str, value: float) -> str:
    """A tile's value as the Overview shows it: shares as whole percent, counts with separators."""
    if value != value:  # NaN
        return "n/a"
    if metric.startswith(("improved_", "dropout_rate", "completion_rate")):
        return f"{value:.0%}"
    if metric.startswith("median_sessions"):
        return f"{value:g}"
    return f"{value:,.0f}"


def overview_pdf(content: OverviewContent, font_path: Path | None | str = "auto") -> bytes:
    """The Overview as one A4 page of PDF bytes (font_path as report.progress_report_pdf)."""
    pdf = new_page(font_path)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    text = pdf.text_for_font

    pdf.write_font(16, bold=True)
    pdf.set_text_color(*INK)
    pdf.multi_cell(width, 8, text(f"{stored_text.one_line(content.clinic_name)}: outcomes"), new_x="LMARGIN", new_y="NEXT")
    pdf.write_font(10)
    pdf.set_text_color(*GREY)
    for line in (f"Filter: {content.filter_text}", f"Improvement rule: {content.rule_text}",
                 f"Made on {content.generated_on:%d %B %Y}"):
        pdf.multi_cell(width, 5, text(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    pdf.set_text_color(*INK)
    pdf.write_font(12, bold=True)
    pdf.multi_cell(width, 7, "Headline figures", new_x="LMARGIN", new_y="NEXT")
    compared = bool(content.kpis["compared"].fillna(False).any()) if len(content.kpis) else False
    columns = [("Figure", 0.56), ("Value", 0.10), ("Courses", 0.12)] + ([("Period before", 0.22)] if compared else [])
    _row(pdf, width, [name for name, _ in columns], [share for _, share in columns], header=True)
    for row in content.kpis.itertuples():
        cells = [str(row.label), _figure(row.metric, row.value), f"{int(row.n):,}" if row.n == row.n else ""]
        if compared:
            cells.append(f"{_figure(row.metric, row.previous)} of {int(row.previous_n):,}"
                         if row.compared and row.previous_n == row.previous_n else "not compared")
        _row(pdf, width, [text(cell) for cell in cells], [share for _, share in columns])
    pdf.ln(4)

    pdf.write_font(12, bold=True)
    pdf.multi_cell(width, 7, "Improved after the second session, all who started, by condition",
                   new_x="LMARGIN", new_y="NEXT")
    shares = [0.40, 0.30, 0.30]
    _row(pdf, width, ["Condition", "Acute (95% interval, n)", "Chronic (95% interval, n)"], shares, header=True)
    by = {(row.course_type, row.condition): row for row in content.conditions.itertuples()}
    hidden = suppression.suppressed(content.conditions)
    for condition in config.CONDITIONS[:MAX_CONDITION_ROWS]:
        cells = [condition.replace("_", " ").capitalize()]
        for course in config.COURSE_TYPES:
            found = by.get((course, condition))
            rate = getattr(found, "responder_rate_after_session2_itt", math.nan) if found is not None else math.nan
            if found is None and hidden:  # absent, or left out by small-cell suppression
                cells.append("not shown")
            elif found is None or not found.episodes_eligible_itt:
                cells.append("no courses")
            elif rate != rate:
                cells.append("n/a")
            else:
                cells.append(f"{rate:.0%} ({found.itt_ci_low:.0%}-{found.itt_ci_high:.0%}, "
                             f"{int(found.episodes_eligible_itt)})")
        _row(pdf, width, [text(cell) for cell in cells], shares)

    pdf.set_y(pdf.h - (26 if hidden else 22))  # room for the line saying what is not shown
    pdf.write_font(8)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(width, 4, text(
        "All who started: every course with a first-visit pain score except one still running short of visit 3; "
        "a course that stopped before visit 3 counts as not improved. Changes against the period before are shown "
        f"only where the earlier figure rests on at least {config.MIN_COMPARISON_COURSES} courses."
        + (f" Not shown: a condition's figure resting on fewer than {config.MIN_CELL_COURSES} other therapists' "
           "courses (or on none), which could point to a colleague's client." if hidden else "")),
        new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _row(pdf: ReportPage, width: float, cells: list[str], shares: list[float], header: bool = False) -> None:
    """One table row: each cell cut to its column, a thin rule under the header."""
    pdf.write_font(9, bold=header)
    pdf.set_text_color(*(GREY if header else INK))
    for cell, share in zip(cells, shares):
        room = width * share - 2 * pdf.c_margin
        while cell and pdf.get_string_width(cell) > room:
            cell = cell[:-2] + "…" if pdf.font_family_name == "DejaVu" else cell[:-4] + "..."
        pdf.cell(width * share, ROW_HEIGHT, cell)
    pdf.ln(ROW_HEIGHT)
    if header:
        pdf.set_draw_color(*LIGHT)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
