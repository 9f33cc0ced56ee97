"""The `leakaudit` command group; `LeakauditGroup` is where errors become exit codes."""

from __future__ import annotations

import click

from leakaudit import __version__
from leakaudit.cli.audit import audit
from leakaudit.cli.common import LeakauditGroup
from leakaudit.cli.ingest import ingest
from leakaudit.cli.query import query
from leakaudit.cli.report import report
from leakaudit.cli.rules import rules
from leakaudit.cli.status import status

EPILOG = """\b
Examples:
  leakaudit audit sample_logs -o findings.json
  leakaudit ingest logs/ --db audit.duckdb
  leakaudit query "SELECT action, count(*) FROM access_events GROUP BY 1" --db audit.duckdb
"""


@click.group(
    cls=LeakauditGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="leakaudit")
def cli() -> None:
    """Find cross-account leaks in camera and IoT cloud logs.

    Ingest registry dumps and access logs into DuckDB, run rule packs that flag duplicate
    device ids, media served to non-owners and staff access without consent, and write
    findings reports. Exit codes: 0 no finding at or above --fail-on, 1 such findings,
    2 usage, configuration, rule or input error, 70 internal error (a bug: please report
    it), 75 the database is locked by another process (try again later), 130 interrupted
    (Ctrl-C), 141 the reader of the output went away (`| head`), 143 terminated (SIGTERM,
    a CI timeout).
    """


cli.add_command(audit)
cli.add_command(ingest)
cli.add_command(query)
cli.add_command(report)
cli.add_command(rules)
cli.add_command(status)
