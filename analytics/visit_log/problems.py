"""Problems found in a visit log, as records (file, row, column, code, message); turned into
"FILE:ROW:COLUMN: message" text only where a person reads them (the command line, the pages)."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence


@dataclasses.dataclass(frozen=True)
class Problem:
    """One problem. `row` is the spreadsheet line (the header is line 1), None for a problem of
    the whole file or import; `column` is the visit-log column (or "(column N)" for an unnamed
    one), None when no single column is at fault; `code` names the rule for code that reacts to it."""

    file: str
    row: int | None
    column: str | None
    code: str
    message: str

    def __str__(self) -> str:
        if self.row is None:
            return f"{self.file}: {self.message}" if self.file else self.message
        if self.column is None:
            return f"{self.file}:{self.row}: {self.message}"
        return f"{self.file}:{self.row}:{self.column}: {self.message}"


class ImportFailed(Exception):
    """Nothing was imported. `problems` holds every problem found; `errors` the same as text."""

    def __init__(self, problems: Iterable[Problem | str]):
        self.problems: list[Problem] = [problem if isinstance(problem, Problem)
                                        else Problem("", None, None, "message", str(problem))
                                        for problem in problems]
        super().__init__(format_problems(self.problems, limit=20))

    @property
    def errors(self) -> list[str]:
        """Every problem as "FILE:ROW:COLUMN: message"."""
        return [str(problem) for problem in self.problems]


@dataclasses.dataclass
class ImportResult:
    """Sessions newly stored, already stored unchanged, and overwritten (replace=True); the
    number of distinct episodes whose sessions or attributes were written; and `notices`, what
    the person should check although nothing was refused (a last line with no line ending).
    Notices are left out of ==, so a result compares by what was stored."""

    inserted: int
    skipped: int
    replaced: int
    episodes: int
    notices: list[Problem] = dataclasses.field(default_factory=list, compare=False)


def format_problems(problems: Sequence[Problem | str], limit: int = 100) -> str:
    """The first `limit` problems, one a line, and a count of the rest."""
    problems = list(problems)
    shown = [str(problem) for problem in problems[:limit]]
    if len(problems) > limit:
        shown.append(f"... and {len(problems) - limit} more problems")
    return "\n".join(shown)


format_errors = format_problems  # the name the command line and pages have used


def audited_files(frames: Sequence[tuple[str, object]], problems: Iterable[Problem]) -> str:
    """The file names an import's audit row names: the files read and those refused while being
    read (too big, empty, binary, uneven rows, several sheets), each once; "import" when none has
    a name. Names only, never a value from a file."""
    names = [name for name, _ in frames] + [problem.file for problem in problems]
    return ", ".join(dict.fromkeys(name for name in names if name)) or "import"
