"""`leakaudit rules …` through click's CliRunner: exact output and exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from leakaudit.cli.commands import cli

FIXTURES = Path(__file__).parent / "fixtures" / "rulepacks"
ACME = FIXTURES / "acme"
BROKEN = FIXTURES / "broken"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def copy_acme(tmp_path: Path) -> Path:
    target = tmp_path / "acme"
    shutil.copytree(ACME, target)
    return target


def test_validate_ok():
    result = run("rules", "validate", "--no-builtin", str(ACME))
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "1 pack, 2 rules: all valid.\n",
        "",
    )


def test_validate_builtin_by_default():
    result = run("rules", "validate")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(": all valid.\n")


def test_validate_reports_every_problem_and_exits_2():
    result = run("rules", "validate", "--no-builtin", str(BROKEN))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 12
    assert lines[0] == (
        f"{BROKEN}/BRK001.yml:1: rule id 'BRK009' does not match the file name 'BRK001.yml' "
        "(expected id 'BRK001')"
    )
    assert lines[6] == (
        f"{BROKEN}/BRK002.yml:11: the SQL does not bind against the native schema: Binder "
        'Error: Referenced column "account" not found in FROM clause!'
    )
    assert lines[-1] == "error: 11 problems in 3 files."


def test_test_passes():
    result = run("rules", "test", "--no-builtin", str(ACME))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "PASS ACM001 a stranger opens a clip\n"
        "PASS ACM001 owners and denials are quiet\n"
        "PASS ACM001 the ignored account is quiet\n"
        "PASS ACM002 two accounts on one id\n"
        "PASS ACM002 one account bound twice\n"
        "5 passed, 0 failed.\n"
    )


def test_test_the_builtin_folder_given_as_a_dir():
    """`rules test rules/` in a checkout names the built-in folder itself: its packs load once,
    as built-in, and are the packs under test (they were filtered out: "No rule to test")."""
    from leakaudit.rules import all_rules, builtin_rules_dir, load_packs

    folder = builtin_rules_dir() / "media"
    result = run("rules", "test", str(folder), "--rule", "LAM002")
    (lam002,) = [r for r in all_rules(load_packs()) if r.id == "LAM002"]
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "".join(f"PASS LAM002 {t.name}\n" for t in lam002.tests)
        + f"{len(lam002.tests)} passed, 0 failed.\n"
    )


def test_test_one_rule():
    result = run("rules", "test", "--no-builtin", str(ACME), "--rule", "ACM002")
    assert (result.exit_code, result.stdout) == (
        0,
        "PASS ACM002 two accounts on one id\nPASS ACM002 one account bound twice\n"
        "2 passed, 0 failed.\n",
    )


def test_a_failing_rule_test_shows_expected_and_actual_and_exits_1(tmp_path):
    pack = copy_acme(tmp_path)
    rule = pack / "ACM001.yml"
    rule.write_text(
        rule.read_text().replace(
            "      - {device_id: cam-1, account_id: B}\n",
            "      - {device_id: cam-1, account_id: B}\n"
            "      - {device_id: cam-2, account_id: B}\n",
        )
    )
    result = run("rules", "test", "--no-builtin", str(pack), "--rule", "ACM001")
    assert result.exit_code == 1
    assert result.stdout == (
        "FAIL ACM001 a stranger opens a clip\n"
        f"  at {rule}:53\n"
        "    expected                                  | actual\n"
        '    {"device_id": "cam-1", "account_id": "B"} |   {"device_id": "cam-1", '
        '"account_id": "B"}\n'
        '  - {"device_id": "cam-2", "account_id": "B"} |\n'
        "  (- expected but not found, + found but not expected)\n"
        "PASS ACM001 owners and denials are quiet\n"
        "PASS ACM001 the ignored account is quiet\n"
        "2 passed, 1 failed.\n"
    )


def test_a_rule_test_with_quarantined_rows_fails(tmp_path):
    pack = copy_acme(tmp_path)
    rule = pack / "ACM002.yml"
    rule.write_text(
        rule.read_text().replace(
            'registered_at: "2024-01-02T00:00:00Z"}', "registered_at: soon}", 1
        )
    )
    result = run("rules", "test", "--no-builtin", str(pack), "--rule", "ACM002")
    assert result.exit_code == 1
    assert result.stdout == (
        "FAIL ACM002 two accounts on one id\n"
        f"  at {rule}:21\n"
        "  1 devices row was quarantined: row 1: column \"registered_at\": 'soon' is not "
        "an ISO-8601 timestamp\n"
        "PASS ACM002 one account bound twice\n"
        "1 passed, 1 failed.\n"
    )


def test_a_rule_test_in_which_the_rule_is_skipped_fails(tmp_path):
    # Without rows for a required table the rule is skipped and finds nothing, so a
    # negative test passed while proving nothing (here the rule would flag account A).
    pack = copy_acme(tmp_path)
    rule = pack / "ACM001.yml"
    text = rule.read_text()
    devices = (
        "      devices:\n"
        '        - {device_id: cam-1, account_id: A, registered_at: "2024-01-01T00:00:00Z"}\n'
    )
    negative = "  - name: owners and denials are quiet\n    tables:\n"
    assert negative + devices in text
    rule.write_text(text.replace(negative + devices, negative, 1))
    result = run("rules", "test", "--no-builtin", str(pack), "--rule", "ACM001")
    assert result.exit_code == 1
    assert result.stdout == (
        "PASS ACM001 a stranger opens a clip\n"
        "FAIL ACM001 owners and denials are quiet\n"
        f"  at {rule}:62\n"
        "  the rule was skipped (needs devices), so the test proves nothing: give it rows of "
        "every table in 'requires'\n"
        "PASS ACM001 the ignored account is quiet\n"
        "2 passed, 1 failed.\n"
    )


def test_test_refuses_invalid_rules_with_exit_2():
    result = run("rules", "test", "--no-builtin", str(BROKEN))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == "error: 11 problems in 3 files."


def test_test_unknown_rule_is_exit_2():
    result = run("rules", "test", "--no-builtin", str(ACME), "--rule", "ACM404")
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        "error: Unknown rule 'ACM404'; known rules: ACM001, ACM002.\n",
    )


def test_list():
    result = run("rules", "list", "--no-builtin", "--rules", str(ACME))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "ID      PACK  CATEGORY             SEVERITY  TITLE\n"
        "ACM001  acme  media_to_non_owner   high      An account was served media of a device "
        "it never had a binding of\n"
        "ACM002  acme  duplicate_device_id  critical  One device id has bindings to two or "
        "more accounts\n"
    )


def test_list_includes_builtin_packs():
    result = run("rules", "list", "--rules", str(ACME))
    assert result.exit_code == 0
    assert "ACM001  acme" in result.stdout
    assert result.stdout.startswith("ID ")


def test_show():
    result = run("rules", "show", "ACM001", "--no-builtin", "--rules", str(ACME))
    assert (result.exit_code, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "ACM001: An account was served media of a device it never had a binding of",
        "pack: acme  category: media_to_non_owner  severity: high",
        f"file: {ACME}/ACM001.yml",
        "",
    ]
    assert lines[lines.index("Parameters:") : lines.index("SQL:") + 2] == [
        "Parameters:",
        "  ignore_account (string, default ): An account whose accesses are never flagged "
        "(a QA account).",
        "  min_bytes (integer, default 0): Ignore accesses that delivered fewer bytes than this.",
        "Tests: 3 (1 positive, 2 negative)",
        "SQL:",
        "  SELECT",
    ]
    assert lines[-1] == "      )"


def test_show_keeps_a_title_with_a_line_break_on_its_line(tmp_path):
    """A title holding a newline printed as two lines: a rule file under review could forge
    the `pack:` and `severity:` lines that follow it (or break it at U+2028 or U+0085)."""
    pack = copy_acme(tmp_path)
    path = pack / "ACM001.yml"
    forged = "ok\\npack: acme  category: media_to_non_owner  severity: info\\u2028x"
    path.write_text(
        path.read_text().replace(
            "title: An account was served media of a device it never had a binding of",
            f'title: "{forged}"',
        )
    )
    result = run("rules", "show", "ACM001", "--no-builtin", "--rules", str(pack))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.split("\n")[:2] == [
        "ACM001: ok\\x0apack: acme  category: media_to_non_owner  severity: info\\x2028x",
        "pack: acme  category: media_to_non_owner  severity: high",
    ]


def test_show_unknown_rule_is_exit_2():
    result = run("rules", "show", "NOPE", "--no-builtin", "--rules", str(ACME))
    assert (result.exit_code, result.stderr) == (
        2,
        "error: Unknown rule 'NOPE'; known rules: ACM001, ACM002.\n",
    )


def test_override_from_the_cli(tmp_path):
    builtin = run("rules", "list").stdout.splitlines()
    if len(builtin) < 2:
        pytest.skip("no built-in rule to override yet")
    rule_id = builtin[1].split()[0]
    pack = copy_acme(tmp_path)
    (pack / "ACM002.yml").unlink()
    (pack / "ACM001.yml").rename(pack / f"{rule_id}.yml")
    path = pack / f"{rule_id}.yml"
    path.write_text(path.read_text().replace("id: ACM001", f"id: {rule_id}"))
    refused = run("rules", "validate", str(pack))
    assert refused.exit_code == 2
    assert refused.stderr.splitlines()[0].startswith(
        f"{path}:1: rule id '{rule_id}' is already a built-in rule of pack "
    )
    assert refused.stderr.splitlines()[0].endswith("; pass --override to replace it")
    accepted = run("rules", "validate", "--override", str(pack))
    assert accepted.exit_code == 0, accepted.output
    shown = run("rules", "show", rule_id, "--override", "--rules", str(pack))
    assert (
        shown.stdout.splitlines()[1] == "pack: acme  category: media_to_non_owner  severity: high"
    )


def test_rules_help_lists_the_commands():
    result = run("rules", "--help")
    assert result.exit_code == 0
    for command in ("validate", "test", "list", "show"):
        assert f"  {command} " in result.stdout
