"""Saying on the page what small-cell suppression left out of a figure, and why
(analytics/metrics/suppression.py decides; this only tells the therapist looking)."""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from analytics import config
from analytics.metrics import suppression


def why() -> str:
    """The reason, built from config: "fewer than 10 other therapists' courses"."""
    return f"fewer than {config.MIN_CELL_COURSES} other therapists' courses"


def count(result: Any) -> int:
    """How many rows or figures suppression left out of a metric's result: a frame, the
    headline's dict, or a tuple of frames (the funnel)."""
    if isinstance(result, pd.DataFrame):
        return suppression.suppressed(result)
    if isinstance(result, dict):
        return int(result.get(suppression.SUPPRESSED) or 0)
    if isinstance(result, tuple):
        return sum(count(part) for part in result if isinstance(part, pd.DataFrame))
    return 0


def everything_hidden(result: Any) -> bool:
    """True when suppression left nothing of an empty result (not "nothing matches")."""
    return isinstance(result, pd.DataFrame) and result.empty and count(result) > 0


def notice(result: Any) -> None:
    """Where the figure would be: what is hidden and why, when suppression left anything out."""
    hidden = count(result)
    if not hidden:
        return
    what = ("Not shown: these figures rest on" if everything_hidden(result) else
            f"{hidden} {'figure' if hidden == 1 else 'figures'} not shown here: they rest on")
    st.info(f"{what} {why()}, which could point to a colleague's client (a figure built from 1 to "
            f"{config.MIN_CELL_COURSES - 1} of them, or one that would give such a figure away, is neither "
            "shown nor exported). Widen the filters.", icon=":material/visibility_off:")
