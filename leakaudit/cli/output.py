"""Where a findings document goes: report files, standard output, or the terminal summary.

Shared by `audit` and `report`, so both treat -o, --format and --redact the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from leakaudit.cli.common import safe, stderr_console, stdout_console, write_machine_output
from leakaudit.errors import ConfigError
from leakaudit.findings import FindingsDocument
from leakaudit.ingest.discover import split_name
from leakaudit.redact import redact
from leakaudit.reports import RenderOptions, Reporter, renderer_for
from leakaudit.reports.console import print_summary
from leakaudit.reports.writer import real_path, resolve_targets, write_reports, writes_to_stdout

F = TypeVar("F", bound=Callable[..., Any])
MIN_KEY_CHARS = 16
FORMATS_HELP = ".json .jsonl .csv .md .txt .html .sarif .ocsf.jsonl .junit.xml"
FORMAT_NAMES_HELP = "json, jsonl, csv, markdown, console, sarif, ocsf, junit, html"


def report_options(f: F) -> F:
    """-o/--output, --format, --redact and --redact-key."""
    f = click.option(
        "--redact-key",
        envvar="LEAKAUDIT_REDACT_KEY",
        metavar="KEY",
        default=None,
        show_envvar=True,
        help="Secret key for --redact (prefer the environment variable: a flag shows in `ps`).",
    )(f)
    f = click.option(
        "--redact",
        "redact_flag",
        is_flag=True,
        help="Replace account ids, e-mail addresses, lookup keys and client IPs with keyed "
        "pseudonyms (HMAC-SHA256), so the report can be shared.",
    )(f)
    f = click.option(
        "--format",
        "fmt",
        default=None,
        metavar="FORMAT",
        help=f"Report format for every -o FILE (with several, their extensions must agree), or "
        f"for standard output without -o: "
        f"{FORMAT_NAMES_HELP}.",
    )(f)
    return click.option(
        "-o",
        "--output",
        "outputs",
        multiple=True,
        metavar="FILE",
        help=f"Write a report; format from the extension ({FORMATS_HELP}) or --format. Repeatable.",
    )(f)


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


class Emitter:
    """Checks report flags before any work, then writes the document where they say."""

    def __init__(
        self,
        outputs: tuple[str, ...],
        fmt: str | None,
        redact_flag: bool,
        key: str | None,
        reads: Mapping[Path, str] | None = None,
        input_folders: Sequence[Path] = (),
    ):
        """`reads`: the files this run reads, each with what it is ("an input file"); a report
        over one of them would replace the evidence, so it is refused before any work. So is
        a report inside one of `input_folders` named like an input (`findings.json`): the
        next run over the folder would try to ingest it."""
        self.key = redaction_key(redact_flag, key)
        self.targets = [(o, fmt) for o in outputs]
        read = {real_path(path): what for path, what in (reads or {}).items()}
        for output in outputs:
            if output == "-":
                raise ConfigError(
                    "-o - would write a file named '-'; for a report on standard output, "
                    "leave out -o and give --format FORMAT."
                )
            what = read.get(real_path(Path(output)))
            if what is not None:
                raise ConfigError(
                    f"The report would overwrite {what} of this run; write it elsewhere.", output
                )
            folder = _input_folder_holding(Path(output), input_folders)
            if folder is not None:
                raise ConfigError(
                    f"The report would be read as an input the next time {folder} is audited "
                    "or ingested; write it outside the input folders.",
                    output,
                )
        resolve_targets(self.targets)  # a bad -o or --format fails before any work
        if fmt is not None and len(outputs) > 1:
            _refuse_format_against_extensions(fmt, outputs)
        self.stdout_reporter: Reporter | None = (
            renderer_for("-", fmt) if fmt and not outputs else None
        )

    def emit(self, doc: FindingsDocument, *, summary: bool) -> None:
        """Write the reports; the terminal summary too, unless a format goes to stdout."""
        if self.key is not None:
            doc = redact(doc, self.key)
        options = RenderOptions(base_dir=Path.cwd())
        landed: list[tuple[Path, Reporter]] = []
        try:
            written = write_reports(
                doc, self.targets, options, lambda path, r: landed.append((path, r))
            )
        except BaseException:
            # The error is printed next; first say which reports are already there.
            err = stderr_console()
            for path, reporter in landed:
                err.print(f"Wrote {safe(path)} ({reporter.name}).")
            raise
        if self.stdout_reporter is not None:
            data = self.stdout_reporter.render(doc, options)
            write_machine_output(data.decode("utf-8"), stdout_console().is_terminal)
        elif summary and not any(writes_to_stdout(path) for path, _ in written):
            # `-o /dev/stdout > out.json`: the summary after it would spoil the report there.
            print_summary(doc, stdout_console())
        err = stderr_console()
        for warning in options.warnings:
            err.print(f"warning: {safe(warning)}")
        for path, reporter in written:
            err.print(f"Wrote {safe(path)} ({reporter.name}).")


def _refuse_format_against_extensions(fmt: str, outputs: Sequence[str]) -> None:
    """--format applies to every -o; with several, one whose extension names another format
    (`-o f.json -o f.sarif --format sarif`) is almost surely a slip that would write SARIF
    into f.json, so it is refused. One -o FILE may still override its extension."""
    for output in outputs:
        try:
            named = renderer_for(output)
        except ConfigError:  # an extension no reporter claims: --format decides, as asked
            continue
        if named.name != fmt:
            raise ConfigError(
                f"--format {fmt} applies to every -o FILE, but this one's extension names "
                f"{named.name}; drop --format and let each extension choose.",
                output,
            )


def _input_folder_holding(output: Path, folders: Sequence[Path]) -> Path | None:
    """The input folder `output` would sit in, when its name has an input extension."""
    if split_name(output.name)[1] is None:
        return None
    where = real_path(output)
    return next((f for f in folders if where.is_relative_to(real_path(f))), None)
