"""Run a rule's embedded tests: inline rows in a fresh in-memory store, exact findings expected.

Rows go through `leakaudit.ingest.ingest_records`, the same validation and casting as a file
ingest, so a test exercises the rule on exactly what an audit would see. A row that ingest
quarantines fails the test: a fixture that silently loses rows would prove nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

from leakaudit.errors import LeakauditError
from leakaudit.rules.engine import run_rules
from leakaudit.rules.model import Pack, Rule, RuleTest
from leakaudit.store import MEMORY, Store
from leakaudit.wording import plural


@dataclass
class TestResult:
    """The outcome of one embedded test; `expected`/`actual` are canonical entity dicts."""

    __test__ = False  # not a pytest class

    rule_id: str
    name: str
    passed: bool
    expected: list[dict[str, Any]] = field(default_factory=list)
    actual: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    path: str | None = None
    line: int | None = None

    @property
    def location(self) -> str:
        if self.path is None:
            return self.rule_id
        return f"{self.path}:{self.line}" if self.line is not None else self.path

    def report(self) -> str:
        """A failure as expected and actual findings side by side (empty when passed)."""
        if self.passed:
            return ""
        if self.error is not None:
            return f"  {self.error}"
        expected = [_render(f) for f in self.expected]
        actual = [_render(f) for f in self.actual]
        missing = list((Counter(expected) - Counter(actual)).elements())
        extra = list((Counter(actual) - Counter(expected)).elements())
        both = list((Counter(expected) & Counter(actual)).elements())
        # Matching findings share a row; then what is missing faces what is extra.
        rows = [(f"  {f}", f"  {f}") for f in both]
        rows += [
            (f"- {a}" if a else "", f"+ {b}" if b else "")
            for a, b in zip_longest(missing, extra, fillvalue="")
        ]
        if not expected:
            rows[0] = ("  (no findings)", rows[0][1])
        if not actual:
            rows[0] = (rows[0][0], "  (no findings)")
        width = max(len("  expected"), *(len(a) for a, _ in rows))
        lines = [f"  {'  expected'.ljust(width)} | actual"]
        lines += [f"  {a.ljust(width)} | {b}" for a, b in rows]
        lines.append("  (- expected but not found, + found but not expected)")
        return "\n".join(line.rstrip() for line in lines)


def _render(finding: dict[str, Any]) -> str:
    return json.dumps(finding, ensure_ascii=False, separators=(", ", ": "))


def canonical(finding: dict[str, Any], entities: Iterable[str]) -> dict[str, Any]:
    """Entity values as the engine emits them: strings, lists sorted, None kept."""

    def one(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return sorted("(none)" if v is None else str(v) for v in value)
        if isinstance(value, bool):
            return str(value).lower()
        return str(value)

    return {name: one(finding.get(name)) for name in entities}


def _sort_key(finding: dict[str, Any]) -> str:
    return json.dumps(finding, sort_keys=True, ensure_ascii=False)


def run_rule_test(rule: Rule, test: RuleTest) -> TestResult:
    """One embedded test of one rule, in its own in-memory store."""
    from leakaudit.ingest import ingest_records  # ingest is a lower stage; loaded when used

    result = TestResult(
        rule.id,
        test.name,
        passed=False,
        path=str(rule.path) if rule.path else None,
        line=test.line,
    )
    result.expected = sorted((canonical(f, rule.entities) for f in test.findings), key=_sort_key)
    pack = Pack(rule.pack, "", "", (rule,))
    try:
        with Store.open(MEMORY) as store:
            for table, records in test.tables.items():
                loaded = ingest_records(store, table, records, source=f"<{table}>")
                rejected = loaded.rejected
                if rejected:
                    reasons = store.con.execute(
                        "SELECT source_line, reason FROM quarantine WHERE source_file = $f "
                        "ORDER BY source_line",
                        {"f": f"<{table}>"},
                    ).fetchall()
                    detail = "; ".join(f"row {line}: {reason}" for line, reason in reasons)
                    result.error = (
                        f"{rejected} {table} {plural(rejected, 'row')} "
                        f"{'was' if rejected == 1 else 'were'} quarantined: {detail}"
                    )
                    return result
            findings, (outcome,) = run_rules(store, [pack], {rule.id: test.params})
    except LeakauditError as exc:
        result.error = str(exc)
        return result
    if outcome.status == "skipped":
        # A skipped rule finds nothing: a negative test would pass without testing anything.
        result.error = (
            f"the rule was skipped ({outcome.skipped_reason}), so the test proves nothing: "
            "give it rows of every table in 'requires'"
        )
        return result
    result.actual = sorted((canonical(f.entities, rule.entities) for f in findings), key=_sort_key)
    result.passed = result.actual == result.expected
    return result


def run_tests(packs: Iterable[Pack], rule_ids: Iterable[str] | None = None) -> list[TestResult]:
    """Every embedded test of the selected rules, in pack and file order."""
    wanted = set(rule_ids) if rule_ids else None
    return [
        run_rule_test(rule, test)
        for pack in packs
        for rule in pack.rules
        if wanted is None or rule.id in wanted
        for test in rule.tests
    ]
