"""Stored text (a name, a reason, a note) made safe to show: on one line, with no character that
reorders or hides what a person reads, and shortened where a label has little room.

Names imported today cannot hold such characters (the importer refuses them), but older data
and a database filled by other tools may: a right-to-left override (U+202E) turns
"Ann\u202eevil" around on screen, and a newline breaks a heading or a chart label in two. Every
page, chart, CSV preview and PDF shows stored text through these functions."""
from __future__ import annotations

import unicodedata

ELLIPSIS = "…"
# Line breaks, tabs and other control characters (Cc), and line and paragraph separators (Zl,
# Zp) become a space; format characters (Cf: bidirectional overrides and isolates, zero-width
# spaces and joiners, the byte-order mark) are dropped. The importer refuses the same
# categories (analytics/visit_log/checks.py, invisible_character).
_AS_SPACE = ("Cc", "Zl", "Zp")
_DROPPED = ("Cf",)


def visible(text: object, keep_newlines: bool = False) -> str:
    """`text` without bidirectional controls and other invisible characters; control characters
    become spaces (newlines too, unless `keep_newlines`, for a multi-line note)."""
    shown = []
    for char in unicodedata.normalize("NFC", str(text)):
        if keep_newlines and char == "\n":
            shown.append(char)
            continue
        category = unicodedata.category(char)
        if category in _DROPPED:
            continue
        shown.append(" " if category in _AS_SPACE else char)
    return "".join(shown)


def one_line(text: object) -> str:
    """`text` as one line of visible characters, runs of spaces collapsed, ends trimmed."""
    return " ".join(visible(text).split())


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[:max(limit - 1, 0)].rstrip() + ELLIPSIS


def label(text: object, limit: int) -> str:
    """A stored name as a short one-line label: one_line, then shorten to `limit` characters."""
    return shorten(one_line(text), limit)
