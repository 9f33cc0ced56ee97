"""Every built-in rule file validates, and every embedded rule test passes.

Parametrised over the files found under the built-in rules directory, so a new rule is
covered the moment its file lands.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leakaudit.rules import builtin_rules_dir, validate
from leakaudit.rules.loader import find_pack_dirs, rule_files
from leakaudit.rules.testing import run_rule_test

RULE_FILES = [path for pack in find_pack_dirs(builtin_rules_dir()) for path in rule_files(pack)]
PACKS, PROBLEMS = validate()
RULES = {rule.path: rule for pack in PACKS for rule in pack.rules}


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.mark.parametrize("path", RULE_FILES, ids=_id)
def test_rule_file_is_valid(path):
    # The rule file itself, or its query_file (named after the rule by convention).
    mine = [str(p) for p in PROBLEMS if Path(p.path) in (path, path.with_suffix(".sql"))]
    assert mine == []
    assert path in RULES, f"{path} did not load"


def test_builtin_packs_have_no_problems():
    assert [str(p) for p in PROBLEMS] == []


CASES = [(rule, test) for rule in RULES.values() for test in rule.tests]


@pytest.mark.parametrize(("rule", "test"), CASES, ids=[f"{r.id}: {t.name}" for r, t in CASES])
def test_embedded_rule_test_passes(rule, test):
    result = run_rule_test(rule, test)
    assert result.passed, f"{result.location}\n{result.report()}"
