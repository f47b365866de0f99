"""The clinic chain (issue 17) at size: PostgreSQL as the system of record, DuckDB replicas.

  .venv/bin/python -m benchmarks.replicas                        # 1 M sessions, about 10 min on 2 busy cores
  .venv/bin/python -m benchmarks.replicas --sessions 100000 --out /tmp/chain.md   # a quick look

It builds a DuckDB-only clinic of that size (the sample generator through the importer), starts a
throw-away PostgreSQL (tests/pg.py: Debian's initdb and postgres on a loopback port), and measures:
the clinic joining the empty chain (its file seeds PostgreSQL), a new replica's first copy, the
write latency of recording a session on a replica (the chain's lock, the pull, the local write,
the push, both commits), how soon a second replica in another process shows each write (it
watches its data version; its follower polls PostgreSQL every CLINIC_CHAIN_POLL_SECONDS), a
5-row command-line import through the chain, and the metric times on a replica against the
DuckDB-only file. The section it writes is appended to RESULTS.md with --append.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

WRITES = 10
METRIC_REPEATS = 5
# The second replica, in a process of its own: prints the time whenever its data version moves.
WATCHER = """
import json, sys, time
from analytics import db
con = db.connect(sys.argv[1])
seen = db.data_version(con)
print(json.dumps({"ready": time.time()}), flush=True)
while True:
    version = db.data_version(con)
    if version != seen:
        seen = version
        print(json.dumps({"version": version, "at": time.time()}), flush=True)
    time.sleep(0.005)
"""


def timed(call) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000, result


def median_ms(call, repeats: int = METRIC_REPEATS) -> float:
    call()  # warm
    return statistics.median(timed(call)[0] for _ in range(repeats))


def _writes_seen(replica, watcher, records) -> dict[str, Any]:
    """Record WRITES sessions on `replica`; how long each took and when the watcher saw it."""
    json.loads(watcher.stdout.readline())  # its first copy is made
    episodes = [row[0] for row in replica.execute(
        "SELECT episode_id FROM episode_facts ORDER BY last_date DESC, episode_id LIMIT ?", [WRITES]).fetchall()]
    writes, lags = [], []
    for episode in episodes:
        last = replica.execute("SELECT max(session_date) FROM sessions WHERE episode_id = ?", [episode]).fetchall()[0][0]
        entry = records.SessionEntry(last, 5, 3)  # the same day as its last visit: always allowed
        write_ms, _ = timed(lambda: records.record_session(replica, episode, entry, by="benchmark"))
        committed = time.time()
        seen = json.loads(watcher.stdout.readline())
        writes.append(write_ms)
        lags.append((seen["at"] - committed) * 1000)
    return {"write_ms": writes, "seen_after_ms": lags}


def measure(sessions: int, work: Path) -> dict[str, Any]:
    import pg
    from analytics import bootstrap, chain, db, metrics, records
    from analytics.filters import Filter

    result: dict[str, Any] = {"sessions_asked": sessions}
    alone_path = work / "alone.duckdb"
    os.environ.pop("CLINIC_DATABASE_URL", None)
    con = db.connect(alone_path)
    result["build_ms"], _ = timed(lambda: bootstrap.build_sample_database(con, sessions=sessions))
    con.execute("CHECKPOINT")
    result["sessions"] = db.one(con, "SELECT count(*) FROM sessions")[0]
    result["episodes"] = db.one(con, "SELECT count(*) FROM episodes")[0]
    con.close()

    bin_dir = pg.binaries()
    if bin_dir is None:
        raise SystemExit(pg.REASON_ABSENT)
    cluster = pg.Cluster(bin_dir).start()
    try:
        url = cluster.new_database()
        os.environ["CLINIC_DATABASE_URL"] = url
        seed_path = work / "seed.duckdb"
        shutil.copy(alone_path, seed_path)
        result["seed_ms"], seeded = timed(lambda: db.connect(seed_path))
        seeded.close()
        chain.forget_all()
        result["first_copy_ms"], replica = timed(lambda: db.connect(work / "replica_a.duckdb"))
        chain.forget(replica)  # this process writes; the watcher process follows

        watcher = subprocess.Popen([sys.executable, "-c", WATCHER, str(work / "replica_b.duckdb")], cwd=ROOT,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
        assert watcher.stdout is not None
        try:
            result.update(_writes_seen(replica, watcher, records))
        finally:
            watcher.kill()

        log = work / "five.csv"
        import pandas as pd
        pd.DataFrame([{"client_id": f"CB{n}", "episode_id": f"EB{n}", "condition": "plantar_fasciitis",
                       "course_type": "acute", "visit_number": 1, "session_date": "2026-01-05", "therapist_id":
                       replica.execute("SELECT min(therapist_id) FROM therapists").fetchall()[0][0],
                       "pain_pre": 6, "pain_post": 4} for n in range(5)]).to_csv(log, index=False)
        start = time.perf_counter()
        cli = subprocess.run([sys.executable, "-m", "analytics", "import", str(log)], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        result["cli_import5_ms"] = (time.perf_counter() - start) * 1000
        result["cli_import5_output"] = (cli.stdout or cli.stderr).strip()

        os.environ.pop("CLINIC_DATABASE_URL")
        alone = db.connect(alone_path, read_only=True)
        result["metrics"] = {}
        for name in ("headline", "kpis", "therapist_summary", "course_outcomes", "data_quality"):
            function = getattr(metrics, name)
            result["metrics"][name] = {"replica_ms": median_ms(lambda: function(replica, Filter())),
                                       "duckdb_only_ms": median_ms(lambda: function(alone, Filter()))}
        alone.close()
        replica.close()
        chain.forget_all()
    finally:
        cluster.stop()
    return result


def render(result: dict[str, Any]) -> str:
    writes, lags = result["write_ms"], result["seen_after_ms"]
    lines = [
        "## 9. The clinic chain: PostgreSQL and DuckDB replicas (issue 17)",
        "",
        f"> `python -m benchmarks.replicas --sessions {result['sessions_asked']}` on this machine (2 cores shared with "
        "other work while it ran, so absolute times are rough); PostgreSQL 15 on the same machine, loopback, "
        "`fsync=off` (a throw-away cluster); the second replica in a process of its own.",
        "",
        f"Clinic: {result['sessions']:,} sessions in {result['episodes']:,} courses "
        f"(built in {result['build_ms'] / 1000:.0f} s, DuckDB only).",
        "",
        "| what | time |",
        "|---|---|",
        f"| the clinic joins an empty chain (its file seeds PostgreSQL) | {result['seed_ms'] / 1000:.1f} s |",
        f"| a new replica's first copy (every table from PostgreSQL, facts rebuilt) | {result['first_copy_ms'] / 1000:.1f} s |",
        f"| record a session on a replica (lock, pull, write, push, commits), median of {len(writes)} | "
        f"{statistics.median(writes):.0f} ms (max {max(writes):.0f}) |",
        f"| until the second replica shows it, after the write returned, median of {len(lags)} | "
        f"{statistics.median(lags):.0f} ms (max {max(lags):.0f}) |",
        f"| `python -m analytics import` of 5 rows through the chain (process start, its own replica's first copy, "
        f"the import) | {result['cli_import5_ms'] / 1000:.1f} s |",
        "",
        "| metric (warm median) | replica | DuckDB only |",
        "|---|---|---|",
    ]
    for name, times in result["metrics"].items():
        lines.append(f"| {name} | {times['replica_ms']:.0f} ms | {times['duckdb_only_ms']:.0f} ms |")
    lines += ["", f"The command-line import said: `{result['cli_import5_output']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replicas", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--out", help="write the section here (default: print it)")
    parser.add_argument("--append", action="store_true", help="append the section to benchmarks/RESULTS.md")
    parser.add_argument("--json", help="keep the raw figures here")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="clinic-chain-bench-"))
    os.environ.setdefault("CLINIC_MAX_IMPORT_MB", "4096")
    try:
        result = measure(args.sessions, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    section = render(result)
    if args.out:
        Path(args.out).write_text(section + "\n")
    if args.append:
        with (ROOT / "benchmarks" / "RESULTS.md").open("a") as results:
            results.write("\n" + section + "\n")
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
