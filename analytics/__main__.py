"""The command line: `python -m analytics sample|import|import-checkins|summary|check|users|backup|restore` —
thin, calls what the pages call. While a dashboard holds the database, it asks that dashboard (analytics/ops.py)."""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from analytics import config, db

# A command the running dashboard answers for the command line (analytics/ops.py) runs here on
# the dashboard's connection and writes to the socket's answer instead of this process's output.
_served = threading.local()


def _out():
    return getattr(_served, "out", None) or sys.stdout


def _err():
    return getattr(_served, "err", None) or sys.stderr


def _path(args) -> Path:
    return getattr(_served, "database", None) or config.database_path(getattr(args, "db", None))


@contextlib.contextmanager
def _database(args, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """The database a command reads: its own connection, or the dashboard's when served."""
    served = getattr(_served, "con", None)
    if served is not None:
        yield served
        return
    con = db.connect(_path(args), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def run_served(argv: list[str], con: duckdb.DuckDBPyConnection, database: Path, out, err) -> int:
    """Run a command line on the dashboard's open connection (analytics.ops answers the socket
    with it), its output written to `out` and `err`."""
    _served.con, _served.database, _served.out, _served.err = con, Path(database), out, err
    try:
        args = parser().parse_args(argv)
        return _run(args)
    except SystemExit as stop:  # argparse refused the line
        return int(stop.code or 0)
    finally:
        _served.con = _served.database = _served.out = _served.err = None


def json_ready(value):
    """JSON-friendly numbers: NaN becomes null, numpy scalars become Python ones."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def cmd_sample(args) -> int:
    from analytics import bootstrap

    path = config.database_path(args.db)
    if path.exists() and not args.force:
        print(f"{path}: already exists; remove it or pass --force to add the sample to it.", file=sys.stderr)
        return 2
    con = db.connect(path)
    try:
        result = bootstrap.build_sample_database(con, sessions=args.sessions, seed=args.seed)
    finally:
        con.close()
    print(f"{path}: sample clinic with {result.inserted} sessions in {result.episodes} episodes.")
    return 0


def _import_refused(args, failure) -> int:
    """A refused import: every problem and exit 1; on a damaged database the one message and
    exit 2, as every other command gives (fixing the file would not help)."""
    from analytics import visit_log

    if any(problem.code == "damaged" for problem in failure.problems):
        print(f"{_path(args)}: {db.DAMAGED}", file=sys.stderr)
        return 2
    print(visit_log.format_problems(failure.problems), file=sys.stderr)
    print(f"Nothing was imported: {len(failure.problems)} problem(s) found. Fix them and import again.", file=sys.stderr)
    return 1


def cmd_import(args) -> int:
    from analytics import visit_log

    con = db.connect(config.database_path(args.db))
    try:
        result = visit_log.import_files(con, [Path(p) for p in args.files], replace=args.replace, sheet=args.sheet)
    except visit_log.ImportFailed as failure:
        return _import_refused(args, failure)
    finally:
        con.close()
    print(f"inserted {result.inserted}, skipped {result.skipped} unchanged, replaced {result.replaced} "
          f"({result.episodes} episodes)")
    for notice in result.notices:
        print(f"check: {notice}", file=sys.stderr)
    return 0


def cmd_import_checkins(args) -> int:
    from analytics import checkin_import, visit_log

    con = db.connect(config.database_path(args.db))
    try:
        result = checkin_import.import_files(con, [Path(p) for p in args.files], sheet=args.sheet)
    except visit_log.ImportFailed as failure:
        return _import_refused(args, failure)
    finally:
        con.close()
    print(f"inserted {result.inserted} check-ins, skipped {result.skipped} already stored ({result.episodes} courses)")
    return 0


def cmd_summary(args) -> int:
    from analytics import metrics
    from analytics.filters import Filter

    if args.rule is not None and args.rule not in config.PAIN_RULES:
        print(f"--rule {args.rule}: no such rule; the rules are {', '.join(metrics.rule.pain_rule_names())}.",
              file=_err())
        return 2
    with _database(args, read_only=True) as con:
        figures = json_ready(metrics.headline(con, Filter(rule=args.rule)))
        # therapists.<therapist_id>: judged on the clinic's promise (metrics.therapist_outcome).
        figures["therapists"] = json_ready(metrics.therapist_summary(con, Filter(rule=args.rule)))
    if args.json:
        print(json.dumps(figures, indent=2, sort_keys=False), file=_out())
        return 0
    print(f"episodes {figures['episodes']}, sessions {figures['sessions']}, clients {figures['clients']}", file=_out())
    chosen = metrics.rule.pain(args.rule)
    print(f"improved = pain at least {chosen.words()} below the first visit (rule {figures['rule']['name']})", file=_out())
    for course, row in figures["by_course"].items():
        rate, itt = row["responder_rate_after_session2"], row["responder_rate_after_session2_itt"]
        rate_text = "n/a" if rate is None else f"{rate:.0%}"
        itt_text = "n/a" if itt is None else f"{itt:.0%}"
        print(f"{course:8} episodes {row['episodes']:>6}  median visits {row['median_visits']}  "
              f"mean baseline {row['mean_baseline_pain'] if row['mean_baseline_pain'] is None else round(row['mean_baseline_pain'], 1)}  "
              f"improved after session 2: {rate_text} of {row['episodes_reaching_visit3']} reaching visit 3, "
              f"{itt_text} of {row['episodes_eligible_itt']} who started", file=_out())
    return 0


def cmd_check(args) -> int:
    path = _path(args)
    with _database(args, read_only=True) as con:
        cursor = con.cursor()
        try:
            problems = db.check(cursor)
            sessions = db.one(cursor, "SELECT count(*) FROM sessions")[0] if not problems else None
        finally:
            cursor.close()
    if not problems and getattr(_served, "con", None) is None and not Path(f"{path}.wal").exists():
        # The indexes of keys of several columns are read only to check a new row, which a
        # read-only connection cannot try: once more, writable, with every such insert rolled
        # back (db.check_indexes). Opened plainly (no migration, no key added) and only without
        # a write-ahead log, so closing it has nothing to write to the file.
        writable = duckdb.connect(str(path))
        try:
            problems = db.check_indexes(writable)
        finally:
            writable.close()
    if problems:
        for problem in problems:
            print(f"{path}: {problem}", file=_err())
        print(f"{path}: {db.DAMAGED}", file=_err())
        return 1
    print(f"{path}: sound: every table read completely ({sessions} sessions); the fact tables agree with the base tables.",
          file=_out())
    return 0


def cmd_users(args) -> int:
    import getpass

    from analytics import auth

    if args.action == "list":
        with _database(args) as con:
            accounts = auth.list_users(con)
        if accounts.empty:
            print("No accounts yet. Create the first manager with: python -m analytics users add NAME --role manager",
                  file=_out())
        for row in accounts.itertuples():
            state = "disabled" if row.is_disabled else ("locked" if row.is_locked else "active")
            print(f"{row.username:20} {row.role:10} {row.therapist_id or '':10} {state}", file=_out())
        return 0
    con = db.connect(config.database_path(args.db))
    try:
        if not args.username:
            print("users add|disable|enable|passwd need a user name.", file=sys.stderr)
            return 2
        if args.action in ("add", "passwd"):
            # The password comes from an environment variable (for scripts) or a hidden prompt,
            # never from the command line, where it would land in shell history and `ps`.
            password = os.environ.get("CLINIC_PASSWORD") or getpass.getpass("Password: ")
            if args.action == "add":
                auth.add_user(con, args.username, password, args.role, args.therapist_id, by="cli")
            else:
                auth.set_password(con, args.username, password, by="cli")
        else:
            auth.set_disabled(con, args.username, disabled=(args.action == "disable"), by="cli")
    except auth.AccountError as problem:
        print(str(problem), file=sys.stderr)
        return 2
    finally:
        con.close()
    print(f"{args.action}: {args.username} done.")
    return 0


def cmd_backup(args) -> int:
    from analytics import ops

    if args.keep is not None and args.keep < 1:
        print("--keep must be at least 1.", file=_err())
        return 2
    with _database(args) as con:
        made = ops.make_backup(con, Path(args.to), keep=args.keep, by="command line")
    print(f"backup {made}: checked, sound.", file=_out())
    return 0


def cmd_restore(args) -> int:
    from analytics import ops

    target = config.database_path(args.db)
    ops.restore(Path(args.source), target, force=args.force)
    print(f"{target}: restored from {args.source} and checked.")
    return 0


def _through_dashboard(args, locked: db.DatabaseLocked) -> int:
    """The database is held by another process: ask the running dashboard (its socket) to run
    the command, or, for `import`, hand the files to its inbox and wait for each result."""
    from analytics import ops

    path = config.database_path(getattr(args, "db", None))
    sock = config.socket_path(path)
    served = {"summary", "check", "backup"} | ({"users"} if getattr(args, "action", None) == "list" else set())
    if args.command == "import":
        if args.replace or args.sheet:
            print(f"{locked}\n--replace and --sheet need the database itself: stop the dashboard, or import "
                  "without them (the dashboard's inbox imports each file as it is).", file=sys.stderr)
            return 2
        pong = ops.ask({"command": "ping"}, sock, timeout=10)
        if pong is None or pong.get("exit"):
            print(f"{locked} (No dashboard answers at {sock}.)" if pong is None else pong.get("stderr", ""),
                  file=sys.stderr, end="\n" if pong is None else "")
            return 2
        inbox = Path(pong.get("inbox") or config.inbox_path(path))  # the dashboard's, whatever this shell's CLINIC_INBOX
        worst = 0
        for file in (Path(name) for name in args.files):
            if not file.is_file():
                print(f"{file}: no such file.", file=sys.stderr)
                return 1
            since = time.time()
            name = ops.hand_to_inbox(file, inbox)
            print(f"{file}: handed to the running dashboard's inbox ({inbox}); waiting for the import.", file=sys.stderr)
            answer = ops.ask({"command": "inbox-wait", "name": name, "since": since, "timeout": 600}, sock, timeout=660)
            if answer is None:
                print(f"{file}: the dashboard stopped answering; the result will be in {inbox}/done or {inbox}/refused.",
                      file=sys.stderr)
                return 2
            sys.stdout.write(answer.get("stdout", ""))
            sys.stderr.write(answer.get("stderr", ""))
            worst = max(worst, int(answer.get("exit", 2)))
        return worst
    if args.command not in served:
        print(str(locked), file=sys.stderr)
        return 2
    argv = {"summary": ["summary"] + (["--json"] if getattr(args, "json", False) else [])
            + (["--rule", args.rule] if getattr(args, "rule", None) else []),
            "check": ["check"], "users": ["users", "list"],
            "backup": ["backup", "--to", str(Path(getattr(args, "to", ".")).resolve())]
            + ([f"--keep={args.keep}"] if getattr(args, "keep", None) is not None else [])}[args.command]
    answer = ops.ask({"command": "run", "argv": argv}, sock)
    if answer is None:
        print(f"{locked} (No dashboard answers at {sock}.)", file=sys.stderr)
        return 2
    sys.stdout.write(answer.get("stdout", ""))
    sys.stderr.write(answer.get("stderr", ""))
    return int(answer.get("exit", 2))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m analytics",
        description="Foot-pain clinic outcomes: build, import and summarise the clinic database. "
        f"The database defaults to $CLINIC_DB or {config.DEFAULT_DB_PATH.relative_to(config.REPO_ROOT)}.",
    )
    commands = top.add_subparsers(dest="command", required=True)

    sample_cmd = commands.add_parser("sample", help="build a sample clinic database")
    sample_cmd.add_argument("--db", help="database file to create")
    sample_cmd.add_argument("--sessions", type=int, default=4000, help="about how many sessions (default 4000)")
    sample_cmd.add_argument("--seed", type=int, default=20241101, help="random seed (default 20241101)")
    sample_cmd.add_argument("--force", action="store_true", help="add to an existing database")
    sample_cmd.set_defaults(run=cmd_sample)

    import_cmd = commands.add_parser("import", help="import visit logs (CSV, .xlsx, .parquet), all or nothing")
    import_cmd.add_argument("files", nargs="+", help="visit-log files")
    import_cmd.add_argument("--db", help="database file")
    import_cmd.add_argument("--replace", action="store_true", help="overwrite stored sessions whose values differ")
    import_cmd.add_argument("--sheet", help="the sheet to read in each Excel workbook (default: the sheet named "
                            "'visits', else the only sheet with rows)")
    import_cmd.set_defaults(run=cmd_import)

    checkins_cmd = commands.add_parser("import-checkins", help="import client check-ins from another survey tool "
                                       "(CSV, .xlsx, .parquet; README), all or nothing")
    checkins_cmd.add_argument("files", nargs="+", help="check-in files")
    checkins_cmd.add_argument("--db", help="database file")
    checkins_cmd.add_argument("--sheet", help="the sheet to read in each Excel workbook")
    checkins_cmd.set_defaults(run=cmd_import_checkins)

    summary_cmd = commands.add_parser("summary", help="headline figures")
    summary_cmd.add_argument("--db", help="database file")
    summary_cmd.add_argument("--json", action="store_true", help="print one JSON object")
    summary_cmd.add_argument("--rule", metavar="NAME",
                             help=f"the improvement rule: {', '.join(config.PAIN_RULES)} (default {config.DEFAULT_PAIN_RULE})")
    summary_cmd.set_defaults(run=cmd_summary)
    check_cmd = commands.add_parser("check", help="read the whole database and check the fact tables; exit 1 if damaged")
    check_cmd.add_argument("--db", help="database file")
    check_cmd.set_defaults(run=cmd_check)

    users_cmd = commands.add_parser("users", help="manage sign-in accounts (add, list, disable, enable, passwd)")
    users_cmd.add_argument("action", choices=["add", "list", "disable", "enable", "passwd"])
    users_cmd.add_argument("username", nargs="?")
    users_cmd.add_argument("--role", choices=["manager", "therapist"], default="therapist")
    users_cmd.add_argument("--therapist-id", help="the therapist id a therapist account belongs to")
    users_cmd.add_argument("--db", help="database file")
    users_cmd.set_defaults(run=cmd_users)

    backup_cmd = commands.add_parser("backup", help="a checked, consistent copy of the database, named with the time "
                                     "(made by the running dashboard if one holds the file)")
    backup_cmd.add_argument("--to", required=True, metavar="DIR", help="folder for the backup")
    backup_cmd.add_argument("--keep", type=int, metavar="N", help="then delete all but the newest N backups there")
    backup_cmd.add_argument("--db", help="database file")
    backup_cmd.set_defaults(run=cmd_backup)

    restore_cmd = commands.add_parser("restore", help="put a backup in place of the database (stop the dashboard first)")
    restore_cmd.add_argument("source", metavar="FROM", help="the backup file")
    restore_cmd.add_argument("--db", help="database file to replace")
    restore_cmd.add_argument("--force", action="store_true", help="overwrite even a database holding newer data")
    restore_cmd.set_defaults(run=cmd_restore)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _run(args)
    except db.DatabaseLocked as locked:
        if getattr(_served, "con", None) is not None or args.command in ("sample", "restore"):
            print(str(locked), file=sys.stderr)
            return 2
        return _through_dashboard(args, locked)


def _run(args) -> int:
    try:
        if config.database_url() and args.command != "sample" and not getattr(args, "db", None):
            # The clinic chain: the command works on a replica of its own (analytics/chain.py).
            from analytics import chain

            with chain.command_line_replica() as replica:
                args.db = replica
                return args.run(args)
        return args.run(args)
    except db.DatabaseLocked:
        raise
    except db.DatabaseError as problem:
        print(str(problem), file=_err())
        return 2
    except duckdb.Error as exc:
        if not db.is_damage(exc):
            raise
        print(f"{_path(args)}: {db.DAMAGED}", file=_err())
        return 2


if __name__ == "__main__":
    sys.exit(main())
