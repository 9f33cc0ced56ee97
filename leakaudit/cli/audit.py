"""`leakaudit audit`: ingest, run the rule packs, write reports, gate a CI job."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from leakaudit import api
from leakaudit.cli.common import (
    AUDIT_DB_HELP,
    db_option,
    quiet_option,
    rule_dir_options,
    safe,
    stderr_console,
    titled_table,
)
from leakaudit.cli.ingest import counts_line
from leakaudit.cli.output import Emitter, report_options
from leakaudit.cli.progress import progress_for
from leakaudit.findings import SEVERITIES, FindingsDocument
from leakaudit.ingest import discover
from leakaudit.store import MEMORY
from leakaudit.wording import plural

F = TypeVar("F", bound=Callable[..., Any])

EPILOG = """\b
Examples:
  leakaudit audit sample_logs
  leakaudit audit logs/ --db nightly.duckdb -o findings.json -o findings.sarif --fail-on high
  leakaudit audit --db nightly.duckdb --pack staff --param LAS004.min_customers=10
  leakaudit audit logs/ --rules my_rules/ --format json > findings.json
"""


def rule_selection_options(f: F) -> F:
    """--rules, --override, --pack, --rule, --exclude and --param."""
    options = [
        click.option(
            "--pack",
            "packs",
            multiple=True,
            metavar="NAME",
            help="Run only these packs (repeatable).",
        ),
        click.option(
            "--rule",
            "rules",
            multiple=True,
            metavar="ID",
            help="Run only these rules (repeatable).",
        ),
        click.option(
            "--exclude", multiple=True, metavar="ID", help="Do not run these rules (repeatable)."
        ),
        click.option(
            "--param",
            "params",
            multiple=True,
            metavar="RULE_ID.NAME=VALUE",
            help="Set a rule parameter, type-checked against the rule (repeatable).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return rule_dir_options(f)


def profile_table(document: FindingsDocument, timings: dict[str, float]) -> Table:
    """Per-rule timings for --profile, slowest first."""
    table = titled_table("Rule timings", "rule", "status", ">findings", ">seconds")
    for r in sorted(document.run.rules, key=lambda r: (-timings.get(r.rule_id, 0), r.rule_id)):
        status = r.status if r.status == "ran" else f"skipped: {r.skipped_reason}"
        seconds = f"{timings[r.rule_id]:.3f}" if r.rule_id in timings else ""
        table.add_row(r.rule_id, safe(status), str(r.findings), seconds)
    return table


@click.command(epilog=EPILOG)
@click.argument("inputs", nargs=-1, type=click.Path(exists=True))
@db_option(help=AUDIT_DB_HELP)
@rule_selection_options
@report_options
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    default=None,
    help="Exit 1 when an unsuppressed finding of this severity or higher exists "
    "[default: findings never fail the run].",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Any row this run's ingest quarantines is an error (exit 2); rows an earlier "
    "ingest left in --db are only counted.",
)
@click.option("--profile", is_flag=True, help="Show how long each rule took.")
@quiet_option
@click.pass_context
def audit(
    ctx: click.Context,
    inputs: tuple[str, ...],
    db: str | None,
    rule_dirs: tuple[str, ...],
    override: bool,
    packs: tuple[str, ...],
    rules: tuple[str, ...],
    exclude: tuple[str, ...],
    params: tuple[str, ...],
    outputs: tuple[str, ...],
    fmt: str | None,
    redact_flag: bool,
    redact_key: str | None,
    fail_on: str | None,
    strict: bool,
    profile: bool,
    quiet: bool,
) -> None:
    """Audit logs for cross-account leaks: ingest INPUTS, run the rule packs, report.

    INPUTS (files or folders, as for `leakaudit ingest`) go into --db, else into a throw-away
    database; with --db and no INPUTS the audit covers what the database already holds. The
    built-in packs (devices, media, staff) run unless --pack/--rule/--exclude narrow them.

    The findings summary goes to the terminal, -o FILE writes reports (several allowed).
    Exit codes: 0 no unsuppressed finding at or above --fail-on, 1 such findings exist,
    2 usage, configuration, rule or input error, 70 internal error (a bug), 75 the database
    is locked by another process (try again later), 130 interrupted (Ctrl-C), 141 the
    reader of the output went away, 143 terminated (SIGTERM).
    """
    if not inputs and db is None:
        raise click.UsageError("Give INPUT files or folders, or --db with an ingested database.")
    # Bad flags fail before any work; so does a report that would replace what it audits.
    reads = {source.path: "an input file" for source in discover(list(inputs))}
    if db is not None and db != MEMORY:
        reads[Path(db)] = "the database --db"
    folders = [Path(i) for i in inputs if Path(i).is_dir()]
    emitter = Emitter(outputs, fmt, redact_flag, redact_key, reads, folders)
    err = stderr_console()
    result = api.audit(
        list(inputs),
        db=db,
        rule_dirs=list(rule_dirs),
        packs=list(packs) or None,
        rules=list(rules) or None,
        exclude=list(exclude) or None,
        override=override,
        params=list(params),
        fail_on=fail_on,
        strict=strict,
        progress=progress_for(err, quiet),
    )
    if result.ingest is not None and not quiet:
        details = (
            f"details: leakaudit status --db {shlex.quote(str(db))}"
            if db is not None and db != MEMORY
            else "the database is thrown away at exit: audit with --db FILE, then "
            "`leakaudit status --db FILE` shows them"
        )
        err.print(safe(f"{counts_line(result.ingest)} ({details})."))
    emitter.emit(result.document, summary=not quiet)
    if profile:
        err.print(profile_table(result.document, result.timings))
    if result.failing:
        err.print(
            f"{result.failing} {plural(result.failing, 'finding')} at or above {fail_on}: exit 1."
        )
    ctx.exit(result.exit_code)
