"""The exit code is the run's, whatever happens to the standard streams around it.

A CI job reads exit 1 as "findings exist". A standard error that cannot be written (a full
log volume, `2>/dev/full`) turned any run into a traceback and 1, a passing audit included; a
Ctrl-C while the libraries still loaded did too. A standard stream closed at start
(`2>&-`) must not let the next file opened take its place.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from audit_helpers import REPO

from leakaudit.errors import INTERRUPTED

SAMPLE = REPO / "sample_logs"
ENTRY = "from leakaudit.cli.main import main; main()"
# Makes `import duckdb` raise KeyboardInterrupt: a Ctrl-C that lands while the CLI loads.
CTRL_C_WHILE_LOADING = """
import sys
class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "duckdb":
            raise KeyboardInterrupt
sys.meta_path.insert(0, CtrlC())
"""
FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full (Linux)")


def _run(args: list[str], code: str = ENTRY, **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, "PYTHONPATH": str(REPO), "LEAKAUDIT_DB": ""},
        timeout=120,
        **kwargs,  # type: ignore[call-overload]
    )


def _shell(command: str, tmp_path: Path) -> int:
    """`command` after `leakaudit`, with the shell's own redirections (`2>&-`)."""
    line = f'"{sys.executable}" -c "{ENTRY}" {command}'
    env = {**os.environ, "PYTHONPATH": str(REPO), "LEAKAUDIT_DB": ""}
    return subprocess.run(["bash", "-c", line], env=env, cwd=tmp_path, timeout=120).returncode


def _not_a_table(tmp_path: Path) -> Path:
    path = tmp_path / "weird.csv"
    path.write_text("a,b\n1,2\n")
    return path


@needs_dev_full
@pytest.mark.parametrize(
    ("args", "code"),
    [(["-q"], 0), (["-q", "--fail-on", "high"], 1), ([], 0)],
    ids=["pass", "gate", "summary-and-progress"],
)
def test_an_unwritable_standard_error_leaves_the_audit_exit_code_alone(
    tmp_path: Path, args: list[str], code: int
) -> None:
    report = tmp_path / "findings.json"
    with FULL.open("w") as full:
        proc = _run(
            ["audit", str(SAMPLE), "-o", str(report), *args], stderr=full, stdout=subprocess.DEVNULL
        )
    assert proc.returncode == code
    assert report.stat().st_size > 0


@needs_dev_full
def test_an_error_that_cannot_be_shown_is_still_exit_2(tmp_path: Path) -> None:
    with FULL.open("w") as full:
        proc = _run(
            ["ingest", str(_not_a_table(tmp_path)), "--db", str(tmp_path / "x.duckdb")], stderr=full
        )
    assert proc.returncode == 2


def test_a_closed_standard_stream_is_held_so_no_file_takes_its_place(tmp_path: Path) -> None:
    """With descriptor 2 closed, the next file opened (the database) would become descriptor
    2, and anything written to standard error would land in it."""
    code = (
        "import os; from leakaudit.cli.main import hold_closed_streams; hold_closed_streams(); "
        "print(os.open('opened', os.O_CREAT | os.O_WRONLY))"
    )
    line = f'"{sys.executable}" -c "{code}" 2>&- 0<&-'
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        ["bash", "-c", line], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (proc.returncode, int(proc.stdout)) == (0, 3)


def test_with_standard_error_closed_the_commands_still_work(tmp_path: Path) -> None:
    db = tmp_path / "audit.duckdb"
    assert _shell(f'ingest "{SAMPLE}" --db "{db}" -q 2>&-', tmp_path) == 0
    assert _shell(f'ingest "{_not_a_table(tmp_path)}" --db "{db}" 2>&-', tmp_path) == 2
    assert _shell(f'audit --db "{db}" -q --fail-on high 2>&- >&-', tmp_path) == 1
    status = _run(["status", "--db", str(db)], capture_output=True, text=True)
    assert status.returncode == 0, status.stderr


def test_ctrl_c_while_the_cli_loads_is_one_line_and_exit_130(tmp_path: Path) -> None:
    code = CTRL_C_WHILE_LOADING + ENTRY
    proc = _run(["audit", str(SAMPLE)], code=code, capture_output=True, text=True)
    assert (proc.returncode, proc.stderr, proc.stdout) == (130, f"{INTERRUPTED}\n", "")


def test_with_standard_error_closed_no_error_text_lands_on_standard_output(
    tmp_path: Path,
) -> None:
    """click falls back to standard output when standard error is missing: a usage error
    would then land where a report or a query's CSV is going."""
    out = tmp_path / "out.txt"
    assert _shell(f'audit "{SAMPLE}" --fail-on bogus 2>&- > "{out}"', tmp_path) == 2
    assert out.read_text() == ""


@needs_dev_full
@pytest.mark.parametrize(
    "args",
    [["rules", "list"], ["status"], ["query", "SELECT 1 AS n", "--format", "csv"]],
    ids=["click-echo", "rich", "machine-output"],
)
def test_a_standard_output_that_cannot_be_written_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str]
) -> None:
    """`leakaudit query … > out.csv` on a full disk was a traceback, exit 70 and "a bug in
    leakaudit, please report it": a full disk is no bug, and the line must say what failed."""
    from leakaudit import api

    db = tmp_path / "a.duckdb"
    (tmp_path / "devices.csv").write_text("device_id,account_id,registered_at\nc,A,2024-01-01\n")
    api.ingest([tmp_path / "devices.csv"], db=db)
    db_args = [] if args[0] == "rules" else ["--db", str(db)]
    with FULL.open("w") as full:
        proc = _run([*args, *db_args], stdout=full, stderr=subprocess.PIPE, text=True)
    assert (proc.returncode, proc.stderr) == (
        2,
        "error: Cannot write to standard output: No space left on device.\n",
    )


def _shell_stderr(command: str, tmp_path: Path) -> tuple[int, str]:
    line = f'"{sys.executable}" -c "{ENTRY}" {command}'
    env = {**os.environ, "PYTHONPATH": str(REPO), "LEAKAUDIT_DB": ""}
    proc = subprocess.run(
        ["bash", "-c", line], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    return proc.returncode, proc.stderr


CLOSED_LINE = (
    "error: Cannot write to standard output: it was closed when leakaudit started (>&-).\n"
)


@pytest.mark.parametrize(
    "command",
    [
        'audit "{sample}" -q --format json >&-',
        'query "SELECT 1 AS n" --db "{db}" --format csv >&-',
        'status --db "{db}" >&-',
        "--version >&-",
    ],
    ids=["audit", "query", "status", "version"],
)
def test_a_result_for_a_closed_standard_output_is_exit_2_not_lost(
    tmp_path: Path, command: str
) -> None:
    """`leakaudit audit … --format json >&-` dropped the findings and exited 0."""
    from leakaudit import api

    db = tmp_path / "a.duckdb"
    (tmp_path / "devices.csv").write_text("device_id,account_id,registered_at\nc,A,2024-01-01\n")
    api.ingest([tmp_path / "devices.csv"], db=db)
    line = command.format(sample=SAMPLE, db=db)
    assert _shell_stderr(line, tmp_path) == (2, CLOSED_LINE)


def test_with_standard_output_closed_a_run_that_prints_nothing_there_passes(
    tmp_path: Path,
) -> None:
    out = tmp_path / "f.json"
    assert _shell_stderr(f'audit "{SAMPLE}" -q -o "{out}" >&-', tmp_path) == (
        0,
        f"Wrote {out} (json).\n",
    )


@needs_dev_full
@pytest.mark.parametrize("args", [["--help"], ["--version"], ["audit", "--help"]])
def test_help_or_version_into_a_full_disk_is_one_line_and_exit_2(args: list[str]) -> None:
    """click prints these before any command runs: that was a traceback and exit 1."""
    with FULL.open("w") as full:
        proc = _run(args, stdout=full, stderr=subprocess.PIPE, text=True)
    assert (proc.returncode, proc.stderr) == (
        2,
        "error: Cannot write to standard output: No space left on device.\n",
    )


def test_an_ascii_locale_is_no_internal_error(tmp_path: Path) -> None:
    """`LC_ALL=C` with `PYTHONUTF8=0` made standard output strict ASCII: the summary's first
    `…` was a UnicodeEncodeError, a traceback and exit 70."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "LANG")}
    env.update(
        LC_ALL="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0", PYTHONPATH=str(REPO), COLUMNS="80"
    )
    proc = subprocess.run(
        [sys.executable, "-c", ENTRY, "audit", str(SAMPLE)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    text = proc.stdout.decode("ascii")  # strict: nothing but ASCII reached the stream
    assert "159 findings; 15 rules ran, 0 skipped" in text
    assert "\\u2026" in text  # a cut value, its ellipsis escaped


def test_with_standard_output_closed_a_report_into_dev_null_passes(tmp_path: Path) -> None:
    """Descriptor 1 is held on /dev/null, so `-o /dev/null` looked like the closed stream."""
    assert _shell_stderr(f'audit "{SAMPLE}" -q --format json -o /dev/null >&-', tmp_path) == (
        0,
        "Wrote /dev/null (json).\n",
    )
    assert _shell_stderr(f'audit "{SAMPLE}" -q --format json -o /dev/stdout >&-', tmp_path) == (
        2,
        CLOSED_LINE,
    )


def test_an_audit_without_an_html_report_does_not_import_matplotlib(tmp_path: Path) -> None:
    """matplotlib cost every `-o` run ~0.5 s and warned about its cache folder (HOME)."""
    code = (
        "import sys; from leakaudit.cli.main import main\n"
        "try:\n    main()\n"
        "finally:\n    print('matplotlib' in sys.modules, file=sys.stderr)"
    )
    out = tmp_path / "f.sarif"
    proc = _run(["audit", str(SAMPLE), "-q", "-o", str(out)], code=code, capture_output=True)
    assert proc.stderr.decode().splitlines()[-1] == "False", proc.stderr
    html = _run(
        ["audit", str(SAMPLE), "-q", "-o", str(tmp_path / "r.html")], code=code, capture_output=True
    )
    assert html.stderr.decode().splitlines()[-1] == "True"  # the check can see it
