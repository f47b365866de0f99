"""How the benchmark measures: warm medians, peak memory, the machine, points in a chart, and
where a slow analytics call spends its time (per query, per DuckDB operator, per Python frame)."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPEATS = 5


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """(milliseconds, result) of one call."""
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000, result


def warm_median(call: Callable[[], Any], repeats: int = REPEATS) -> dict[str, float]:
    """One untimed warm-up, then `repeats` timed runs: median, fastest and slowest wall-clock ms,
    and the median CPU ms of the whole process (DuckDB's worker threads included). On a machine
    shared with other work the CPU time moves less than the wall clock."""
    call()
    runs, cpu = [], []
    for _ in range(repeats):
        cpu_start = time.process_time()
        runs.append(timed(call)[0])
        cpu.append((time.process_time() - cpu_start) * 1000)
    return {"median_ms": statistics.median(runs), "min_ms": min(runs), "max_ms": max(runs),
            "cpu_ms": statistics.median(cpu), "runs": len(runs)}


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: ru_maxrss (KB on Linux, bytes on macOS)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model, load and the versions that matter, for the results header."""
    import duckdb
    import numpy
    import pandas
    import plotly
    import streamlit

    cpu = next((line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor() or "unknown")
    memory = next((int(line.split()[1]) / 1024 / 1024 for line in _lines("/proc/meminfo")
                   if line.startswith("MemTotal:")), None)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cores": os.cpu_count(), "memory_gb": round(memory, 1) if memory else None, "cpu": cpu,
        "load_average": [round(x, 2) for x in load if x is not None],
        "os": platform.platform(), "python": platform.python_version(),
        "duckdb": duckdb.__version__, "pandas": pandas.__version__, "numpy": numpy.__version__,
        "streamlit": streamlit.__version__, "plotly": plotly.__version__,
    }


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


# ---------------------------------------------------------------------------------------------
# Points in a chart
# ---------------------------------------------------------------------------------------------

_POINT_ARRAYS = ("x", "y", "z", "values", "labels", "lat", "lon", "r", "theta", "a", "b", "c")


def figure_points(spec: dict) -> int:
    """Data points a Plotly figure (as JSON) sends to the browser: per trace the longest of its
    coordinate arrays (a heatmap's z counts every cell), summed over traces."""
    total = 0
    for trace in spec.get("data", []):
        total += max([_array_length(trace.get(name)) for name in _POINT_ARRAYS] + [0])
    return total


def _array_length(value: Any) -> int:
    if value is None or isinstance(value, (str, int, float)):
        return 0
    if isinstance(value, dict) and "bdata" in value:  # Plotly's typed array: base64 bytes
        size = len(base64.b64decode(value["bdata"]))
        itemsize = int("".join(ch for ch in value.get("dtype", "f8") if ch.isdigit()) or 8)
        return size // itemsize
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], (list, tuple, dict)):
            return sum(_array_length(item) or 1 for item in value)
        return len(value)
    return 0


# ---------------------------------------------------------------------------------------------
# Where the time goes
# ---------------------------------------------------------------------------------------------

class _ProfiledCursor:
    """Stands in for a DuckDB cursor: times execute() and the fetch, and keeps DuckDB's own
    per-operator profile of every query."""

    def __init__(self, cursor, log: list[dict], folder: str):
        self._cursor, self._log, self._folder = cursor, log, folder
        self._entry: dict | None = None
        self._output = os.path.join(folder, f"query{len(log)}_{id(self)}.json")
        cursor.execute("SET enable_profiling = 'json'")
        cursor.execute(f"SET profiling_output = '{self._output}'")

    def execute(self, sql, parameters=None):
        start = time.perf_counter()
        self._cursor.execute(sql, parameters) if parameters is not None else self._cursor.execute(sql)
        self._entry = {"sql": " ".join(str(sql).split()), "execute_ms": (time.perf_counter() - start) * 1000,
                       "fetch_ms": 0.0}
        self._log.append(self._entry)
        return self

    def _fetch(self, name: str, *args, **kwargs):
        start = time.perf_counter()
        result = getattr(self._cursor, name)(*args, **kwargs)
        if self._entry is not None:
            self._entry["fetch_ms"] += (time.perf_counter() - start) * 1000
            self._entry.setdefault("operators", _top_operators(self._output))
        return result

    def df(self, *args, **kwargs):
        return self._fetch("df", *args, **kwargs)

    def fetchone(self):
        return self._fetch("fetchone")

    def fetchall(self):
        return self._fetch("fetchall")

    def fetchdf(self, *args, **kwargs):
        return self._fetch("fetchdf", *args, **kwargs)

    def close(self):
        self._cursor.close()

    def __getattr__(self, name):
        return getattr(self._cursor, name)


class _ProfiledConnection:
    def __init__(self, con, log: list[dict], folder: str):
        self._con, self._log, self._folder = con, log, folder

    def cursor(self):
        return _ProfiledCursor(self._con.cursor(), self._log, self._folder)

    def execute(self, *args, **kwargs):
        return self.cursor().execute(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._con, name)


def _top_operators(path: str, top: int = 6) -> list[dict]:
    """The slowest operators of the query DuckDB just profiled into `path`."""
    try:
        tree = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return []
    found: list[dict] = []

    def walk(node: dict) -> None:
        name = node.get("operator_name") or node.get("operator_type") or node.get("type") or "?"
        timing = node.get("operator_timing", node.get("timing", 0.0)) or 0.0
        rows = node.get("operator_cardinality", node.get("intermediate_rows", 0))
        if name not in ("RESULT_COLLECTOR", "QUERY"):
            found.append({"operator": name.strip(), "ms": timing * 1000, "rows": rows})
        for child in node.get("children", []):
            walk(child)

    for root in tree.get("operator", []) if isinstance(tree.get("operator"), list) else [tree]:
        walk(root)
    found.sort(key=lambda item: -item["ms"])
    query = tree.get("query", {})
    return [{"operator": "(query total)", "ms": query.get("total_time", 0.0) * 1000,
             "rows": query.get("total_rows_scanned", 0)}] + found[:top]


def profile_call(call: Callable[[Any], Any], con) -> dict[str, Any]:
    """Run call(profiled connection) once: total time, time per query (execute and fetch into
    pandas), the slowest DuckDB operators of the slowest query, and the time left for Python;
    plus a pyinstrument tree of the call when pyinstrument is installed (optional tool)."""
    log: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_profile_") as folder:
        total_ms, _ = timed(lambda: call(_ProfiledConnection(con, log, folder)))
    in_queries = sum(entry["execute_ms"] + entry["fetch_ms"] for entry in log)
    profile: dict[str, Any] = {"total_ms": total_ms, "queries": log, "python_ms": max(0.0, total_ms - in_queries)}
    try:
        from pyinstrument import Profiler
    except ImportError:
        profile["pyinstrument"] = None
    else:
        profiler = Profiler(interval=0.002)
        profiler.start()
        call(con)
        profiler.stop()
        profile["pyinstrument"] = profiler.output_text(unicode=True, color=False, show_all=False)
    return profile


def profile_text(profile: dict[str, Any], sql_chars: int = 160, pyinstrument_lines: int = 25) -> str:
    """A profile as the few lines worth reading."""
    lines = [f"total {profile['total_ms']:.0f} ms = queries "
             f"{sum(q['execute_ms'] + q['fetch_ms'] for q in profile['queries']):.0f} ms + Python "
             f"{profile['python_ms']:.0f} ms"]
    for query in sorted(profile["queries"], key=lambda q: -(q["execute_ms"] + q["fetch_ms"]))[:3]:
        sql = query["sql"] if len(query["sql"]) <= sql_chars else query["sql"][:sql_chars] + " ..."
        lines.append(f"  query {query['execute_ms']:.0f} ms execute + {query['fetch_ms']:.0f} ms fetch: {sql}")
        for operator in query.get("operators", [])[:6]:
            lines.append(f"      {operator['ms']:8.1f} ms  {operator['operator']}  ({operator['rows']:,} rows)")
    if profile.get("pyinstrument"):
        lines.append("  pyinstrument:")
        lines += ["    " + line for line in call_tree(profile["pyinstrument"])[:pyinstrument_lines]]
    return "\n".join(lines)


def call_tree(pyinstrument_output: str) -> list[str]:
    """pyinstrument's text output without its banner: the call tree lines only."""
    lines = [line.rstrip() for line in pyinstrument_output.splitlines() if line.strip()]
    first = next((i for i, line in enumerate(lines) if line.lstrip()[:1].isdigit()), 0)
    return lines[first:]
