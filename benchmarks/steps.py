"""One benchmark step per process: `python -m benchmarks.steps STEP --result FILE [options]`.

benchmarks.run starts each step in a fresh interpreter so that its peak memory is its own, and
reads the JSON the step writes to FILE. The steps:

  build    generate the sample clinic (timed), import it into a new database (timed), and write
           the same visit log as CSV and Parquet for the import step
  metric   every call of one analytics function, default filter and a filtered one, warm median
  page     one page run in-process with streamlit.testing.v1.AppTest: cold, then warm
  import   one visit-log file (CSV or Parquet) into an empty database, full validation
  pandas   the headline metrics in plain pandas against ours, same process, and the check
           that both give the same numbers
  app      one process that opens the database and runs every page and every metric: the
           dashboard's peak memory
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import re
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import chain, measure

ROOT = Path(__file__).resolve().parent.parent
PAGES_DIR = ROOT / "app_pages"
# The pages timed, in menu order: the manager pages, then the therapist's client progress page.
PAGES = ("overview", "courses", "conditions", "therapists", "home_program", "data_quality", "client_progress")
THERAPIST_PAGES = ("client_progress", "record_session")
FILTERED: dict[str, Any] = {"course_types": ("acute",)}  # the one filtered call made of every function


def open_database(path):
    """The benchmark database, read-only; migrated first if this code's schema is newer (the
    code under test may change between the build and a step)."""
    from analytics import db

    try:
        return db.connect(path, read_only=True)
    except db.DatabaseError as problem:
        if "migrat" not in str(problem):
            raise
    db.connect(path).close()
    return db.connect(path, read_only=True)


# ---------------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------------

def importable_visit_log(sessions: int, seed: int):
    """(visit log, milliseconds to generate it, note). The note describes any change made so the
    importer accepts the generator's output (none when it already does)."""
    from analytics import sample

    generate_ms, visit_log = measure.timed(lambda: sample.generate_visit_log(sessions=sessions, seed=seed))
    # Post-session PSFS or dorsiflexion without a post-session pain score cannot be stored. If
    # this importer refuses such rows (rather than dropping the scores), blank them so the
    # benchmark measures an import that succeeds, and say so in the results.
    orphan = visit_log["pain_post"].isna().to_numpy()
    orphan_cells = {column: int((orphan & visit_log[column].notna().to_numpy()).sum())
                    for column in ("psfs_post", "dorsiflexion_post_deg")}
    if not any(orphan_cells.values()) or not _importer_refuses(visit_log[orphan & visit_log["psfs_post"].notna().to_numpy()
                                                                        | orphan & visit_log["dorsiflexion_post_deg"].notna().to_numpy()]):
        return visit_log, generate_ms, ""
    for column in orphan_cells:
        visit_log[column] = visit_log[column].mask(orphan)
    note = ("generate_visit_log wrote post-session scores without pain_post ("
            + ", ".join(f"{count:,} {column}" for column, count in orphan_cells.items())
            + "); the importer refuses them, so the benchmark blanked those cells before importing")
    return visit_log, generate_ms, note


def _importer_refuses(rows) -> bool:
    """Whether the importer refuses the first of these visit-log rows (episode visit 1 or not),
    tried on a throw-away database."""
    import tempfile

    from analytics import db, visit_log

    row = rows.head(1).assign(visit_number=1)
    with tempfile.TemporaryDirectory(prefix="bench_probe_") as folder:
        con = db.connect(Path(folder) / "probe.duckdb")
        try:
            visit_log.import_frames(con, [("probe", row)])
        except visit_log.ImportFailed as failure:
            return any("pain_post" in error for error in failure.errors)
        finally:
            con.close()
    return False


def by_episode_blocks(visit_log, max_rows: int | None) -> list:
    """The visit log in parts of about `max_rows` rows, each holding whole episodes (a block of
    consecutive episode numbers) in the original row order; one part when it is small enough.
    Importing 10 M rows in one call needs more memory than this machine has to spare."""
    import numpy as np
    import pandas as pd

    if not max_rows or len(visit_log) <= max_rows:
        return [visit_log]
    parts = -(-len(visit_log) // max_rows)
    codes, uniques = pd.factorize(visit_log["episode_id"], sort=True)
    block = codes * parts // len(uniques)
    return [visit_log[block == number] for number in range(parts) if np.any(block == number)]


def step_build(args) -> dict[str, Any]:
    from analytics import db, visit_log

    rows, generate_ms, note = importable_visit_log(args.sessions, args.seed)
    path = Path(args.db)
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = db.connect(path)
    import_ms, inserted = 0.0, 0
    parts = by_episode_blocks(rows, args.chunk_rows)
    for number, part in enumerate(parts, start=1):
        ms, result = measure.timed(lambda: visit_log.import_frames(con, [(f"sample(seed={args.seed}) part {number}", part)]))
        import_ms, inserted = import_ms + ms, inserted + result.inserted
    con.execute("CHECKPOINT")
    counts = db.one(con, "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM episodes), "
                         "(SELECT count(*) FROM clients), (SELECT count(*) FROM therapists)")
    con.close()
    files = {}
    if args.files:
        folder = Path(args.files)
        folder.mkdir(parents=True, exist_ok=True)
        csv, parquet = folder / f"visits_{args.label}.csv", folder / f"visits_{args.label}.parquet"
        rows.to_csv(csv, index=False, lineterminator="\n")
        rows.to_parquet(parquet, index=False)
        files = {"csv": str(csv), "parquet": str(parquet)}
    return {
        "rows": len(rows), "generate_ms": generate_ms, "import_frame_ms": import_ms,
        "inserted": inserted, "import_parts": len(parts), "sessions": counts[0], "episodes": counts[1], "clients": counts[2],
        "therapists": counts[3], "db_mb": path.stat().st_size / 1024 / 1024, "files": files, "note": note,
    }


# ---------------------------------------------------------------------------------------------
# metric
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Call:
    """One analytics call as a page makes it: function, extra arguments, and a label."""

    name: str
    function: Callable
    kwargs: dict[str, Any]
    takes_filter: bool = True

    def run(self, con, f=None):
        return self.function(con, **self.kwargs, **({"f": f} if self.takes_filter and f is not None else {}))


PICKER_CHOICES = 200  # ui/client_charts.MAX_CHOICES: how many matches the picker lists


def client_example(con) -> dict[str, Any]:
    """The client the therapist-page calls look at: the chronic episode with the most visits."""
    row = con.execute("""
        SELECT episode_id, course_type, condition, baseline_pain FROM episode_facts
        WHERE course_type = 'chronic' ORDER BY visits DESC, episode_id LIMIT 1""").fetchone()
    return {"episode_id": row[0], "course_type": row[1], "condition": row[2], "baseline": row[3],
            "exclude_episode": row[0]}


def analytics_calls(con) -> list[Call]:
    """Every public metric in analytics.metrics (a function whose first parameter is `con`) with
    the arguments a page would pass, the variants pages make, and the sidebar's filter options."""
    from analytics import metrics, options

    example = client_example(con)
    calls = []
    for function in metrics.public_metrics():
        name = function.__name__
        parameters = inspect.signature(function).parameters
        kwargs = {p: example[p] for p, spec in parameters.items()
                  if p in example and (spec.default is inspect.Parameter.empty or p == "exclude_episode")}
        if name == "client_episodes":
            kwargs["limit"] = PICKER_CHOICES  # the client picker's call (ui/client_charts.py)
        calls.append(Call(name, function, kwargs, takes_filter="f" in parameters))
    # Variants the pages call besides the defaults.
    calls.append(Call("pain_trajectory[by course_type, condition]", metrics.pain_trajectory,
                      {"by": ("course_type", "condition")}))
    # The Therapists page's "Judged on" choice: one therapist_outcome call per measure (the
    # default, the primary outcome, is timed above as therapist_outcome).
    for outcome in metrics.THERAPIST_OUTCOMES:
        if outcome != metrics.PRIMARY_OUTCOME:
            calls.append(Call(f"therapist_outcome[outcome={outcome}]", metrics.therapist_outcome, {"outcome": outcome}))
    calls.append(Call("options.filter_options", options.filter_options, {}, takes_filter=False))
    try:  # the therapist page's one call, when that module exists
        from analytics import client
    except ImportError:
        pass
    else:
        if hasattr(client, "episode_view"):
            calls.append(Call("client.episode_view", client.episode_view, {"episode_id": example["episode_id"]}))
    return calls


def step_metric(args) -> dict[str, Any]:
    from analytics.filters import Filter

    con = open_database(args.db)
    calls = [c for c in analytics_calls(con) if args.name in (None, "all", c.name)]
    rows = []
    for call in calls:
        for label, f in (("default", Filter()), ("course_types=acute", Filter(**FILTERED))):
            if not call.takes_filter and label != "default":
                continue
            row: dict[str, Any] = {"call": call.name, "filter": label}
            try:
                row.update(measure.warm_median(lambda: call.run(con, f), args.repeats))
                if args.profile_over is not None and row["median_ms"] > args.profile_over:
                    profile = measure.profile_call(lambda c: call.run(c, f), con)
                    row["profile"] = measure.profile_text(profile)
            except Exception as problem:  # a broken metric is a result, not the end of the run
                row["error"] = f"{type(problem).__name__}: {problem}"
                row["traceback"] = traceback.format_exc(limit=-3)
            rows.append(row)
    con.close()
    return {"rows": rows}


def list_calls(args) -> dict[str, Any]:

    con = open_database(args.db)
    names = [c.name for c in analytics_calls(con)]
    example = client_example(con)
    con.close()
    return {"calls": names, "example": example}


# ---------------------------------------------------------------------------------------------
# page
# ---------------------------------------------------------------------------------------------

def page_test(page: str, query: str | None = None):
    """An AppTest of the whole app (dashboard.py: sign-in check, navigation, then the page)
    opened on app_pages/<page>.py, signed in as a manager, with the address query `query`
    ("episode=E00012") if given."""
    from urllib.parse import parse_qsl

    from streamlit.testing.v1 import AppTest

    from analytics import auth

    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=900)
    at.session_state["user"] = auth.User("bench", "manager", None)
    for name, value in parse_qsl(query or ""):
        at.query_params[name] = value
    at.switch_page(f"app_pages/{page}.py")
    return at


def page_result(at) -> dict[str, Any]:
    """What a page run showed: exceptions, error boxes, and the points in each Plotly chart."""
    charts = []
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        title = spec.get("layout", {}).get("title", {})
        text = (title.get("text") if isinstance(title, dict) else title) or ""
        charts.append({"key": chart_key(element.proto.id), "title": re.sub(r"\s*\([^()]*\bn = [^()]*\)", "", text),
                       "points": measure.figure_points(spec), "traces": len(spec.get("data", []))})
    return {
        "titles": [str(t.value)[:100] for t in at.title],
        "exceptions": [str(e.value)[:500] for e in at.exception],
        "errors": [str(e.value)[:300] for e in at.error],
        "charts": charts,
        "elements": sum(1 for _ in at.main) if hasattr(at, "main") else None,
    }


def chart_key(element_id: str) -> str:
    """The key a page gave st.plotly_chart ("$$ID-<hash>-courses_km" -> "courses_km")."""
    return element_id.split("-", 2)[-1] if element_id.count("-") >= 2 else element_id


def step_page(args) -> dict[str, Any]:
    os.environ["CLINIC_DB"] = str(args.db)
    path = PAGES_DIR / f"{args.page}.py"
    if not path.exists():
        return {"missing": f"app_pages/{args.page}.py does not exist"}
    at = page_test(args.page, args.query)
    cold_ms, _ = measure.timed(at.run)
    warm = [measure.timed(at.run)[0] for _ in range(args.repeats)]
    result = {"cold_ms": cold_ms, "second_run_ms": warm[0], "median_ms": statistics.median(warm),
              "runs": len(warm), **page_result(at)}
    if args.profile_over is not None and result["median_ms"] > args.profile_over:
        result["profile"] = pyinstrument_text(at.run)
    return result


def pyinstrument_text(call: Callable[[], Any], lines: int = 40) -> str | None:
    """A pyinstrument call tree of one run (None when pyinstrument is not installed)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    profiler = Profiler(interval=0.002)
    profiler.start()
    call()
    profiler.stop()
    return "\n".join(measure.call_tree(profiler.output_text(unicode=True, color=False, show_all=False))[:lines])


# ---------------------------------------------------------------------------------------------
# import
# ---------------------------------------------------------------------------------------------

def step_import(args) -> dict[str, Any]:
    from analytics import db, visit_log

    source = Path(args.file)
    target = Path(args.db)

    def fresh_database():
        for stale in (target, target.with_name(target.name + ".wal")):
            stale.unlink(missing_ok=True)
        return db.connect(target)

    con = fresh_database()
    elapsed_ms, result = measure.timed(lambda: visit_log.import_files(con, [source]))
    con.close()
    outcome = {"file_mb": source.stat().st_size / 1024 / 1024, "ms": elapsed_ms, "inserted": result.inserted,
               "max_import_mb": int(os.environ.get("CLINIC_MAX_IMPORT_MB", "50"))}
    if args.profile_over is not None and elapsed_ms > args.profile_over:
        con = fresh_database()
        outcome["profile"] = pyinstrument_text(lambda: visit_log.import_files(con, [source]), lines=45)
        con.close()
    target.unlink(missing_ok=True)
    return outcome


# ---------------------------------------------------------------------------------------------
# pandas
# ---------------------------------------------------------------------------------------------

def step_pandas(args) -> dict[str, Any]:
    from analytics.filters import Filter
    from benchmarks import pandas_baseline

    con = open_database(args.db)
    read_ms, tables = measure.timed(lambda: pandas_baseline.read_tables(con))
    facts_read_ms, facts = measure.timed(lambda: pandas_baseline.read_session_facts(con))
    problems = []
    if args.check:
        problems = pandas_baseline.check_same(con, tables) + pandas_baseline.check_same(con, facts)
    rows = []
    for name, (ours, theirs) in pandas_baseline.HEADLINE.items():
        for label, f in (("default", Filter()), ("course_types=acute", Filter(**FILTERED))):
            # Interleaved in one process, so all three see the same machine load.
            our_time = measure.warm_median(lambda: ours(con, f), args.repeats)
            their_time = measure.warm_median(lambda: theirs(tables, f), args.repeats)
            from_facts = measure.warm_median(lambda: theirs(facts, f), args.repeats)
            rows.append({"metric": name, "filter": label, "ours_ms": our_time["median_ms"],
                         "ours_cpu_ms": our_time["cpu_ms"], "pandas_ms": their_time["median_ms"],
                         "pandas_cpu_ms": their_time["cpu_ms"], "pandas_facts_ms": from_facts["median_ms"]})
    con.close()
    return {"read_ms": read_ms, "facts_read_ms": facts_read_ms,
            "table_rows": {name: len(getattr(tables, name)) for name in ("sessions", "episodes", "clients", "assessments")},
            "rows": rows, "checked": bool(args.check), "problems": problems}


# ---------------------------------------------------------------------------------------------
# app
# ---------------------------------------------------------------------------------------------

def step_app(args) -> dict[str, Any]:
    """The dashboard process at this size: every page (AppTest, sharing the one cached
    connection as the server does) and then every analytics call with the default filter."""
    from analytics.filters import Filter

    os.environ["CLINIC_DB"] = str(args.db)
    if args.duckdb_memory_limit:
        # What-if for a proposed fix: the app's cached connection with a DuckDB memory limit
        # (DuckDB's default is 80 % of the machine's memory).
        from ui import guard

        guard.open_connection(str(args.db)).execute(f"SET memory_limit = '{args.duckdb_memory_limit}'")
    pages = {}
    for page in PAGES:
        if not (PAGES_DIR / f"{page}.py").exists():
            continue
        at = page_test(page, args.query if page in THERAPIST_PAGES else None)
        cold_ms, _ = measure.timed(at.run)
        warm_ms = measure.timed(at.run)[0] if args.repeats > 0 else None
        shown = page_result(at)
        pages[page] = {"cold_ms": cold_ms, "warm_ms": warm_ms, "exceptions": shown["exceptions"],
                       "charts": shown["charts"], "peak_rss_mb_after": measure.peak_rss_mb()}
    from ui import guard

    con = guard.open_connection(str(args.db))  # the page's cached connection, not a second one
    calls: dict[str, dict[str, Any]] = {}
    for call in analytics_calls(con):
        try:
            ms, _ = measure.timed(lambda: call.run(con, Filter()))
            calls[call.name] = {"ms": ms}
        except Exception as problem:
            calls[call.name] = {"error": f"{type(problem).__name__}: {problem}"}
    return {"pages": pages, "calls": calls}


# ---------------------------------------------------------------------------------------------

STEPS = {"build": step_build, "metric": step_metric, "calls": list_calls, "page": step_page,
         "import": step_import, "pandas": step_pandas, "app": step_app, **chain.STEPS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.steps", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=sorted(STEPS))
    parser.add_argument("--result", required=True, help="where to write the step's JSON result")
    parser.add_argument("--db", help="the clinic database file")
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--seed", type=int, default=20241101)
    parser.add_argument("--label", default="")
    parser.add_argument("--chunk-rows", type=int, default=2_000_000,
                        help="build: import the visit log in parts of about this many rows (whole episodes)")
    parser.add_argument("--files", help="build: folder to write the visit log as CSV and Parquet")
    parser.add_argument("--name", help="metric: one call name (default all)")
    parser.add_argument("--page")
    parser.add_argument("--query", help="page/app: address query for the therapist pages, e.g. episode=E00012")
    parser.add_argument("--file", help="import: the visit-log file")
    parser.add_argument("--repeats", type=int, default=measure.REPEATS)
    parser.add_argument("--profile-over", type=float, help="profile a call slower than this many ms")
    parser.add_argument("--duckdb-memory-limit", help="app: SET memory_limit on the app's connection (what-if)")
    parser.add_argument("--check", action="store_true", help="pandas: also check ours == pandas")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        result = STEPS[args.step](args)
    except Exception as problem:
        result = {"error": f"{type(problem).__name__}: {problem}"[:4000], "traceback": traceback.format_exc()[-4000:]}
    result["step_wall_ms"] = (time.perf_counter() - started) * 1000
    result["peak_rss_mb"] = measure.peak_rss_mb()
    Path(args.result).write_text(json.dumps(result, default=str, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
