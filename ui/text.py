"""Stored text shown literally by the two renderers that read markup: Streamlit's Markdown
(titles, headers, markdown, captions, alerts, widget labels) and Plotly's labels.

Plotly.js draws every label, title, tick, legend entry and hover text through its own small
HTML subset (`<a href>`, `<b>`, `<br>`, `<span style>`, ...) and decodes entities (`&lt;`,
`&#60;`), so a therapist named `<a href="https://x">x</a>` would be a link on the chart. Escaping
`&`, `<` and `>` as entities makes such text inert: plotly.js decodes them back to the literal
characters (svg_text_utils convertEntities in the bundled plotly.min.js). Only our own hover and
text templates, written in code, may carry markup (`<br>`, `<extra>`)."""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import plotly.graph_objects as go

from analytics import text

LABEL_CHARS = 40   # a name on a chart axis, a point or a picker
HOVER_CHARS = 200  # a name in hover text; names imported today are at most 120 characters
HEADING_CHARS = 120
# The keys whose strings are our templates, where markup and %{...} are meant.
TEMPLATES = frozenset({"hovertemplate", "texttemplate"})
# Every sign Markdown (GitHub's, with Streamlit's directives and maths) reads inside one line;
# "-" and "+" only start a list, so they are escaped at the start of the text only.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#.!|~<>$:=&\"'@]|^[-+])")


def markdown(value: object, limit: int | None = None) -> str:
    """Stored text shown literally in Markdown: on one line, shortened to `limit` characters if
    given (HEADING_CHARS for a name in a heading), every punctuation mark backslash-escaped, so
    it can never become a link (also `www.x` and `a@b.c`, which GitHub Markdown links by
    itself), an image, an icon (`:material/x:`), a colour (`:red[x]`), maths (`$x$`), HTML or
    formatting."""
    shown = text.one_line(value) if limit is None else text.label(value, limit)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", shown)


def plotly(value: object) -> str:
    """Stored text shown literally by Plotly: on one line, `&`, `<` and `>` as entities."""
    return text.one_line(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inert_figure(fig: go.Figure) -> go.Figure:
    """The figure, changed in place, with every string in it made literal (plotly()), whether it came from the data
    (axis categories, point text, hover data, trace names) or from code (titles, annotations);
    only hover and text templates keep their markup. Numbers and colours are unchanged. Only the
    properties holding a string that changes are set again (each set is validated by Plotly, which
    made setting every property again about a third of a page's run)."""
    with fig.batch_update():  # in place, so a subplot grid stays addressable by row and column
        for trace in fig.data:
            spec = trace.to_plotly_json()
            spec.pop("type", None)
            if changes := inert_changes(spec):
                trace.update(changes)
        layout = fig.layout.to_plotly_json()
        layout.pop("template", None)  # Plotly's own theme: colours and fonts, no text of ours
        if changes := inert_changes(layout):
            fig.layout.update(changes)
    return fig


def inert_changes(spec: dict) -> dict:
    """The part of a figure's properties that plotly() changes: a nested property by the names
    that change in it (Plotly's update merges those), anything else (a list, an array, a
    string) whole."""
    changes = {}
    for name, item in spec.items():
        if isinstance(item, dict) and name not in TEMPLATES:
            if nested := inert_changes(item):
                changes[name] = nested
        elif (shown := _inert(item, name)) is not item:
            changes[name] = shown
    return changes


def _inert(value: Any, key: str = "") -> Any:
    """`value` with plotly() applied to every string in it (templates aside): the same object
    when no string in it changes, so a caller can tell what changed."""
    if key in TEMPLATES:
        return value
    if isinstance(value, str):
        shown = plotly(value)
        return value if shown == value else shown
    if isinstance(value, dict):
        items = {name: _inert(item, name) for name, item in value.items()}
        return value if all(items[name] is item for name, item in value.items()) else items
    if isinstance(value, (list, tuple)):
        listed = [_inert(item) for item in value]
        return value if all(new is old for new, old in zip(listed, value)) else listed
    if isinstance(value, np.ndarray) and value.dtype.kind in "OUS" and any(
            isinstance(item, str) and plotly(item) != item for item in value.ravel()):
        return np.vectorize(lambda item: plotly(item) if isinstance(item, str) else item, otypes=[object])(value)
    return value
