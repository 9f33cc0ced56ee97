"""`leakaudit rules …`: validate, test, list and show rule packs. Click only; logic in rules/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from leakaudit.cli.common import rule_dir_options, safe_plain
from leakaudit.errors import ConfigError, ExitCode
from leakaudit.rules import Pack, RuleValidationError, all_rules, find_rule, load_packs, validate
from leakaudit.rules.model import format_param
from leakaudit.rules.testing import run_tests

F = TypeVar("F", bound=Callable[..., Any])

EPILOG = """\b
Examples:
  leakaudit rules list
  leakaudit rules show LAM001
  leakaudit rules validate my_rules/ && leakaudit rules test my_rules/
"""
VALIDATE_EPILOG = """\b
Examples:
  leakaudit rules validate
  leakaudit rules validate my_rules/
"""
TEST_EPILOG = """\b
Examples:
  leakaudit rules test
  leakaudit rules test my_rules/ --rule ACME001
"""
LIST_EPILOG = """\b
Examples:
  leakaudit rules list
  leakaudit rules list --rules my_rules/ --no-builtin
"""
SHOW_EPILOG = """\b
Examples:
  leakaudit rules show LAS004
  leakaudit rules show ACME001 --rules my_rules/
"""


def _pack_options(f: F) -> F:
    """--rules DIR, --override and --no-builtin for the commands that look at loaded packs."""
    f = click.option(
        "--builtin/--no-builtin",
        default=True,
        help="Include the built-in packs [default: include].",
    )(f)
    return rule_dir_options(f)


def _fail_invalid(exc: RuleValidationError) -> None:
    """Every problem on its own `file:line: message` line, then exit 2."""
    for problem in exc.problems:
        click.echo(safe_plain(problem), err=True)
    files = len({p.path for p in exc.problems})
    noun = "problem" if len(exc.problems) == 1 else "problems"
    click.echo(
        f"error: {len(exc.problems)} {noun} in {files} file{'s' if files != 1 else ''}.", err=True
    )
    raise SystemExit(ExitCode.ERROR)


def _load(dirs: tuple[str, ...], builtin: bool, override: bool) -> list[Pack]:
    try:
        return load_packs(dirs, builtin=builtin, override=override)
    except RuleValidationError as exc:
        _fail_invalid(exc)
        raise  # unreachable: _fail_invalid exits


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def _indent(text: str) -> list[str]:
    """A multi-line field as indented lines, split at "\\n" only: `splitlines` also breaks at
    U+0085, U+2028 and \\x1c-\\x1e, which are then shown as \\xNN instead."""
    text = text.replace("\r\n", "\n").strip("\n")
    return [f"  {line}".rstrip() for line in text.split("\n")] if text else []


@click.group("rules", epilog=EPILOG)
def rules() -> None:
    """Validate, test, list and show rule packs.

    Built-in packs always load (unless --no-builtin); DIR arguments and --rules add custom
    packs: a directory holding a pack.yml, or a directory of such packs.
    """


@rules.command("validate", epilog=VALIDATE_EPILOG)
@click.argument("dirs", nargs=-1, type=click.Path(file_okay=False))
@click.option(
    "--builtin/--no-builtin", default=True, help="Include the built-in packs [default: include]."
)
@click.option(
    "--override", is_flag=True, help="Let a custom rule replace a built-in rule of the same id."
)
def validate_cmd(dirs: tuple[str, ...], builtin: bool, override: bool) -> None:
    """Check rule packs and report every problem as file:line: message.

    Checks keys, ids, categories, severities, prose, parameters (declared vs used in the SQL),
    that the SQL binds against the native schema, and that each rule has a positive and a
    negative test. Exit 0 when all are valid, 2 otherwise.
    """
    packs, problems = validate(dirs, builtin=builtin, override=override)
    if problems:
        _fail_invalid(RuleValidationError(problems))
    n_rules = len(all_rules(packs))
    click.echo(
        f"{len(packs)} pack{'s' if len(packs) != 1 else ''}, "
        f"{n_rules} rule{'s' if n_rules != 1 else ''}: all valid."
    )


@rules.command("test", epilog=TEST_EPILOG)
@click.argument("dirs", nargs=-1, type=click.Path(file_okay=False))
@click.option("--rule", "rule_ids", multiple=True, metavar="ID", help="Test only this rule.")
@click.option(
    "--builtin/--no-builtin", default=True, help="Include the built-in packs [default: include]."
)
@click.option(
    "--override", is_flag=True, help="Let a custom rule replace a built-in rule of the same id."
)
def test_cmd(
    dirs: tuple[str, ...], rule_ids: tuple[str, ...], builtin: bool, override: bool
) -> None:
    """Run the rules' embedded tests; a failure shows expected and actual findings.

    With DIRs only the rules of those packs are tested. Exit 0 when all pass, 1 when a test
    fails, 2 when a rule is invalid.
    """
    loaded = packs = _load(dirs, builtin, override)
    if dirs:
        # The packs found under DIRS, built-in ones too: in a checkout `rules/` is the
        # built-in folder itself, and its packs load once, as built-in.
        roots = [Path(d).resolve() for d in dirs]
        packs = [p for p in packs if p.path and _under(p.path.resolve(), roots)]
    # Checked against the packs under test: `--rule LAM001` with a custom DIR tested nothing
    # and passed.
    tested = {r.id for r in all_rules(packs)}
    known = {r.id for r in all_rules(loaded)}
    for rule_id in rule_ids:
        if rule_id not in tested and rule_id in known:
            raise ConfigError(
                f"Rule {rule_id} is not in the packs under {', '.join(dirs)}, which are the "
                "ones tested; leave out DIRS to test it, or name its pack's folder."
            )
        find_rule(packs, rule_id)
    if not all_rules(packs):
        raise ConfigError(
            "No rule to test: the loaded packs hold none (--no-builtin without DIRS?)."
        )
    results = run_tests(packs, rule_ids or None)
    for result in results:
        status = "PASS" if result.passed else "FAIL"
        click.echo(safe_plain(f"{status} {result.rule_id} {result.name}"))
        if not result.passed:
            click.echo(safe_plain(f"  at {result.location}"))
            for line in result.report().splitlines():
                click.echo(safe_plain(line))
    failed = sum(not r.passed for r in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed.")
    if failed:
        raise SystemExit(ExitCode.FINDINGS)


@rules.command("list", epilog=LIST_EPILOG)
@_pack_options
def list_cmd(rule_dirs: tuple[str, ...], override: bool, builtin: bool) -> None:
    """List the loaded rules: id, pack, category, severity and title."""
    packs = _load(rule_dirs, builtin, override)
    header = ("ID", "PACK", "CATEGORY", "SEVERITY", "TITLE")
    rows = [header] + [
        (r.id, r.pack, r.category, r.severity, r.title)
        for r in sorted(all_rules(packs), key=lambda r: r.id)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo(safe_plain("  ".join([*cells, row[-1]])))


@rules.command("show", epilog=SHOW_EPILOG)
@click.argument("rule_id", metavar="ID")
@_pack_options
def show_cmd(rule_id: str, rule_dirs: tuple[str, ...], override: bool, builtin: bool) -> None:
    """Show one rule: its documentation, parameters with defaults, and SQL."""
    rule = find_rule(_load(rule_dirs, builtin, override), rule_id)
    out = [
        f"{rule.id}: {rule.title}",
        f"pack: {rule.pack}  category: {rule.category}  severity: {rule.severity}",
        f"file: {rule.path}",
        "",
        "Description:",
        *_indent(rule.description),
        "Rationale:",
        *_indent(rule.rationale),
        "Remediation:",
        *_indent(rule.remediation),
    ]
    if rule.references:
        out += ["References:", *(f"  - {ref}" for ref in rule.references)]
    if rule.tags:
        out.append(f"Tags: {', '.join(rule.tags)}")
    out.append(f"Requires: {', '.join(rule.requires) or '(nothing)'}")
    out.append(f"Entities: {', '.join(rule.entities)}")
    if rule.evidence:
        out.append(f"Evidence: {', '.join(rule.evidence)}")
    out.append("Parameters:" if rule.params else "Parameters: (none)")
    for p in rule.params.values():
        least = f", at least {p.minimum:g}" if p.minimum is not None else ""
        line = f"  {p.name} ({p.type}, default {format_param(p.default)}{least})"
        out.append(f"{line}: {p.description}" if p.description else line)
    positive = sum(t.positive for t in rule.tests)
    out.append(
        f"Tests: {len(rule.tests)} ({positive} positive, {len(rule.tests) - positive} negative)"
    )
    out += ["SQL:", *_indent(rule.query.strip())]
    # One item, one line: a newline in a one-line field (a title) is shown as \x0a, so a rule
    # file cannot forge the `pack:` or `severity:` lines that follow it.
    click.echo("\n".join(safe_plain(line) for line in out))
