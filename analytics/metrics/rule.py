"""The improvement rule, defined once: the same fields give the SQL the metrics run, the Python
test the client's summary applies and the words a person reads."""
from __future__ import annotations

import dataclasses
from typing import Any, Literal

from analytics import config

# Pain is stored as DOUBLE, and 7 - 4.9 is 2.0999999999999996 in binary, just under 30% of 7.
# A drop that is exactly on a threshold counts as reaching it, so comparisons allow this much.
ROUNDING_TOLERANCE = 1e-9


@dataclasses.dataclass(frozen=True)
class Rule:
    """A meaningful change on a 0-10 score against its baseline: a change of at least `points`
    and/or at least `fraction` of the baseline (`combine` says which: "and" needs both, "or"
    either; a field left None is not asked). The fraction asks for a change above nothing too, so
    a baseline of 0 (no pain to lose) is never "improved by 30%". `higher_is_better` is False for pain (a drop is
    better) and True for function scores such as PSFS. `key` names the rule's SQL parameters
    ($<key>_points, $<key>_fraction), so several rules can travel in one query."""

    key: str
    points: float | None
    fraction: float | None = None
    combine: Literal["and", "or"] = "and"
    higher_is_better: bool = False

    def __post_init__(self) -> None:
        if self.points is None and self.fraction is None:
            raise ValueError("a rule needs points, a fraction or both")
        if self.combine not in ("and", "or"):
            raise ValueError(f"combine must be 'and' or 'or', not {self.combine!r}")

    def params(self) -> dict[str, Any]:
        """The rule's thresholds as the named SQL parameters sql() refers to."""
        params: dict[str, Any] = {"tolerance": ROUNDING_TOLERANCE}
        if self.points is not None:
            params[f"{self.key}_points"] = self.points
        if self.fraction is not None:
            params[f"{self.key}_fraction"] = self.fraction
        return params

    def sql(self, baseline: str, score: str) -> str:
        """SQL that is TRUE when `score` meets the rule against `baseline`, NULL when either is
        missing. `baseline` and `score` are SQL expressions written in our code, never user input;
        the thresholds are parameters (params())."""
        change = f"(({score}) - ({baseline}))" if self.higher_is_better else f"(({baseline}) - ({score}))"
        tests = []
        if self.points is not None:
            tests.append(f"{change} >= ${self.key}_points - $tolerance")
        if self.fraction is not None:
            tests.append(f"({change} >= ${self.key}_fraction * ({baseline}) - $tolerance AND {change} > $tolerance)")
        return "(" + f" {self.combine.upper()} ".join(tests) + ")"

    def is_met(self, baseline: float | None, score: float | None) -> bool | None:
        """The same test in Python; None (not known) when either score is missing, as SQL's NULL."""
        if baseline is None or score is None:
            return None
        change = score - baseline if self.higher_is_better else baseline - score
        tests = []
        if self.points is not None:
            tests.append(change >= self.points - ROUNDING_TOLERANCE)
        if self.fraction is not None:
            tests.append(change >= self.fraction * baseline - ROUNDING_TOLERANCE and change > ROUNDING_TOLERANCE)
        return all(tests) if self.combine == "and" else any(tests)

    def words(self) -> str:
        """The thresholds as a person reads them: '2 points and 30%', '2 points'."""
        parts = []
        if self.points is not None:
            parts.append(f"{self.points:g} {'point' if self.points == 1 else 'points'}")
        if self.fraction is not None:
            parts.append(f"{self.fraction * 100:g}%")
        return f" {self.combine} ".join(parts)


def pain(name: str | None = None) -> Rule:
    """The clinic's rule for pain (0-10, lower is better) by name, from config.PAIN_RULES; the
    default (DEFAULT_PAIN_RULE, "points-and-percent") is a drop of at least MCID_PAIN_POINTS and
    at least MCID_PAIN_FRACTION of the baseline."""
    name = config.DEFAULT_PAIN_RULE if name is None else name
    if name not in config.PAIN_RULES:
        raise ValueError(f"rule must be one of {', '.join(config.PAIN_RULES)}, not {name!r}")
    points, fraction, combine = config.PAIN_RULES[name]
    return Rule("pain", points=config.MCID_PAIN_POINTS if points == config.MCID else _number(points),
                fraction=config.MCID_PAIN_FRACTION if fraction == config.MCID else _number(fraction),
                combine="or" if combine == "or" else "and")


def _number(value: float | str | None) -> float | None:
    return None if value is None else float(value)


def pain_rule_names() -> tuple[str, ...]:
    """The names of the pain rules a manager may choose, the default first."""
    return (config.DEFAULT_PAIN_RULE, *(n for n in config.PAIN_RULES if n != config.DEFAULT_PAIN_RULE))


def psfs() -> Rule:
    """The rule for the function score PSFS (0-10, higher is better), from config: a rise of at
    least MCID_PSFS_POINTS."""
    return Rule("psfs", points=config.MCID_PSFS_POINTS, higher_is_better=True)


def for_scale(scale: str, name: str | None = None) -> Rule:
    """The rule for a scale by name: 'pain' (the named pain rule `name`, None for the default)
    or 'psfs'."""
    if scale == "pain":
        return pain(name)
    if scale == "psfs":
        return psfs()
    raise ValueError(f"scale must be 'pain' or 'psfs', not {scale!r}")


def improvement_sql(baseline: str, score: str, scale: str = "pain", name: str | None = None) -> str:
    """SQL that is TRUE when `score` is a meaningful improvement on `baseline`, NULL when either
    is missing. Pain (0-10, lower is better): the named rule `name` (pain(); None is the default,
    points-and-percent: a drop of at least 2 points AND at least 30% of the baseline); its
    thresholds are the parameters pain(name).params(), which the query must be given. PSFS
    (0-10, higher is better): a rise of at least 2 points. `baseline` and `score` are SQL
    expressions written in this module, never user input."""
    return for_scale(scale, name).sql(baseline, score)


def describe(name: str | None = None) -> dict[str, Any]:
    """The named pain rule as `summary --json` prints it: {"name", "points", "fraction",
    "combine"} (points or fraction None when the rule does not ask for it)."""
    chosen = pain(name)
    return {"name": config.DEFAULT_PAIN_RULE if name is None else name, "points": chosen.points,
            "fraction": chosen.fraction, "combine": chosen.combine}
