"""Rule packs as plain dataclasses: what the loader builds and the engine and tests consume.

Provenance (file paths, line numbers, the pack's hash) is excluded from equality so that the
same rule loaded from two places compares equal.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from leakaudit.findings import PackRecord

PARAM_TYPES: tuple[str, ...] = ("integer", "number", "string", "boolean", "duration")

# Placeholders a reason template may use besides the rule's entity columns.
REASON_FIELDS: tuple[str, ...] = ("first_seen", "last_seen", "event_count", "times")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def coerce_param(type_: str, value: object) -> object:
    """A parameter value of the declared type, or ValueError saying what was expected.

    Values come from YAML (already typed) or from `--param` (always strings); both go through
    here so a rule sees the same Python type either way. A duration becomes a `timedelta`,
    which DuckDB binds as an INTERVAL.
    """
    if type_ == "integer":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an integer")
        number = value
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            number = int(value)
        if not isinstance(number, int):
            raise ValueError(f"{value!r} is not an integer")
        if not _BIGINT_MIN <= number <= _BIGINT_MAX:  # DuckDB binds it as a BIGINT
            raise ValueError(f"{value!r} is out of range")
        return number
    if type_ == "number":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        number = None
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = float(value)
        if number is None:
            raise ValueError(f"{value!r} is not a number")
        # NaN compares false with everything and infinity with nothing a rule counts: either
        # would silence the rule instead of tuning it.
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        return number
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(f"{value!r} is not a boolean (true or false)")
    if type_ == "duration":
        if isinstance(value, timedelta):
            return value
        if isinstance(value, str) and (m := _DURATION.match(value)):
            if m.group(2) == "M":  # a month to some, a minute to the parser: say which
                raise ValueError(
                    f"{value!r} is ambiguous: write {m.group(1)}m for minutes (a month is 30d)"
                )
            try:
                return timedelta(**{_DURATION_UNITS[m.group(2).lower()]: float(m.group(1))})
            except OverflowError:  # beyond timedelta's 999,999,999 days
                raise ValueError(f"{value!r} is out of range") from None
        raise ValueError(f"{value!r} is not a duration (a number and a unit: 90s, 15m, 2h, 1d, 1w)")
    if type_ == "string":
        if isinstance(value, str):
            return value
        raise ValueError(f"{value!r} is not a string")
    raise ValueError(f"unknown parameter type {type_!r}")


def format_param(value: object) -> object:
    """A parameter value as users write it (durations back to `15m` form), for output."""
    if isinstance(value, timedelta):
        if value % timedelta(seconds=1):  # a fraction of a second: `0.5s`, never `0s`
            return f"{value.total_seconds():.6f}".rstrip("0") + "s"  # microseconds, exact
        seconds = int(value.total_seconds())
        for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
            if seconds and seconds % size == 0:
                return f"{seconds // size}{unit}"
        return f"{seconds}s"
    return value


@dataclass(frozen=True)
class Param:
    """One declared rule parameter; `default` is already coerced to `type`."""

    name: str
    type: str
    default: Any
    description: str = ""
    minimum: float | None = None  # the smallest value that makes sense (integer, number)

    def coerce(self, value: object) -> Any:
        """`value` as this parameter's type, refused below the declared minimum.

        A threshold such as `min_accounts=-5` type-checks but silences or floods a rule, so
        a rule declares the smallest value that still means something.
        """
        typed = coerce_param(self.type, value)
        if self.minimum is not None and typed < self.minimum:
            raise ValueError(f"{value!r} is below the smallest allowed value, {self.minimum:g}")
        return typed


@dataclass(frozen=True)
class RuleTest:
    """One embedded test: inline rows per table and the exact set of findings expected."""

    name: str
    tables: dict[str, list[dict[str, Any]]]
    findings: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    line: int | None = field(default=None, compare=False)

    @property
    def positive(self) -> bool:
        return bool(self.findings)


@dataclass(frozen=True)
class Rule:
    """One rule: metadata, the SQL returning offending rows, and its tests."""

    id: str
    pack: str
    title: str
    category: str
    severity: str
    description: str
    rationale: str
    remediation: str
    query: str
    entities: tuple[str, ...]
    reason: str
    references: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    params: dict[str, Param] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    # List entities the engine collects once per finding: entity → the column whose sorted
    # distinct values over the finding's rows make the list (instead of one list per row).
    collect: dict[str, str] = field(default_factory=dict)
    tests: tuple[RuleTest, ...] = ()
    # Declared parameters whose declaration is invalid: the loader reports them once.
    invalid_params: frozenset[str] = field(default=frozenset(), compare=False)
    path: Path | None = field(default=None, compare=False)
    query_path: Path | None = field(default=None, compare=False)
    builtin: bool = field(default=False, compare=False)

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params.items()}

    @property
    def grouping_entities(self) -> tuple[str, ...]:
        """The entities the SQL returns on every row, which group its rows into findings."""
        return tuple(name for name in self.entities if name not in self.collect)


@dataclass(frozen=True)
class Pack:
    """A directory of rules with a `pack.yml`; `sha256` hashes its files for provenance."""

    name: str
    version: str
    description: str
    rules: tuple[Rule, ...]
    path: Path | None = field(default=None, compare=False)
    sha256: str = field(default="", compare=False)
    builtin: bool = field(default=False, compare=False)

    def record(self) -> PackRecord:
        return PackRecord(name=self.name, version=self.version, sha256=self.sha256)
