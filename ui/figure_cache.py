"""Built Plotly figures kept for their inputs, so a warm page does not build its charts again.

A page's figures are built from the small frames `ui.metric` returns (cached on the data
version) and a few options; building one is Plotly validating every property as it is set,
which was most of a warm page's run on the server (Courses: about 285 of 370 ms for six
charts, measured with py-spy in the real server; benchmarks/RESULTS.md section 8). A builder
wrapped in `remembered` returns the figure it built before when it is called again with equal
inputs: the key is a digest of the pickled arguments (frames by their values, columns and
dtypes), the builder's name and every setting in analytics.config, so a changed threshold or a
new data version is a new key and never an old figure. The same figure object is returned to
every caller: a page only hands it to st.plotly_chart, which copies it (`to_dict`) and never
changes it; nothing may change a figure a remembered builder returned.

At most MAX_FIGURES are kept (least recently used go first); `clear()` forgets them all."""
from __future__ import annotations

import functools
import hashlib
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from analytics import config

MAX_FIGURES = 256

P = ParamSpec("P")
R = TypeVar("R")

_figures: OrderedDict[bytes, object] = OrderedDict()
_lock = threading.Lock()


def remembered(build: Callable[P, R]) -> Callable[P, R]:
    """`build`, returning the figure it built before for equal arguments and settings."""

    @functools.wraps(build)
    def cached(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            key = _key(build, args, kwargs)
        except (pickle.PicklingError, TypeError, AttributeError):  # an input that cannot be pickled: build it
            return build(*args, **kwargs)
        with _lock:
            if key in _figures:
                _figures.move_to_end(key)
                return _figures[key]  # type: ignore[return-value]
        figure = build(*args, **kwargs)
        with _lock:
            _figures[key] = figure
            while len(_figures) > MAX_FIGURES:
                _figures.popitem(last=False)
        return figure

    return cached


def clear() -> None:
    """Forget every kept figure (ui.guard.clear_metric_cache calls this)."""
    with _lock:
        _figures.clear()


def kept() -> int:
    """How many figures are kept now."""
    with _lock:
        return len(_figures)


def _key(build: Callable, args: tuple, kwargs: dict) -> bytes:
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{build.__module__}.{build.__qualname__}".encode())
    digest.update(pickle.dumps((args, sorted(kwargs.items())), protocol=pickle.HIGHEST_PROTOCOL))
    digest.update(_settings().encode())
    return digest.digest()


def _settings() -> str:
    """Every setting in analytics.config as text: a builder reads thresholds, ranges and names there."""
    return repr(sorted((name, repr(value)) for name, value in vars(config).items()
                       if name.isupper() and not callable(value)))
