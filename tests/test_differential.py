"""The built-in rules against the reference model of SPEC §2, on small random worlds.

For `duplicate_device_id`, `media_to_non_owner`, `partner_cross_feed` and
`staff_without_consent`, the set of (category, entities) the SQL rules find must equal what
tests/spec_model.py says, world for world. On a difference hypothesis shrinks the world and the
failure shows it, one row a line (times as minutes of the day), with both sets.

More examples: LEAKAUDIT_DIFFERENTIAL_EXAMPLES=2000 pytest tests/test_differential.py
"""

from __future__ import annotations

import os
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings

from leakaudit.ingest import ingest_records
from leakaudit.rules import Pack, all_rules, load_packs, run_rules
from leakaudit.store import MEMORY, Store
from tests.spec_model import CATEGORIES, Result, World, expected_findings, freeze
from tests.worlds import show, to_records, worlds

EXAMPLES = int(os.environ.get("LEAKAUDIT_DIFFERENTIAL_EXAMPLES", "60"))


@cache
def builtin_packs() -> list[Pack]:
    """The built-in rules of the four categories, loaded once for every example."""
    ids = [rule.id for rule in all_rules(load_packs()) if rule.category in CATEGORIES]
    return load_packs(rules=ids)


def rule_findings(world: World) -> Result:
    """Ingest the world into an in-memory store, run the built-in rules, keep four categories."""
    with Store.open(MEMORY) as store:
        for table, rows in to_records(world).items():
            if rows:
                result = ingest_records(store, table, rows)
                assert result.rejected == 0, f"{table}: {result.rejected} row(s) quarantined"
        findings, outcomes = run_rules(store, builtin_packs())
    requires = {rule.id: rule.requires for rule in all_rules(builtin_packs())}
    skipped = [
        f"{o.rule_id} ({o.skipped_reason})"
        for o in outcomes
        if o.category in CATEGORIES
        and o.status != "ran"
        and all(world.get(table) for table in requires[o.rule_id])
    ]
    assert not skipped, f"rules skipped although every table they need has rows: {skipped}"
    return {(f.category, freeze(f.entities)) for f in findings if f.category in CATEGORIES}


def describe(items: Result) -> str:
    if not items:
        return "    (none)"
    return "\n".join(f"    {cat}: {dict(entities)}" for cat, entities in sorted(items, key=repr))


def test_every_category_has_a_builtin_rule() -> None:
    """Otherwise the differential test would compare the model with silence."""
    assert {rule.category for rule in all_rules(builtin_packs())} == set(CATEGORIES)


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(worlds())
def test_rules_equal_the_reference_model(world: World) -> None:
    expected = expected_findings(world)
    actual = rule_findings(world)
    if actual != expected:
        raise AssertionError(
            "The rules and the reference model of SPEC §2 disagree.\n"
            f"World:\n{show(world)}\n"
            f"Only the model (SQL misses):\n{describe(expected - actual)}\n"
            f"Only the rules (model does not expect):\n{describe(actual - expected)}\n"
            f"Model:\n{describe(expected)}\n"
            f"Rules:\n{describe(actual)}"
        )
