"""The project's set-up files agree: pyproject.toml and the requirements files pin the same
packages, so the README's pip commands install what pyproject.toml declares."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def requirement_lines(name: str) -> list[str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "-r "))]


def test_requirements_files_pin_what_pyproject_declares():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert requirement_lines("requirements.txt") == project["dependencies"]
    assert requirement_lines("requirements-test.txt") == project["optional-dependencies"]["test"]
    assert "-r requirements.txt" in (ROOT / "requirements-test.txt").read_text(encoding="utf-8").splitlines()


def test_every_dependency_is_pinned():
    for name in ("requirements.txt", "requirements-test.txt"):
        for line in requirement_lines(name):
            assert "==" in line, f"{name}: {line} is not pinned"


def test_the_server_config_hides_the_menu_and_table_exports_and_states_the_upload_limit_once():
    from analytics import config

    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert settings["client"] == {"toolbarMode": "minimal", "disableDataExport": True, "showErrorDetails": "none"}
    assert settings["browser"]["gatherUsageStats"] is False
    # No full garbage collection after every run: it was half of a warm page at 1 M sessions.
    assert settings["runner"] == {"postScriptGC": False}
    # The uploader refuses what the importer would refuse, and says the same number.
    default_mb = int(config.MAX_IMPORT_BYTES_DEFAULT_MB)
    assert settings["server"]["maxUploadSize"] == default_mb


def test_the_default_import_limit_fits_a_visit_log_of_a_million_rows():
    """A chain's whole visit log of 1 M sessions, as CSV the way the sample clinic writes it,
    passes the default limit with a fifth to spare."""
    from analytics import config, sample

    rows = sample.generate_visit_log(sessions=5_000, seed=3)
    bytes_per_row = len(rows.to_csv(index=False).encode("utf-8")) / len(rows)
    assert 1_000_000 * bytes_per_row * 1.2 <= config.MAX_IMPORT_BYTES_DEFAULT_MB * 1024 * 1024
