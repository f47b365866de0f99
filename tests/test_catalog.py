"""The column catalog (analytics/catalog.py) is the one description of the visit log: the README's
import table and the schema's CHECK constraints agree with it, and the importer needs no code of
its own for a new column."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from analytics import catalog, config, db

ROOT = Path(__file__).resolve().parent.parent
STORAGE_TABLES = ("clinics", "clients", "therapists", "episodes", "sessions", "assessments")


# ---------------------------------------------------------------------------------------------
# The README's import table


def readme_import_table() -> dict[str, bool]:
    """column -> required, from the table under "## Import format: the visit log"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Import format: the visit log", 1)[1].split("\n## ", 1)[0]
    table: dict[str, bool] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3 or cells[0] in ("column", "---"):
            continue
        for name in re.findall(r"`([a-z_]+)`", cells[0]):
            assert name not in table, f"{name} is listed twice in the README's import table"
            table[name] = cells[1].startswith("yes")
    return table


def test_readme_import_table_lists_exactly_the_catalog_columns():
    table = readme_import_table()
    assert list(table) == list(catalog.NAMES)  # the same columns, in import order
    assert {name for name, required in table.items() if required} == set(catalog.REQUIRED)


def test_catalog_helpers_agree():
    assert catalog.NAMES == catalog.REQUIRED + catalog.OPTIONAL  # required columns come first
    assert catalog.REQUIRED == tuple(entry.name for entry in catalog.COLUMNS if entry.required)
    assert catalog.column("pain_post").may_be_blank and not catalog.column("pain_pre").may_be_blank
    assert catalog.label("pain_pre") == "Pain before the session"
    assert [entry.name for entry in catalog.values_of("episodes")] == [
        "condition", "course_type", "severity", "prior_injuries", "onset_date", "discharge_reason", "foot_side"]
    assert config.VISIT_LOG_COLUMNS == catalog.NAMES  # the old name still answers, from the catalog


# ---------------------------------------------------------------------------------------------
# The schema's CHECK constraints


@pytest.fixture(scope="module")
def checks(tmp_path_factory) -> dict[tuple[str, str], str]:
    """(table, column) -> CHECK expression, read back from a fresh database."""
    con = db.connect(tmp_path_factory.mktemp("schema") / "fresh.duckdb")
    try:
        rows = con.execute("""
            SELECT table_name, constraint_column_names, expression FROM duckdb_constraints()
            WHERE constraint_type = 'CHECK'""").fetchall()
    finally:
        con.close()
    found: dict[tuple[str, str], str] = {}
    for table, columns, expression in rows:
        if table in STORAGE_TABLES and len(columns) == 1:
            assert (table, columns[0]) not in found
            found[(table, columns[0])] = expression
    return found


def accepts(expression: str, column: str, value) -> bool:
    """Whether the schema's CHECK expression holds for `value` (NULL counts as refused here).
    The expression is the schema's own text; the value travels as a parameter."""
    con = duckdb.connect()
    try:
        return bool(con.execute(f"SELECT coalesce(({expression}), false) FROM (SELECT ? AS {column})",
                                [value]).fetchone()[0])
    finally:
        con.close()


def typed(entry: catalog.Column, value: float):
    return int(value) if entry.is_whole else float(value)


@pytest.mark.parametrize("entry", catalog.of_kind("vocabulary"), ids=lambda entry: entry.name)
def test_schema_accepts_exactly_the_catalog_vocabulary(checks, entry):
    expression = checks[(entry.stored_in, entry.stored_as)]
    assert set(re.findall(r"'([^']*)'", expression)) == set(entry.values)
    for value in entry.values:
        assert accepts(expression, entry.stored_as, value), f"schema.sql refuses {entry.name} {value!r}"
    assert not accepts(expression, entry.stored_as, "not_a_" + entry.name)


@pytest.mark.parametrize("entry", catalog.of_kind("number"), ids=lambda entry: entry.name)
def test_schema_range_is_the_catalog_range(checks, entry):
    expression = checks[(entry.stored_in, entry.stored_as)]
    step = 1 if entry.is_whole else 0.01
    assert f"{entry.low:g}" in expression
    assert accepts(expression, entry.stored_as, typed(entry, entry.low))
    assert not accepts(expression, entry.stored_as, typed(entry, entry.low - step))
    if entry.high is None:
        assert "BETWEEN" not in expression and "<" not in expression  # no upper bound but the storage limit
    else:
        assert f"{entry.high:g}" in expression
        assert accepts(expression, entry.stored_as, typed(entry, entry.high))
        assert not accepts(expression, entry.stored_as, typed(entry, entry.high + step))


@pytest.mark.parametrize("entry", catalog.of_kind("id"), ids=lambda entry: entry.name)
def test_schema_id_length_is_the_catalog_limit(checks, entry):
    # An id is checked where it is the primary key (a session's therapist_id refers to therapists).
    [expression] = [expression for (table, column), expression in checks.items() if column == entry.name]
    assert accepts(expression, entry.name, "x" * catalog.MAX_ID_LENGTH)
    assert not accepts(expression, entry.name, "x" * (catalog.MAX_ID_LENGTH + 1))
    assert not accepts(expression, entry.name, "")


def test_every_check_on_a_stored_column_belongs_to_the_catalog(checks):
    # The stretching plan is written from the Client progress page, not imported.
    described = {(entry.stored_in, entry.stored_as) for entry in catalog.COLUMNS} | {("episodes", "stretching_plan")}
    ids = {entry.name for entry in catalog.of_kind("id")}
    for (table, column), expression in checks.items():
        if column == "phase":
            assert set(re.findall(r"'([^']*)'", expression)) == set(config.PHASES)
            continue
        assert (table, column) in described or column in ids, f"CHECK on {table}.{column} has no catalog column"


# ---------------------------------------------------------------------------------------------
# A change to the catalog or config reaches the importer with no importer code


def run_child(root: Path, script: str) -> dict:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=root, capture_output=True,
                            text=True, timeout=300, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


FOOT_SIDE = ('    Column("foot_side", "vocabulary", "Which foot", "episodes", "foot_side", "episode",\n'
             '           values=("left", "right", "both")),\n')


def test_a_new_catalog_column_is_checked_and_stored_with_no_importer_code(tmp_path):
    # A copy of the analytics package with one more catalog entry and its schema column: nothing
    # else. The importer must check the new column, keep it one per episode and store it.
    package = tmp_path / "analytics"
    shutil.copytree(ROOT / "analytics", package, ignore=shutil.ignore_patterns("__pycache__"))
    # foot_side is a catalog column now: the copy takes it out of the catalog and the schema first,
    # then adds it back as a newcomer would.
    source = (package / "catalog.py").read_text(encoding="utf-8")
    declared = '    Column("foot_side", "vocabulary", "Which foot", "episodes", "foot_side", "episode", values=config.FOOT_SIDES),\n'
    assert declared in source
    source = source.replace(declared, "")
    last = source.index("\n)\n\n_BY_NAME")
    (package / "catalog.py").write_text(source[:last + 1] + FOOT_SIDE + source[last + 1:], encoding="utf-8")
    schema = (package / "schema.sql").read_text(encoding="utf-8")
    stored = "    foot_side      VARCHAR CHECK (foot_side IN ('left', 'right', 'both')),\n"
    assert stored in schema
    schema = schema.replace(stored, "").replace("    onset_date     DATE,\n", "    onset_date     DATE,\n" + stored)
    (package / "schema.sql").write_text(schema, encoding="utf-8")
    result = run_child(tmp_path, f"""
        import json
        import pandas as pd
        from analytics import catalog, db, visit_log

        assert catalog.NAMES[-1] == "foot_side", catalog.NAMES
        con = db.connect({str(tmp_path / "clinic.duckdb")!r})

        def row(visit, date, foot):
            return dict(client_id="C1", episode_id="E1", condition="bunion", course_type="acute",
                        visit_number=visit, session_date=date, therapist_id="T1", pain_pre=6, pain_post=4,
                        foot_side=foot)

        out = {{}}
        try:
            visit_log.import_frames(con, [("bad.csv", pd.DataFrame([row(1, "2025-01-06", "Left"),
                                                                    row(2, "2025-01-13", "middle"),
                                                                    row(3, "2025-01-20", "right")]))])
        except visit_log.ImportFailed as failure:
            out["problems"] = [[p.row, p.column, p.code, p.message] for p in failure.problems]
        visit_log.import_frames(con, [("good.csv", pd.DataFrame([row(1, "2025-01-06", "Left"),
                                                                 row(2, "2025-01-13", "")]))])
        out["stored"] = con.execute("SELECT foot_side FROM episodes").fetchall()
        replaced = visit_log.import_frames(con, [("fix.csv", pd.DataFrame([row(1, "2025-01-06", "both")]))],
                                           replace=True)
        out["replaced"] = [replaced.episodes, con.execute("SELECT foot_side FROM episodes").fetchall()]
        print(json.dumps(out))
    """)
    assert result["problems"] == [
        [3, "foot_side", "not_in_vocabulary", "'middle' is not a known foot side; allowed: left, right, both"],
        [4, "foot_side", "one_value_per_episode",
         "episode E1 is given foot side right here but left at bad.csv:2; an episode has one foot side"],
    ]
    assert result["stored"] == [["left"]]  # "Left" normalised; a blank on visit 2 means "not given"
    assert result["replaced"] == [1, [["both"]]]


def test_a_condition_added_to_config_only_is_refused_naming_the_column(tmp_path):
    # The schema's CHECK still lists nine conditions: the import fails as a Problem that names the
    # condition column and says what must agree, not "CHECK constraint failed" naming nothing.
    result = run_child(ROOT, f"""
        import json
        from analytics import config
        config.CONDITIONS = config.CONDITIONS + ("metatarsalgia",)
        import pandas as pd
        from analytics import db, visit_log

        con = db.connect({str(tmp_path / "clinic.duckdb")!r})
        frame = pd.DataFrame([dict(client_id="C1", episode_id="E1", condition="metatarsalgia", course_type="acute",
                                   visit_number=1, session_date="2025-01-06", therapist_id="T1", pain_pre=6,
                                   pain_post=4)])
        try:
            visit_log.import_frames(con, [("visits.csv", frame)])
            print(json.dumps(None))
        except visit_log.ImportFailed as failure:
            print(json.dumps([[p.file, p.column, p.code, str(p)] for p in failure.problems]))
    """)
    [[file, column, code, text]] = result
    assert (file, column, code) == ("visits.csv", "condition", "schema_disagrees")
    assert text.startswith("visits.csv: the database refused a condition value (")
    assert "episodes.condition" in text and "metatarsalgia" in text and "schema.sql" in text
