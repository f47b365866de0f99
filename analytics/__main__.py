"""The command line: `python -m analytics sample|import|summary|check|users` — thin, calls what the pages call."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import duckdb

from analytics import config, db


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


def cmd_import(args) -> int:
    from analytics import visit_log

    con = db.connect(config.database_path(args.db))
    try:
        result = visit_log.import_files(con, [Path(p) for p in args.files], replace=args.replace, sheet=args.sheet)
    except visit_log.ImportFailed as failure:
        print(visit_log.format_problems(failure.problems), file=sys.stderr)
        print(f"Nothing was imported: {len(failure.problems)} problem(s) found. Fix them and import again.", file=sys.stderr)
        return 1
    finally:
        con.close()
    print(f"inserted {result.inserted}, skipped {result.skipped} unchanged, replaced {result.replaced} "
          f"({result.episodes} episodes)")
    for notice in result.notices:
        print(f"check: {notice}", file=sys.stderr)
    return 0


def cmd_summary(args) -> int:
    from analytics import metrics
    from analytics.filters import Filter

    if args.rule is not None and args.rule not in config.PAIN_RULES:
        print(f"--rule {args.rule}: no such rule; the rules are {', '.join(metrics.rule.pain_rule_names())}.",
              file=sys.stderr)
        return 2
    con = db.connect(config.database_path(args.db), read_only=True)
    try:
        figures = json_ready(metrics.headline(con, Filter(rule=args.rule)))
        # therapists.<therapist_id>: judged on the clinic's promise (metrics.therapist_outcome).
        figures["therapists"] = json_ready(metrics.therapist_summary(con, Filter(rule=args.rule)))
    finally:
        con.close()
    if args.json:
        print(json.dumps(figures, indent=2, sort_keys=False))
        return 0
    print(f"episodes {figures['episodes']}, sessions {figures['sessions']}, clients {figures['clients']}")
    chosen = metrics.rule.pain(args.rule)
    print(f"improved = pain at least {chosen.words()} below the first visit (rule {figures['rule']['name']})")
    for course, row in figures["by_course"].items():
        rate, itt = row["responder_rate_after_session2"], row["responder_rate_after_session2_itt"]
        rate_text = "n/a" if rate is None else f"{rate:.0%}"
        itt_text = "n/a" if itt is None else f"{itt:.0%}"
        print(f"{course:8} episodes {row['episodes']:>6}  median visits {row['median_visits']}  "
              f"mean baseline {row['mean_baseline_pain'] if row['mean_baseline_pain'] is None else round(row['mean_baseline_pain'], 1)}  "
              f"improved after session 2: {rate_text} of {row['episodes_reaching_visit3']} reaching visit 3, "
              f"{itt_text} of {row['episodes_eligible_itt']} who started")
    return 0


def cmd_check(args) -> int:
    path = config.database_path(args.db)
    con = db.connect(path, read_only=True)
    try:
        problems = db.check(con)
        sessions = db.one(con, "SELECT count(*) FROM sessions")[0] if not problems else None
    finally:
        con.close()
    if problems:
        for problem in problems:
            print(f"{path}: {problem}", file=sys.stderr)
        print(f"{path}: {db.DAMAGED}", file=sys.stderr)
        return 1
    print(f"{path}: sound: every table read completely ({sessions} sessions); the fact tables agree with the base tables.")
    return 0


def cmd_users(args) -> int:
    import getpass

    from analytics import auth

    con = db.connect(config.database_path(args.db))
    try:
        if args.action == "list":
            accounts = auth.list_users(con)
            if accounts.empty:
                print("No accounts yet. Create the first manager with: python -m analytics users add NAME --role manager")
            for row in accounts.itertuples():
                state = "disabled" if row.is_disabled else ("locked" if row.is_locked else "active")
                print(f"{row.username:20} {row.role:10} {row.therapist_id or '':10} {state}")
            return 0
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
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if config.database_url() and args.command != "sample" and not getattr(args, "db", None):
            # The clinic chain: the command works on a replica of its own (analytics/chain.py).
            from analytics import chain

            with chain.command_line_replica() as replica:
                args.db = replica
                return args.run(args)
        return args.run(args)
    except db.DatabaseError as problem:
        print(str(problem), file=sys.stderr)
        return 2
    except duckdb.Error as exc:
        if not db.is_damage(exc):
            raise
        print(f"{config.database_path(getattr(args, 'db', None))}: {db.DAMAGED}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
