"""Edges of the CLI contract (SPEC §5) that used to pass silently, end in a traceback or exit 1.

Each of these let a CI gate go green on a mistake, or read as "findings exist": an audit of a
mistyped database, an empty `--db`, a rule selection that runs nothing, a report under a
file, a memory limit DuckDB cannot open a database with, and Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from audit_helpers import REPO, run_cli, runner
from ingest_helpers import write_table

from leakaudit.cli.commands import cli
from leakaudit.errors import INTERRUPTED, TERMINATED, InputError
from leakaudit.store import Store, database_file

DEVICES = [
    {"device_id": "cam-1", "account_id": "A-1", "registered_at": "2024-01-01T00:00:00Z"},
]
EVENTS = [
    {"ts": "2024-01-02T10:00:00Z", "account_id": "A-2", "device_id": "cam-1", "action": "clip"},
]
# The CLI in a process of its own, as a user's shell runs it (a signal needs a real process).
LEAKAUDIT = [sys.executable, "-c", "from leakaudit.cli.main import main; main()"]
NO_DATABASE = "No leakaudit database here; run `leakaudit ingest` first, or check the --db path."
NOT_LEAKAUDIT = (
    "This DuckDB database is not a leakaudit database (it holds {tables}); leakaudit does not "
    "add its tables to another program's database. Pass a new file or a leakaudit database."
)
EMPTY_DB = (
    "error: --db is empty (an unset variable?); name a database file, or ':memory:' for a "
    "throw-away one.\n"
)


@pytest.fixture
def world(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_table(logs, "devices", DEVICES, "csv")
    write_table(logs, "access_events", EVENTS, "jsonl")
    return logs


@pytest.fixture
def db(tmp_path: Path, world: Path) -> Path:
    path = tmp_path / "audit.duckdb"
    result = run_cli(["ingest", world, "--db", path, "-q"])
    assert result.exit_code == 0, result.output
    return path


# --- audit --db without inputs --------------------------------------------------------------


def test_audit_of_a_missing_database_is_exit_2_and_creates_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "typo.duckdb"
    result = run_cli(["audit", "--db", typo, "--fail-on", "info", "-q"])
    assert (result.exit_code, result.stderr, result.stdout) == (
        2,
        f"error: {typo}: {NO_DATABASE}\n",
        "",
    )
    assert list(tmp_path.iterdir()) == []


def test_audit_of_a_fresh_memory_database_without_inputs_is_exit_2() -> None:
    result = run_cli(["audit", "--db", ":memory:", "--fail-on", "info", "-q"])
    assert (result.exit_code, result.stderr, result.stdout) == (
        2,
        "error: --db :memory: with no INPUTS audits an empty database; give INPUTS.\n",
        "",
    )


def test_audit_with_inputs_still_creates_the_database(tmp_path: Path, world: Path) -> None:
    new = tmp_path / "new.duckdb"
    result = run_cli(["audit", world, "--db", new, "-q"])
    assert result.exit_code == 0, result.output
    assert new.is_file()


# --- an empty --db --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["ingest", "{world}"], ["audit", "{world}"], ["status"], ["query", "SELECT 1"]],
    ids=["ingest", "audit", "status", "query"],
)
def test_an_empty_db_is_refused(world: Path, args: list[str]) -> None:
    argv = [a.replace("{world}", str(world)) for a in args]
    result = run_cli([*argv, "--db", ""])
    assert (result.exit_code, result.stderr, result.stdout) == (2, EMPTY_DB, "")


def test_memory_db_still_works(world: Path) -> None:
    ingested = run_cli(["ingest", world, "--db", ":memory:", "-q"])
    assert (ingested.exit_code, ingested.stdout) == (
        0,
        "2 rows ingested from 2 files, 0 quarantined, 0 already ingested.\n",
    )
    assert run_cli(["status", "--db", ":memory:"]).exit_code == 0


def test_one_row_from_one_file_reads_in_the_singular(world: Path) -> None:
    ingested = run_cli(["ingest", world / "devices.csv", "--db", ":memory:", "-q"])
    assert (ingested.exit_code, ingested.stdout) == (
        0,
        "1 row ingested from 1 file, 0 quarantined, 0 already ingested.\n",
    )
    audited = run_cli(["audit", world / "devices.csv", "--format", "json"])
    assert audited.exit_code == 0, audited.output
    assert "1 row ingested from 1 file, 0 quarantined, 0 already ingested" in audited.stderr


@pytest.mark.parametrize("group", [[], ["rules"]], ids=["leakaudit", "rules"])
def test_a_group_without_a_command_is_a_usage_error(group: list[str]) -> None:
    # A CI step that lost its command must fail, not pass on printed help.
    result = run_cli(group)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Usage: " in result.stderr and "Commands:" in result.stderr


NOT_DUCKDB = (
    "This file is not a DuckDB database (a report, a log or another program's file?); --db "
    "names the database `leakaudit ingest` or `audit --db` writes."
)


@pytest.mark.parametrize("kind", ["findings", "sqlite"])
@pytest.mark.parametrize(
    "args",
    [["ingest", "{world}"], ["audit"], ["status"], ["query", "SELECT 1"]],
    ids=["ingest", "audit", "status", "query"],
)
def test_a_db_that_is_not_a_duckdb_file_is_named_so(
    world: Path, tmp_path: Path, kind: str, args: list[str]
) -> None:
    # DuckDB said "Cannot launch in-memory database in read-only mode!" for findings.json,
    # "Loading external extensions is disabled" for SQLite, and opened JSON as a table.
    path = tmp_path / ("findings.json" if kind == "findings" else "other.db")
    if kind == "findings":
        path.write_text('{"schema": "leakaudit.findings/v1", "findings": []}\n')
    else:
        sqlite3.connect(path).execute("CREATE TABLE t (a)").connection.commit()
    before = path.read_bytes()
    argv = [a.replace("{world}", str(world)) for a in args]
    result = run_cli([*argv, "--db", path])
    assert (result.exit_code, result.stderr) == (2, f"error: {path}: {NOT_DUCKDB}\n")
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [["ingest", "{world}"], ["audit", "{world}"], ["audit"], ["status"], ["query", "SELECT 1"]],
    ids=["ingest", "audit inputs", "audit", "status", "query"],
)
def test_a_db_another_process_holds_is_exit_75_naming_it(
    world: Path, tmp_path: Path, args: list[str]
) -> None:
    """A nightly run still going: DuckDB's "Could not set lock on file … See also https://…"
    was exit 2, which a scheduler cannot tell from a mistake; 75 says "try again later"."""
    db = tmp_path / "nightly.duckdb"
    assert run_cli(["ingest", world, "--db", db, "-q"]).exit_code == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
            "print('open', flush=True); sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        before = db.read_bytes()
        argv = [a.replace("{world}", str(world)) for a in args]
        result = run_cli([*argv, "--db", db])
    finally:
        holder.communicate("", timeout=60)
    assert (result.exit_code, result.stderr) == (
        75,
        f"error: {db}: The database is locked by another process that has it open "
        f"(PID {holder.pid}, {Path(sys.executable).resolve().name}). Nothing was done; try "
        "again when that process ends.\n",
    )
    assert db.read_bytes() == before


def test_one_failing_finding_reads_in_the_singular(world: Path, tmp_path: Path) -> None:
    # The world's one access is A-2 opening a clip of A-1's camera: one LAM001 finding.
    junit = tmp_path / "gate.junit.xml"
    audited = run_cli(["audit", world, "--fail-on", "high", "-o", junit, "-q"])
    assert audited.exit_code == 1, audited.output
    assert audited.stderr.splitlines()[-1] == "1 finding at or above high: exit 1."
    assert 'message="1 media_to_non_owner finding, worst severity high."' in junit.read_text()


def test_the_audit_names_its_database_in_a_command_that_pastes(world: Path, tmp_path: Path) -> None:
    # A path with a space and rich markup: quoted for the shell, shown as typed.
    db = tmp_path / "night [bold]run.duckdb"
    audited = run_cli(["audit", world, "--db", db, "--format", "json"])
    assert audited.exit_code == 0, audited.output
    assert audited.stderr.splitlines()[0] == (
        "2 rows ingested from 2 files, 0 quarantined, 0 already ingested "
        f"(details: leakaudit status --db '{db}')."
    )


# --- a rule selection that matches no rule --------------------------------------------------


@pytest.mark.parametrize(
    "selection",
    [["--pack", "staff", "--rule", "LAM001"], ["--rule", "LAM001", "--exclude", "LAM001"]],
    ids=["rule-outside-pack", "rule-excluded"],
)
def test_audit_selecting_no_rule_is_exit_2(db: Path, selection: list[str]) -> None:
    result = run_cli(["audit", "--db", db, *selection, "--fail-on", "info", "-q"])
    assert (result.exit_code, result.stderr, result.stdout) == (
        2,
        f"error: The rule selection {' '.join(selection)} matches no rule; nothing would run.\n",
        "",
    )


def test_rules_test_of_a_rule_outside_the_dirs_is_exit_2() -> None:
    acme = REPO / "tests" / "fixtures" / "rulepacks" / "acme"
    result = run_cli(["rules", "test", acme, "--rule", "LAM001"])
    # It tested nothing and passed once; "Unknown rule" then sent people after a typo.
    assert (result.exit_code, result.stderr, result.stdout) == (
        2,
        f"error: Rule LAM001 is not in the packs under {acme}, which are the ones tested; "
        "leave out DIRS to test it, or name its pack's folder.\n",
        "",
    )


def test_rules_test_with_no_rule_loaded_is_exit_2() -> None:
    result = run_cli(["rules", "test", "--no-builtin"])
    assert (result.exit_code, result.stderr, result.stdout) == (
        2,
        "error: No rule to test: the loaded packs hold none (--no-builtin without DIRS?).\n",
        "",
    )


# --- a report under a file ------------------------------------------------------------------


def test_report_under_a_regular_file_is_one_line_exit_2(tmp_path: Path, world: Path) -> None:
    (tmp_path / "ro.json").touch()
    target = tmp_path / "ro.json" / "x.json"
    result = run_cli(["audit", world, "-q", "-o", target])
    assert (result.exit_code, result.stderr, result.stdout) == (
        2,
        f"error: {target}: Cannot write the report: Not a directory.\n",
        "",
    )


def test_report_over_a_folder_is_refused_before_any_work(tmp_path: Path, world: Path) -> None:
    (tmp_path / "findings.json").mkdir()
    target = tmp_path / "findings.json"
    result = run_cli(["audit", world, "-o", target])
    assert (result.exit_code, result.stderr, result.stdout) == (
        2,
        f"error: {target}: Cannot write the report: Is a directory.\n",
        "",
    )


# --- a report over a file the run reads -----------------------------------------------------


def _refused_and_kept(args: list[object], kept: Path, what: str) -> None:
    """The audit or report is exit 2 before any work, and `kept` is byte for byte as before."""
    before = kept.read_bytes()
    result = run_cli(args)
    assert (result.exit_code, result.stderr, result.stdout) == (
        2,
        f"error: {kept}: The report would overwrite {what} of this run; write it elsewhere.\n",
        "",
    )
    assert kept.read_bytes() == before


def test_a_report_over_the_database_is_exit_2_and_keeps_it(db: Path) -> None:
    args = ["audit", "--db", db, "--format", "json", "-o", db, "-q"]
    _refused_and_kept(args, db, "the database --db")


@pytest.mark.parametrize("given", ["file", "folder"])
def test_a_report_over_an_input_is_exit_2_and_keeps_it(world: Path, given: str) -> None:
    devices = next(world.glob("devices.*"))
    inputs = devices if given == "file" else world
    args = ["audit", inputs, "--format", "csv", "-o", devices, "-q"]
    _refused_and_kept(args, devices, "an input file")


@pytest.mark.parametrize("name", ["findings.json", "sub/findings.csv.gz"])
def test_a_report_named_like_an_input_inside_an_input_folder_is_exit_2(
    world: Path, name: str
) -> None:
    """Tonight it would be written; tomorrow night's audit of the folder would fail on it."""
    report = world / name
    result = run_cli(["audit", world, "-q", "--format", "json", "-o", report])
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {report}: The report would be read as an input the next time {world} is "
        "audited or ingested; write it outside the input folders.\n",
    )
    assert not report.exists()
    # Beside the folder, or with a name no ingest reads, the report is written.
    for elsewhere in (world.parent / name.replace("/", "-"), world / "findings.html"):
        assert run_cli(["audit", world, "-q", "--format", "json", "-o", elsewhere]).exit_code == 0
        assert elsewhere.exists()


def test_a_report_over_its_findings_document_is_exit_2_and_keeps_it(
    tmp_path: Path, world: Path
) -> None:
    document = tmp_path / "findings.json"
    assert run_cli(["audit", world, "-q", "-o", document]).exit_code == 0
    args = ["report", document, "--format", "csv", "-o", document]
    _refused_and_kept(args, document, "an input file")


# --- LEAKAUDIT_MEMORY_LIMIT and DuckDB errors while opening ---------------------------------


@pytest.mark.parametrize("limit", ["1KB", "1MB", "63MB", "60MiB"])
@pytest.mark.parametrize("command", [["status"], ["audit", "-q"]], ids=["status", "audit"])
def test_a_memory_limit_below_the_minimum_is_refused(
    db: Path, command: list[str], limit: str
) -> None:
    result = run_cli([*command, "--db", db], LEAKAUDIT_MEMORY_LIMIT=limit)
    assert (result.exit_code, result.stderr, result.stdout) == (
        2,
        f"error: LEAKAUDIT_MEMORY_LIMIT must be at least 64MB, not '{limit}'.\n",
        "",
    )


def test_the_minimum_memory_limit_is_accepted(db: Path) -> None:
    result = run_cli(
        ["audit", "--db", db, "-q", "--fail-on", "info"], LEAKAUDIT_MEMORY_LIMIT="64MB"
    )
    assert result.exit_code == 1, result.output  # cam-1's clip was served to a stranger


def test_a_foreign_duckdb_file_is_a_store_error(tmp_path: Path, world: Path) -> None:
    """A DuckDB error while migrating is one line naming the database, not a traceback."""
    foreign = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(foreign)) as con:
        con.execute("CREATE VIEW schema_version AS SELECT 0 AS version")
    result = run_cli(["ingest", world, "--db", foreign, "-q"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {foreign}: Cannot open the database: Catalog Error")
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


def _tables(path: Path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [
            r[0]
            for r in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
        ]


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "{world}"],
        ["audit", "{world}", "--fail-on", "info"],
        ["audit", "--fail-on", "info"],
        ["status"],
        ["query", "SELECT 1"],
    ],
    ids=["ingest", "audit-inputs", "audit", "status", "query"],
)
def test_another_programs_duckdb_file_is_refused_and_left_alone(
    tmp_path: Path, world: Path, args: list[str]
) -> None:
    """Someone else's database must not get leakaudit's tables, nor pass an empty audit."""
    theirs = tmp_path / "theirs.duckdb"
    with duckdb.connect(str(theirs)) as con:
        con.execute("CREATE TABLE orders AS SELECT 1 AS id")
    argv = [a.replace("{world}", str(world)) for a in args]
    result = run_cli([*argv, "--db", theirs])
    assert (result.exit_code, result.stderr, result.stdout) == (
        2,
        f"error: {theirs}: {NOT_LEAKAUDIT.format(tables='orders')}\n",
        "",
    )
    assert _tables(theirs) == ["orders"]


def test_audit_of_a_blank_duckdb_file_without_inputs_is_exit_2(tmp_path: Path) -> None:
    """A blank DuckDB file holds no data: auditing it would pass any --fail-on gate."""
    blank = tmp_path / "blank.duckdb"
    duckdb.connect(str(blank)).close()
    result = run_cli(["audit", "--db", blank, "--fail-on", "info", "-q"])
    assert (result.exit_code, result.stderr, result.stdout) == (
        2,
        f"error: {blank}: {NO_DATABASE}\n",
        "",
    )
    assert _tables(blank) == []


@pytest.mark.parametrize("command", [["status"], ["query", "SELECT 1"]], ids=["status", "query"])
def test_a_database_of_a_newer_leakaudit_asks_for_an_upgrade(db: Path, command: list[str]) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("INSERT INTO schema_version VALUES (99, current_timestamp)")
    result = run_cli([*command, "--db", db])
    assert (result.exit_code, result.stderr, result.stdout) == (
        2,
        f"error: {db}: The database has schema version 99, newer than this leakaudit (1); "
        "upgrade leakaudit.\n",
        "",
    )


# --- a failed first ingest removes what it created, and only that ---------------------------


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    """An input that --strict refuses: its one row is quarantined."""
    path = tmp_path / "bad" / "devices.csv"
    path.parent.mkdir()
    path.write_text("device_id,account_id,registered_at\ncam-1,A-1,not a time\n")
    return path


def test_a_failed_first_ingest_through_a_dangling_link_removes_the_file_not_the_link(
    tmp_path: Path, bad: Path
) -> None:
    """DuckDB creates the link's target; that file goes, the user's link stays."""
    target, link = tmp_path / "target.duckdb", tmp_path / "link.duckdb"
    link.symlink_to(target)
    assert run_cli(["ingest", bad, "--db", link, "--strict", "-q"]).exit_code == 2
    assert link.is_symlink()
    assert not target.exists()


def test_a_failed_first_ingest_under_a_tilde_removes_the_file_duckdb_made(
    tmp_path: Path, bad: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB expands `~` itself, e.g. in a LEAKAUDIT_DB that no shell expanded."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    assert run_cli(["ingest", bad, "--db", "~/new.duckdb", "--strict", "-q"]).exit_code == 2
    assert list(home.iterdir()) == []


def test_a_tilde_without_home_is_the_file_duckdb_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    """With HOME unset (a service started without a user) DuckDB puts nothing before the rest
    of `~/x.duckdb`, so it opens /x.duckdb; Python's `expanduser` would look in the account's
    home instead, and a failed first ingest left /x.duckdb behind."""
    monkeypatch.delenv("HOME", raising=False)
    assert database_file("~/x.duckdb") == Path("/x.duckdb")


def test_a_database_that_appears_before_the_connect_is_not_deleted(
    tmp_path: Path, world: Path, bad: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run may create the file between the existence check and DuckDB's open: it was
    not created by this run, so this run's failure must not delete it."""
    path = tmp_path / "shared.duckdb"
    connect = duckdb.connect

    def another_run_first(database: str, *args: object, **kwargs: object) -> object:
        if not os.path.exists(database):
            monkeypatch.setattr(duckdb, "connect", connect)
            assert run_cli(["ingest", world, "--db", path, "-q"]).exit_code == 0
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", another_run_first)
    assert run_cli(["ingest", bad, "--db", path, "--strict", "-q"]).exit_code == 2
    assert _tables(path) != []
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM devices").fetchall() == [(1,)]


# --- Ctrl-C ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raised",
    [
        KeyboardInterrupt(),
        RuntimeError("Query interrupted"),  # how DuckDB reports a SIGINT during a query
        InputError("Cannot read this csv file: INTERRUPT Error", "x.csv"),
    ],
    ids=["keyboard", "duckdb-runtime", "wrapped"],
)
def test_an_interrupt_is_exit_130_with_one_line(
    monkeypatch: pytest.MonkeyPatch, world: Path, raised: BaseException
) -> None:
    if isinstance(raised, InputError):
        raised.__cause__ = duckdb.InterruptException("INTERRUPT Error: Interrupted!")

    def interrupted(*args: object, **kwargs: object) -> None:
        raise raised

    monkeypatch.setattr("leakaudit.api.ingest", interrupted)
    result = runner().invoke(cli, ["ingest", str(world), "--db", ":memory:"])
    assert (result.exit_code, result.stderr, result.stdout) == (130, f"{INTERRUPTED}\n", "")


def test_a_runtime_error_that_is_no_interrupt_is_not_hidden(
    monkeypatch: pytest.MonkeyPatch, world: Path
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("leakaudit.api.ingest", broken)
    result = runner().invoke(cli, ["ingest", str(world), "--db", ":memory:"])
    assert result.exit_code == 70  # a bug, shown as one: not an interrupt (130)
    assert "RuntimeError: a bug" in result.stderr
    assert INTERRUPTED not in result.stderr


def _has_open(pid: int, path: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.path.realpath(fd) == str(path) for fd in fds.iterdir())
    except OSError:  # the process is gone, or a descriptor closed while we looked
        return False


def _big_access_events(tmp_path: Path) -> Path:
    big = (tmp_path / "access_events.csv").resolve()
    duckdb.sql(
        f"""
        COPY (
            SELECT '2024-01-02T10:00:00Z' AS ts, 'A-' || (i % 997) AS account_id,
                'cam-' || (i % 313) AS device_id, 'clip' AS action
            FROM range(1500000) AS t(i)
        ) TO '{big}' (HEADER)
        """
    )
    return big


def _signalled(
    args: list[str], busy_with: Path, sig: signal.Signals, settle: float, **env: str
) -> tuple[int, str, str]:
    """Run `leakaudit ARGS` in a process of its own, send `sig` once it has `busy_with` open
    and `settle` seconds have passed; its exit code, stderr and stdout."""
    proc = subprocess.Popen(
        [*LEAKAUDIT, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO), "LEAKAUDIT_DB": "", **env},
    )
    deadline = time.monotonic() + 20
    while (
        not _has_open(proc.pid, busy_with) and proc.poll() is None and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    time.sleep(settle)
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return proc.returncode, err.decode(), out.decode()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_ctrl_c_during_an_ingest_exits_130_and_leaves_the_database_as_it_was(
    tmp_path: Path, db: Path
) -> None:
    before = run_cli(["status", "--db", db]).stdout
    big = _big_access_events(tmp_path)
    # settle: the ingest has begun reading; it takes seconds to finish
    result = _signalled(["ingest", str(big), "--db", str(db), "-q"], big, signal.SIGINT, 0.2)
    assert result == (130, f"{INTERRUPTED}\n", "")
    assert run_cli(["status", "--db", db]).stdout == before


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("command", ["audit", "ingest"])
def test_sigterm_stops_like_ctrl_c_and_leaves_nothing_behind(tmp_path: Path, command: str) -> None:
    """A CI job's timeout sends SIGTERM. Python's default ends the process on the spot, which
    left an in-memory audit's spill folder (gigabytes at scale) and a half-made database."""
    big = _big_access_events(tmp_path)
    temp = tmp_path / "tmp"
    temp.mkdir()
    db = tmp_path / "new.duckdb"
    args = (
        ["audit", str(big), "-q"] if command == "audit" else ["ingest", str(big), "--db", str(db)]
    )
    # settle: reading has begun; the whole run takes seconds
    result = _signalled(args, big, signal.SIGTERM, 0.2, TMPDIR=str(temp))
    assert result == (143, f"{TERMINATED}\n", "")
    assert list(temp.iterdir()) == []
    assert not db.exists()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    ("sig", "code", "message"),
    [(signal.SIGINT, 130, INTERRUPTED), (signal.SIGTERM, 143, TERMINATED)],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_stops_a_long_query_at_once(
    db: Path, sig: signal.Signals, code: int, message: str
) -> None:
    """DuckDB looks for a signal only between its tasks: this join, minutes of work, used to
    run to its end after Ctrl-C, and past a CI timeout's grace period after SIGTERM."""
    sql = "SELECT sum(a.range * b.range) FROM range(200000) AS a, range(100000) AS b"
    # settle: the join is running; alone it takes minutes, longer than _signalled waits
    result = _signalled(["query", sql, "--db", str(db)], db, sig, 1.0)
    assert result == (code, f"{message}\n", "")


WATCHED_QUERY = """
import os, signal, sys, threading, time
from leakaudit import interrupts
from leakaudit.store import Store
interrupts.enable()
signal.signal(signal.SIGUSR1, lambda *_: None)
def poke():
    for _ in range(20):
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGUSR1)
with Store.open(":memory:") as store:
    threading.Thread(target=poke).start()
    start = time.monotonic()
    total = store.con.execute(
        "SELECT sum(a.range * b.range) FROM range(30000) AS a, range(30000) AS b"
    ).fetchall()[0][0]
    print(total, time.monotonic() - start > 1.0)
"""


def test_only_a_stop_signal_interrupts_a_statement() -> None:
    """The watcher hears every signal with a Python handler; a SIGUSR1 (or SIGCHLD,
    SIGWINCH) that interrupted the running statement would fail it for nothing."""
    proc = subprocess.run(
        [sys.executable, "-c", WATCHED_QUERY],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    # The join ran through the twenty signals (it outlasts them), and gave its sum.
    assert proc.stdout == f"{sum(range(30000)) ** 2} True\n"


def test_a_rollback_an_interrupt_reaches_is_done_again(tmp_path: Path) -> None:
    """A stop signal's interrupt can reach DuckDB just as the handler's rollback starts."""

    class LateInterrupt:
        def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
            self.con, self.cut = con, False

        def execute(self, sql: str, *args: object) -> object:
            if sql == "ROLLBACK" and not self.cut:
                self.cut = True
                raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")
            return self.con.execute(sql, *args)

    with Store.open(str(tmp_path / "a.duckdb")) as store:
        real = store.con
        store.con = LateInterrupt(real)  # type: ignore[assignment]
        with pytest.raises(KeyboardInterrupt), store.transaction() as con:
            con.execute("CREATE TABLE t AS SELECT 1 AS a")
            raise KeyboardInterrupt
        store.con = real
        assert "t" not in {r[0] for r in real.execute("SHOW TABLES").fetchall()}


def test_ctrl_c_while_a_json_lines_file_streams_is_exit_130_not_a_read_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: Path
) -> None:
    """DuckDB pulls JSON Lines from a Python stream: a Ctrl-C that lands in it comes back as
    DuckDB's "reading the stream failed", which must still read as an interrupt."""
    before = run_cli(["status", "--db", db]).stdout
    new = write_table(tmp_path, "access_events", [{**EVENTS[0], "account_id": "A-3"}], "jsonl")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("leakaudit.ingest.stage.whitespace_only", interrupted)
    result = runner().invoke(cli, ["ingest", str(new), "--db", str(db)])
    assert (result.exit_code, result.stderr, result.stdout) == (130, f"{INTERRUPTED}\n", "")
    assert run_cli(["status", "--db", db]).stdout == before


@pytest.mark.parametrize(
    "args",
    [["status"], ["query", "SELECT 1 AS n"], ["audit", "--format", "json"], ["audit"]],
    ids=["status", "query", "audit-json", "audit-summary"],
)
def test_a_reader_that_goes_away_is_exit_141_not_1(db: Path, args: list[str]) -> None:
    """`leakaudit status | head -1`: 1 would read as "findings exist" to a CI job."""
    proc = subprocess.Popen(
        [*LEAKAUDIT, *args, "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    proc.stdout.close()  # before the first write: the write meets a closed pipe
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.decode()) == (141, "")


def test_a_reader_that_goes_away_mid_way_is_exit_141_under_pythonunbuffered(db: Path) -> None:
    """PYTHONUNBUFFERED=1 (common in CI images) makes stdout's binary layer the raw file, whose
    one write() stops short when the reader goes away mid-way and raises nothing: the rest of
    the output was dropped and the exit was 0, as if it had all been read."""
    proc = subprocess.Popen(
        [*LEAKAUDIT, "query", "SELECT * FROM range(1000000)", "--format", "csv", "--db", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    assert proc.stdout.read(1) == b"r"  # the write has begun; far more than a pipe holds
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.decode()) == (141, "")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_audit_with_a_report_to_stdout_prints_no_summary_after_it(db: Path, tmp_path: Path) -> None:
    """`audit -o /dev/stdout > out.json`: the summary, printed after the report into the
    same file, made it invalid JSON. A link of our own stands in for /dev/stdout."""
    link = tmp_path / "stream"
    link.symlink_to("/proc/self/fd/1")
    out = tmp_path / "out.json"
    with out.open("wb") as redirected:
        proc = subprocess.run(
            [*LEAKAUDIT, "audit", "--db", str(db), "-o", str(link), "--format", "json"],
            stdout=redirected,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=False,
        )
    assert (proc.returncode, proc.stderr.decode()) == (0, f"Wrote {link} (json).\n")
    assert json.loads(out.read_text("utf-8"))["schema"] == "leakaudit.findings/v1"


@pytest.mark.parametrize("error", [TypeError("boom \x1b[2J"), MemoryError()], ids=["bug", "oom"])
def test_a_bug_is_a_traceback_and_exit_70_never_1(
    monkeypatch: pytest.MonkeyPatch, db: Path, error: Exception
) -> None:
    """Exit 1 means "findings exist" to a CI gate: a crash must never look like that. The
    traceback stays (it is what a bug report needs), with log text in it shown, not obeyed."""

    def crash(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr("leakaudit.api.run_rules", crash)
    result = runner().invoke(cli, ["audit", "--db", str(db), "--fail-on", "high"])
    assert result.exit_code == 70
    assert "Traceback (most recent call last)" in result.stderr
    assert "\x1b" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"error: internal error, a bug in leakaudit rather than in the input "
        f"({type(error).__name__}); please report it with the traceback above."
    )


@pytest.mark.parametrize(("rows", "capped"), [(1000, False), (5000, True)])
def test_a_query_table_stops_at_1000_rows_and_says_how_to_get_all(
    db: Path, rows: int, capped: bool
) -> None:
    """`SELECT *` on a terminal drew every row of every table (minutes, and unreadable)."""
    sql = f"SELECT range AS n FROM range({rows}) ORDER BY n DESC"
    table = runner().invoke(cli, ["query", sql, "--db", str(db), "--format", "table"])
    assert table.exit_code == 0, table.output
    shown = [int(cell) for cell in table.stdout.split() if cell.isdigit()]
    assert shown == list(range(rows - 1, rows - 1001, -1))  # the query's order, first 1,000
    notice = "Showing the first 1,000 rows; there are more."
    assert (notice in table.stderr) is capped
    every = runner().invoke(cli, ["query", sql, "--db", str(db), "--format", "csv"])
    assert every.stdout.splitlines() == ["n", *map(str, range(rows - 1, -1, -1))]


def test_an_in_memory_database_spills_to_a_private_folder_removed_at_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the memory limit, DuckDB moves an in-memory database to `.tmp` in the working
    directory by default: a user's logs folder, or a read-only checkout in CI."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setenv("LEAKAUDIT_MEMORY_LIMIT", "64MB")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", None)  # read $TMPDIR again
    store = Store.open(":memory:")
    assert store.spill is not None and Path(store.spill).parent == tmp_path / "tmp"
    store.con.execute(
        "CREATE TABLE big AS SELECT range::VARCHAR || repeat('x', 100) AS v FROM range(2000000)"
    )
    assert any(Path(store.spill).iterdir())  # more than 64 MB: it did spill, and there
    store.close()
    assert list((tmp_path / "tmp").iterdir()) == []
    assert list(tmp_path.iterdir()) == [tmp_path / "tmp"]  # no `.tmp` here


def _one_bad_ts(tmp_path: Path, fmt: str, good: str, bad: str) -> tuple[Path, str, str]:
    """Ingest two events, at `good` and at `bad`: the database, `line,reason` of the
    quarantine and the `ts` kept, as `query` writes them."""
    logs = tmp_path / "logs"
    logs.mkdir()
    write_table(logs, "devices", DEVICES, fmt)
    write_table(logs, "access_events", [{**EVENTS[0], "ts": t} for t in (good, bad)], fmt)
    db = tmp_path / "audit.duckdb"
    assert run_cli(["ingest", logs, "--db", db, "-q"]).exit_code == 0
    reasons = run_cli(["query", "SELECT source_line, reason FROM quarantine", "--db", db])
    rows = run_cli(["query", "SELECT ts FROM access_events", "--db", db, "--format", "csv"])
    assert reasons.exit_code == rows.exit_code == 0
    return db, reasons.stdout, rows.stdout


@pytest.mark.parametrize(
    "value", ["infinity", "-infinity", "2024-01-02 10:00:00 (BC)", "10000-01-02T10:00:00Z"]
)
def test_a_timestamp_beyond_the_years_1_to_9999_is_quarantined(tmp_path: Path, value: str) -> None:
    """DuckDB reads these as timestamps, but none is ISO-8601 and none fits a Python datetime:
    ingested, they made `audit` a traceback and exit 70, and so was `query` on the table."""
    db, reasons, rows = _one_bad_ts(tmp_path, "csv", "2024-01-02T10:00:00Z", value)
    assert reasons == (
        f'source_line,reason\n3,"column ""ts"": \'{value}\' is not an ISO-8601 timestamp"\n'
    )
    assert rows == "ts\n2024-01-02 10:00:00+00:00\n"
    assert run_cli(["audit", "--db", db, "-q"]).exit_code == 0


@pytest.mark.parametrize(
    ("fmt", "value", "line"), [("csv", "epoch", 3), ("jsonl", "EPOCH", 2), ("parquet", "epoch", 2)]
)
def test_the_word_epoch_is_not_a_timestamp(tmp_path: Path, fmt: str, value: str, line: int) -> None:
    """DuckDB casts 'epoch' to 1970-01-01: ingested, the row would date an access 1970 in
    silence. The instant itself, written as a timestamp, still is one."""
    _, reasons, rows = _one_bad_ts(tmp_path, fmt, "1970-01-01T00:00:00Z", value)
    assert reasons == (
        f'source_line,reason\n{line},"column ""ts"": \'{value}\' is not an ISO-8601 timestamp"\n'
    )
    assert rows == "ts\n1970-01-01 00:00:00+00:00\n"


def test_a_report_folder_that_refuses_files_fails_before_any_work(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-o ro/f.json` into a folder without write permission ingested and ran every rule,
    then failed. Simulated (as root, permissions do not stop a write): os.open in `ro`."""
    ro = tmp_path / "ro"
    ro.mkdir()
    real_open = os.open

    def refusing_open(path: object, flags: int, *args: object) -> int:
        if Path(str(path)).parent == ro:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing_open)
    db = tmp_path / "kept.duckdb"
    out = ro / "f.json"
    result = run_cli(["audit", world, "--db", db, "-o", tmp_path / "ok.json", "-o", out])
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        f"error: {out}: Cannot write the report: Permission denied.\n",
    )
    assert not db.exists() and not (tmp_path / "ok.json").exists()
    assert list(ro.iterdir()) == []


def test_a_report_name_near_the_length_limit_is_written(world: Path, tmp_path: Path) -> None:
    """A 250-byte name is a valid file name, but its temporary file `.{name}.{pid}.tmp` was
    not: the run wrote ok.json, then failed with "File name too long"."""
    long = tmp_path / ("s" * 244 + ".sarif")
    longer = tmp_path / ("s" * 245 + ".json")  # its own temporary file, not `long`'s
    ok = tmp_path / "ok.json"
    result = run_cli(["audit", world, "-q", "-o", ok, "-o", long, "-o", longer])
    assert (result.exit_code, result.stderr) == (
        0,
        f"Wrote {ok} (json).\nWrote {long} (sarif).\nWrote {longer} (json).\n",
    )
    assert json.loads(long.read_text())["version"] == "2.1.0"
    assert json.loads(longer.read_text())["schema"] == "leakaudit.findings/v1"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_lock_that_fails_for_another_reason_is_no_busy_database() -> None:
    """Without DuckDB's "held in … (PID N)" no other process is known to hold the file: exit 75
    would have a scheduler retry forever."""
    from leakaudit.store import _lock_holder

    held = (
        'IO Error: Could not set lock on file "x": Conflicting lock is held in /usr/bin/x (PID 7)'
    )
    assert _lock_holder(duckdb.IOException(held)) == "PID 7, x"
    other = 'IO Error: Could not set lock on file "x": No locks available'
    assert _lock_holder(duckdb.IOException(other)) is None


def test_a_progress_label_keeps_the_file_name_and_whole_escapes() -> None:
    """rich cut a long label to its column, through an escape: `\\x1…`."""
    from leakaudit.cli.progress import LABEL_CHARS, bar_label

    tail = "/access\x1b[2J.csv"
    label = bar_label("logs/" + "d" * 60 + tail)
    kept = LABEL_CHARS - 1 - len(tail)  # the ellipsis, then the path's end
    assert label == "…" + "d" * kept + "/access\\x1b[2J.csv"
    assert bar_label("devices.csv") == "devices.csv"
