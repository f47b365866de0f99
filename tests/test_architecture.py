"""The layers of docs/architecture.md hold: imports flow app_pages -> ui -> analytics, nobody reaches
into another module's private names, and every file the page names exists."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("analytics", "ui", "app_pages")
FORBIDDEN = {
    "analytics": ("streamlit", "ui", "app_pages"),
    "ui": ("app_pages",),
}


def _sources(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names imported from it, line) for every import statement in the file."""
    found: list[tuple[str, list[str], int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names], node.lineno))
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_flow_down(layer):
    wrong = []
    for path in _sources(layer):
        for module, _, line in _imports(path):
            if module.split(".")[0] in FORBIDDEN[layer]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert wrong == []


def _bound_project_modules(tree: ast.AST) -> set[str]:
    """Local names bound to one of our modules (`from analytics import db` binds `db`)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PROJECT_PACKAGES:
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names
                         if alias.name.split(".")[0] in PROJECT_PACKAGES)
    return names


def test_no_module_reaches_into_another_modules_private_names():
    wrong = []
    for path in _sources(*PROJECT_PACKAGES, "tests", "benchmarks") + [ROOT / "dashboard.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for module, names, line in _imports(path):
            if module.split(".")[0] in PROJECT_PACKAGES:
                wrong += [f"{path.relative_to(ROOT)}:{line} imports {module}.{name}"
                          for name in names if name.startswith("_") and not name.startswith("__")]
        modules = _bound_project_modules(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert wrong == []


def test_no_pages_folder_beside_the_entry_file():
    # A pages/ folder would switch on Streamlit's legacy multipage mode (pages without sign-in).
    assert not (ROOT / "pages").exists()


def test_every_file_the_architecture_page_names_exists():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:analytics|ui|app_pages|tests|benchmarks|docs|sample_data)/[\w./]+?\.(?:py|sql|md|csv))`",
                           text))
    assert named, "the page names no files"
    missing = sorted(name for name in named if not (ROOT / name).exists())
    assert missing == []
