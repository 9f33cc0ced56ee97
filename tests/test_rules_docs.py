"""docs/writing-rules.md stays true: its example pack validates and its tests pass."""

from __future__ import annotations

import re
from pathlib import Path

from leakaudit.rules import load_packs
from leakaudit.rules.testing import run_tests

DOC = Path(__file__).parents[1] / "docs" / "writing-rules.md"
BLOCK = re.compile(r"```(?:yaml|sql)\n(?:#|--) (my_rules/\S+)\n(.*?)```", re.DOTALL)


def test_the_worked_example_is_a_valid_tested_rule(tmp_path):
    files: dict[str, str] = {}
    for path, body in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        files[path] = body  # a later block of the same file is its finished version
    assert sorted(files) == [
        "my_rules/acme/ACME001.sql",
        "my_rules/acme/ACME001.yml",
        "my_rules/acme/pack.yml",
    ]
    for path, body in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body, encoding="utf-8")
    packs = load_packs([tmp_path / "my_rules"], builtin=False)
    assert [(p.name, [r.id for r in p.rules]) for p in packs] == [("acme", ["ACME001"])]
    results = run_tests(packs)
    assert [(r.name, r.passed) for r in results] == [
        ("three reads in ten minutes with a limit of two", True),
        ("the same reads spread over a day, or through the portal, are not bulk", True),
    ]


def test_the_quoted_locations_point_at_the_example():
    """The console blocks name lines of the example files; a key added above them moves them."""
    text = DOC.read_text(encoding="utf-8")
    files = {path: body.splitlines() for path, body in BLOCK.findall(text)}

    def line_of(path: str, needle: str) -> int:
        return next(n for n, line in enumerate(files[path], 1) if needle in line)

    yml, sql = "my_rules/acme/ACME001.yml", "my_rules/acme/ACME001.sql"
    assert f"at {yml}:{line_of(yml, '- name: three reads')}\n" in text
    assert f"{yml}:{line_of(yml, 'max_reads:')}: parameter 'max_reads' is declared" in text
    assert f"{sql}:{line_of(sql, '$max_reads')}: parameter $max_read is used" in text
