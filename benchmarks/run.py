"""Performance at clinic-chain scale: the whole benchmark in one command.

    .venv/bin/python -m benchmarks.run [--sizes 100k,1m] [--with-10m] [--out benchmarks/RESULTS.md]

For each size it generates a sample clinic with analytics.sample.generate_visit_log, imports it
into benchmarks/out/clinic_<size>.duckdb with the validating importer, and then times, each step
in a fresh Python process so that its peak memory is its own:

  metrics  every public function in analytics/metrics.py (and the sidebar's filter options),
           default filter and course_types=("acute",), one warm-up then the median of 5 runs
  pages    every manager page and the client progress page in-process with AppTest, cold and
           warm, counting the points in every Plotly chart (sizes up to 1 M)
  import   a visit-log CSV and a Parquet file into an empty database (sizes up to 1 M)
  pandas   the headline metrics written in plain pandas against ours, and a check that both give
           the same numbers (the run fails, exit status 1, when they do not)
  app      one process that opens the database and runs every page and every metric: the
           dashboard's peak memory
  writes, browser, load
           writes at 20 k against 1 M sessions and the importer against DuckDB's read_csv, page
           times in headless Chromium, 20 concurrent browser sessions (benchmarks/chain.py)

and writes the tables, the targets met or missed, and a profile of every miss to --out.
Intermediate files (databases, visit logs, per-step JSON and logs) go to benchmarks/out/, which
git ignores. `--steps` and `--reuse-db` help while developing: reuse the databases of an earlier
run and time only some steps.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import chain, measure, report
from benchmarks.steps import PAGES, ROOT, THERAPIST_PAGES

OUT = ROOT / "benchmarks" / "out"
DEFAULT_RESULTS = ROOT / "benchmarks" / "RESULTS.md"
DEFAULT_SIZES = "100k,1m"
ALL_STEPS = ("build", "pandas", "metrics", "pages", "import", "app", "writes", "browser", "load")
# Pages, file imports and the pandas baseline are timed up to this size. Above it (10 M) only
# the build and the app process run, unless --full-10m: timing every function warm 6 times at
# 10 M sessions takes well over an hour on two cores, and the 10 M target is about memory.
PAGES_AND_IMPORT_UP_TO = 1_000_000
STEP_TIMEOUT_S = 45 * 60
# The 1 M-row CSV is about 126 MB; the importer refuses files over CLINIC_MAX_IMPORT_MB (50 by
# default), so the import step raises it. RESULTS.md says so.
IMPORT_LIMIT_MB = 4096


def parse_size(text: str) -> int:
    """'100k' -> 100000, '1m' -> 1000000, '2500' -> 2500."""
    text = text.strip().lower().replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if factor > 1 else text
    try:
        value = int(float(number) * factor)
    except ValueError:
        raise SystemExit(f"--sizes: {text!r} is not a size; write e.g. 100k, 1m or 250000") from None
    if value < 100:
        raise SystemExit(f"--sizes: {text!r} is too small; use at least 100 sessions")
    return value


def label(sessions: int) -> str:
    if sessions % 1_000_000 == 0:
        return f"{sessions // 1_000_000}m"
    if sessions % 1_000 == 0:
        return f"{sessions // 1_000}k"
    return str(sessions)


class Runner:
    """Starts steps in fresh processes and collects their results and peak memory."""

    def __init__(self, repeats: int, verbose: bool = True):
        self.repeats = repeats
        self.verbose = verbose
        self.failures: list[str] = []
        (OUT / "steps").mkdir(parents=True, exist_ok=True)
        (OUT / "logs").mkdir(parents=True, exist_ok=True)

    def say(self, text: str) -> None:
        if self.verbose:
            print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    def step(self, step: str, result_name: str, env: dict[str, str] | None = None, **options: Any) -> dict[str, Any]:
        """Run `python -m benchmarks.steps STEP` with the options; its JSON result plus
        peak_rss_mb measured from outside (the child's ru_maxrss via wait4)."""
        name = result_name
        result_path = OUT / "steps" / f"{name}.json"
        result_path.unlink(missing_ok=True)
        command = [sys.executable, "-m", "benchmarks.steps", step, "--result", str(result_path)]
        for option, value in options.items():
            if value is None or value is False:
                continue
            command.append("--" + option.replace("_", "-"))
            if value is not True:
                command.append(str(value))
        with open(OUT / "logs" / f"{name}.log", "w") as log:
            process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            started, usage, status = time.monotonic(), None, None
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    process.returncode = os.waitstatus_to_exitcode(status)
                    break
                if time.monotonic() - started > STEP_TIMEOUT_S:
                    os.killpg(process.pid, signal.SIGKILL)
                    _, status, usage = os.wait4(process.pid, 0)
                    process.returncode = None
                    break
                time.sleep(0.05)
        wall_ms = (time.monotonic() - started) * 1000
        if result_path.exists():
            result = json.loads(result_path.read_text())
        elif process.returncode is None:
            result = {"error": f"timed out after {STEP_TIMEOUT_S} s"}
        else:
            tail = (OUT / "logs" / f"{name}.log").read_text(errors="replace")[-1500:]
            result = {"error": f"exit status {process.returncode} without a result (killed for memory?)\n{tail}"}
        result["peak_rss_mb"] = usage.ru_maxrss / 1024 if usage else result.get("peak_rss_mb")
        result["process_wall_ms"] = wall_ms
        if "error" in result:
            self.failures.append(f"{name}: {result['error'].splitlines()[0]}")
            self.say(f"  !! {name}: {result['error'].splitlines()[0]} (log: benchmarks/out/logs/{name}.log)")
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="sessions per sample clinic (default 100k,1m)")
    parser.add_argument("--with-10m", action="store_true", help="also 10 million sessions (several minutes)")
    parser.add_argument("--full-10m", action="store_true",
                        help="at 10 M also time every function, page, import and the pandas baseline (hours)")
    parser.add_argument("--what-if-memory-limit", metavar="LIMIT",
                        help="also run the app step with DuckDB's memory_limit set to LIMIT (e.g. 1GB): evidence "
                             "for a proposed fix, reported next to the real figure")
    parser.add_argument("--out", default=str(DEFAULT_RESULTS), help="the results file (default benchmarks/RESULTS.md)")
    parser.add_argument("--seed", type=int, default=20241101)
    parser.add_argument("--repeats", type=int, default=measure.REPEATS, help="timed runs after the warm-up")
    parser.add_argument("--steps", default=",".join(ALL_STEPS), help=f"subset of {','.join(ALL_STEPS)}")
    parser.add_argument("--reuse-db", nargs="?", const="all", default="",
                        help="keep the databases built earlier for the same size and seed, all or only the "
                             "listed sizes (e.g. --reuse-db 10m); build times then come from that earlier run")
    args = parser.parse_args(argv)
    sizes = sorted({parse_size(s) for s in args.sizes.split(",") if s.strip()} | ({10_000_000} if args.with_10m else set()))
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = set(steps) - set(ALL_STEPS)
    if unknown:
        raise SystemExit(f"--steps: unknown {', '.join(sorted(unknown))}; choose from {', '.join(ALL_STEPS)}")

    started = time.monotonic()
    runner = Runner(args.repeats)
    results: dict[str, Any] = {
        "command": " ".join([".venv/bin/python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])]),
        "machine": measure.machine(), "sizes": [label(s) for s in sizes], "sessions": {label(s): s for s in sizes},
        "repeats": args.repeats, "steps": steps,
        "build": {}, "metrics": {}, "pages": {}, "imports": {}, "pandas": {}, "app": {}, "app_what_if": {},
        "pyinstrument": _has_pyinstrument(),
    }
    for sessions in sizes:
        size = label(sessions)
        database = OUT / f"clinic_{size}.duckdb"
        runner.say(f"== {size} sessions ==")
        results["build"][size] = build(runner, sessions, size, database, args, "build" in steps)
        if "error" in results["build"][size] or not database.exists():
            continue
        profile_over = report.TARGETS["metric_ms"].limit if sessions == report.TARGETS["metric_ms"].sessions else None
        is_small = sessions <= PAGES_AND_IMPORT_UP_TO or args.full_10m
        if "pandas" in steps and is_small:
            runner.say(f"pandas baseline and correctness check at {size}")
            outcome = runner.step("pandas", f"pandas_{size}", db=database, repeats=args.repeats, check=True)
            results["pandas"][size] = outcome
            if outcome.get("problems"):
                runner.failures.append(f"pandas_{size}: our metrics differ from the pandas baseline")
                print(f"\nFAILED: at {size} sessions our headline metrics differ from the pandas baseline:\n  "
                      + "\n  ".join(outcome["problems"][:40]) + "\n", file=sys.stderr, flush=True)
        listed = runner.step("calls", f"calls_{size}", db=database)
        client_query = f"episode={listed['example']['episode_id']}" if listed.get("example") else None
        if "metrics" in steps and is_small:
            calls = listed.get("calls", [])
            rows = []
            for call in calls:
                outcome = runner.step("metric", f"metric_{size}_{_slug(call)}", db=database, name=call,
                                      repeats=args.repeats, profile_over=profile_over)
                for row in outcome.get("rows", []) or [{"call": call, "filter": "default", "error": outcome.get("error")}]:
                    row["peak_rss_mb"] = outcome.get("peak_rss_mb")
                    rows.append(row)
                    runner.say(f"  {size} {row['call']} [{row['filter']}]: "
                               + (f"{row['median_ms']:.0f} ms" if "median_ms" in row else f"ERROR {row.get('error')}"))
            results["metrics"][size] = rows
        if "pages" in steps and is_small:
            page_profile = report.TARGETS["page_ms"].limit if sessions == report.TARGETS["page_ms"].sessions else None
            results["pages"][size] = {}
            for page, shown, query in page_runs(client_query):
                outcome = runner.step("page", f"page_{size}_{_slug(shown)}", db=database, page=page, query=query,
                                      repeats=3, profile_over=page_profile)
                results["pages"][size][shown] = outcome
                if outcome.get("exceptions"):
                    runner.failures.append(f"page_{size}_{_slug(shown)}: the page raised {outcome['exceptions'][0][:200]}")
                runner.say(f"  {size} page {shown}: " + (f"cold {outcome['cold_ms']:.0f} ms, warm {outcome['median_ms']:.0f} ms"
                                                         if "median_ms" in outcome else outcome.get("missing") or "error"))
        if "import" in steps and is_small:
            files = results["build"][size].get("files") or {}
            import_profile = (report.TARGETS["csv_import_ms"].limit
                              if sessions == report.TARGETS["csv_import_ms"].sessions else None)
            results["imports"][size] = {}
            for kind in ("csv", "parquet"):
                if not files.get(kind) or not Path(files[kind]).exists():
                    continue
                outcome = runner.step("import", f"import_{size}_{kind}", env={"CLINIC_MAX_IMPORT_MB": str(IMPORT_LIMIT_MB)},
                                      db=OUT / f"import_{size}_{kind}.duckdb", file=files[kind],
                                      profile_over=import_profile)
                results["imports"][size][kind] = outcome
                runner.say(f"  {size} import {kind}: " + (f"{outcome['ms'] / 1000:.1f} s" if "ms" in outcome else "error"))
        if "app" in steps:
            # At 10 M one run per page is enough for the memory figure (and takes minutes already).
            outcome = runner.step("app", f"app_{size}", db=database, query=client_query, repeats=1 if is_small else 0)
            results["app"][size] = outcome
            for page, shown in (outcome.get("pages") or {}).items():
                if shown.get("exceptions"):
                    runner.failures.append(f"app_{size} {page}: the page raised {shown['exceptions'][0][:200]}")
            runner.say(f"  {size} app process: peak {outcome.get('peak_rss_mb') or 0:.0f} MB")
            if args.what_if_memory_limit:
                outcome = runner.step("app", f"app_{size}_memory_limit", db=database, query=client_query,
                                      repeats=1 if is_small else 0, duckdb_memory_limit=args.what_if_memory_limit)
                outcome["memory_limit"] = args.what_if_memory_limit
                results["app_what_if"][size] = outcome
                runner.say(f"  {size} app process with DuckDB memory_limit {args.what_if_memory_limit}: "
                           f"peak {outcome.get('peak_rss_mb') or 0:.0f} MB")
    if {"writes", "browser", "load"} & set(steps):
        runner.say("== at the screen, at chain scale: writes at 20k and 1m, browser pages, load test ==")
        chain.measure_all(runner, results, steps, args.seed)
    results["wall_s"] = time.monotonic() - started
    results["failures"] = runner.failures
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    (OUT / "results.json").write_text(json.dumps(results, indent=1, default=str))
    out = Path(args.out)
    out.write_text(report.render(results) + chain.render(results))
    runner.say(f"wrote {out} (and benchmarks/out/results.json); wall clock {results['wall_s']:.0f} s")
    if runner.failures:
        print("\nFAILED steps or checks:\n  " + "\n  ".join(runner.failures), file=sys.stderr)
        return 1
    return 0


def page_runs(client_query: str | None) -> list[tuple[str, str, str | None]]:
    """(page file, name in the results, address query): every page as it first opens, and the
    client progress page also with a client chosen (the chronic episode with the most visits)."""
    runs: list[tuple[str, str, str | None]] = []
    for page in PAGES:
        if page in THERAPIST_PAGES:
            runs.append((page, f"{page} (no client chosen)", None))
            if client_query:
                runs.append((page, f"{page} ({client_query})", client_query))
        else:
            runs.append((page, page, None))
    return runs


def build(runner: Runner, sessions: int, size: str, database: Path, args, build_step: bool) -> dict[str, Any]:
    """Build (or, with --reuse-db, reuse) the database of one size."""
    sidecar = database.with_suffix(".json")
    reuse = args.reuse_db == "all" or sessions in {parse_size(s) for s in args.reuse_db.split(",") if s.strip() and s != "all"}
    if (reuse or not build_step) and database.exists() and sidecar.exists():
        earlier = json.loads(sidecar.read_text())
        if earlier.get("sessions_requested") == sessions and earlier.get("seed") == args.seed:
            runner.say(f"reusing {database.name} (built earlier)")
            return {**earlier, "reused": True}
    if not build_step:
        return {"error": f"{database} does not exist; run with the build step"}
    runner.say(f"generating and importing {sessions:,} sessions")
    files = OUT if sessions <= PAGES_AND_IMPORT_UP_TO else None
    outcome = runner.step("build", f"build_{size}", sessions=sessions, seed=args.seed, label=size, db=database,
                          files=files)
    outcome.update(sessions_requested=sessions, seed=args.seed, built_at=time.strftime("%Y-%m-%d %H:%M"))
    if "error" not in outcome:
        sidecar.write_text(json.dumps(outcome, indent=1, default=str))
        runner.say(f"  generated in {outcome['generate_ms'] / 1000:.1f} s, imported in {outcome['import_frame_ms'] / 1000:.1f} s"
                   f" ({outcome['sessions']:,} sessions, {outcome['episodes']:,} episodes)")
    return outcome


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_")


def _has_pyinstrument() -> bool:
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
