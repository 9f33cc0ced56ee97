"""`leakaudit report`: re-render a saved findings document, without the database."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from leakaudit.cli.common import safe, stderr_console, stdout_console
from leakaudit.errors import ConfigError, InputError
from leakaudit.findings import FindingsDocument
from leakaudit.redact import redact
from leakaudit.reports import RenderOptions, renderer_for
from leakaudit.reports.console import print_summary
from leakaudit.reports.writer import resolve_targets, write_reports

EPILOG = """\b
Examples:
  leakaudit report findings.json -o findings.html -o findings.sarif
  leakaudit report findings.json --format csv > findings.csv
  LEAKAUDIT_REDACT_KEY=... leakaudit report findings.json --redact -o shareable.md
"""
MIN_KEY_CHARS = 16


def load_document(path: Path) -> FindingsDocument:
    """A saved `leakaudit.findings/v1` document; InputError naming the file if it is not one."""
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"Cannot read the findings document: {exc.strerror}.", path) from exc
    except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
        raise InputError(f"Not a JSON document: {exc}.", path) from exc
    if not isinstance(data, dict):
        raise InputError("Not a leakaudit.findings/v1 document: not a JSON object.", path)
    try:
        return FindingsDocument.from_dict(data)
    except KeyError as exc:
        raise InputError(f"Not a leakaudit.findings/v1 document: missing key {exc}.", path) from exc
    except ValueError as exc:  # the schema id, or a timestamp that does not parse
        raise InputError(f"{str(exc)[:1].upper()}{str(exc)[1:]}.", path) from exc
    except (TypeError, AttributeError) as exc:  # a value of the wrong JSON type
        raise InputError(f"Not a leakaudit.findings/v1 document: {exc}.", path) from exc


def redaction_key(redact_flag: bool, key: str | None) -> bytes | None:
    """The HMAC key for --redact, or None without --redact; ConfigError if missing or short."""
    if not redact_flag:
        return None
    if not key:
        raise ConfigError("--redact needs a key: pass --redact-key or set LEAKAUDIT_REDACT_KEY.")
    if len(key) < MIN_KEY_CHARS:
        raise ConfigError(
            f"The redaction key is too short ({len(key)} characters); use at least "
            f"{MIN_KEY_CHARS} random characters, or pseudonyms can be reversed by guessing it."
        )
    return key.encode("utf-8")


@click.command(epilog=EPILOG)
@click.argument("findings", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    metavar="FILE",
    help="Write a report; format from the extension (.json .jsonl .csv .md .txt .html .sarif "
    ".ocsf.jsonl .junit.xml) or --format. Repeatable.",
)
@click.option(
    "--format",
    "fmt",
    default=None,
    metavar="FORMAT",
    help="Report format for every -o FILE, or for standard output without -o.",
)
@click.option(
    "--redact",
    "redact_flag",
    is_flag=True,
    help="Replace account ids, e-mail addresses, lookup keys and client IPs with keyed "
    "pseudonyms (HMAC-SHA256), so the report can be shared.",
)
@click.option(
    "--redact-key",
    envvar="LEAKAUDIT_REDACT_KEY",
    metavar="KEY",
    default=None,
    show_envvar=True,
    help="Secret key for --redact (prefer the environment variable: a flag shows in `ps`).",
)
def report(
    findings: Path,
    outputs: tuple[str, ...],
    fmt: str | None,
    redact_flag: bool,
    redact_key: str | None,
) -> None:
    """Render the saved findings document FINDINGS (from `audit -o FILE.json`) again.

    Without -o the summary goes to the terminal, or the --format report to standard output.
    No database is needed. Exit codes: 0 reports written, 2 unreadable document or bad flags.
    """
    key = redaction_key(redact_flag, redact_key)
    targets = [(o, fmt) for o in outputs]
    resolve_targets(targets)  # a bad -o or --format fails before any work
    stdout_reporter = renderer_for("-", fmt) if fmt and not outputs else None
    doc = load_document(findings)
    if key is not None:
        doc = redact(doc, key)
    options = RenderOptions(base_dir=Path.cwd())
    written = write_reports(doc, targets, options)
    if stdout_reporter is not None:
        sys.stdout.buffer.write(stdout_reporter.render(doc, options))
        sys.stdout.flush()
    elif not outputs:
        print_summary(doc, stdout_console())
    err = stderr_console()
    for warning in options.warnings:
        err.print(f"warning: {safe(warning)}")
    for path, reporter in written:
        err.print(f"Wrote {safe(path)} ({reporter.name}).")
