"""`leakaudit report`: re-render a saved findings document, through click's CliRunner."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_fixtures import ACCOUNT_IDS, EMAILS, IPS, pii_document
from report_fixtures_b import many_findings

from leakaudit.cli.commands import cli
from leakaudit.redact import redact
from leakaudit.reports import RenderOptions, load_reporters

KEY = "report-cli-key-0123456789"
# The CLI in a process of its own, with real standard streams.
LEAKAUDIT = [sys.executable, "-c", "from leakaudit.cli.main import main; main()"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "120", "LEAKAUDIT_REDACT_KEY": None})


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "findings.json"
    path.write_bytes(load_reporters()["json"].render(pii_document(), RenderOptions()))
    return path


def render(fmt: str, doc=None) -> bytes:
    return load_reporters()[fmt].render(doc or pii_document(), RenderOptions(base_dir=Path.cwd()))


def test_report_json_reproduces_the_saved_document(runner, saved, tmp_path) -> None:
    out = tmp_path / "again.json"
    result = runner.invoke(cli, ["report", str(saved), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == saved.read_bytes()
    assert result.stderr == f"Wrote {out} (json).\n"


def test_report_writes_several_formats(runner, saved, tmp_path) -> None:
    names = ["f.jsonl", "f.csv", "f.md", "f.txt"]
    args = [a for name in names for a in ("-o", str(tmp_path / name))]
    result = runner.invoke(cli, ["report", str(saved), *args])
    assert result.exit_code == 0, result.output
    for name, fmt in zip(names, ["jsonl", "csv", "markdown", "console"], strict=True):
        assert (tmp_path / name).read_bytes() == render(fmt), name
    assert result.stdout == ""


def test_report_into_a_named_pipe_writes_through_it(runner, saved, tmp_path) -> None:
    """`-o /dev/stdout` or a FIFO is written into, never renamed over: the atomic rename would
    replace the device with a regular file (for every later program, when run as root)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = runner.invoke(cli, ["report", str(saved), "-o", str(fifo), "--format", "json"])
    reader.join(timeout=10)
    assert result.exit_code == 0, result.output
    assert received == [saved.read_bytes()]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.json", "pipe"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("fd", [1, 2], ids=["stdout", "stderr"])
def test_report_into_a_standard_stream_redirected_to_a_file_writes_through_it(
    saved, tmp_path, fd
) -> None:
    """`-o /dev/stdout > file` (cron, CI): /dev/stdout is a link to /proc/self/fd/1, which is
    then a regular file; renaming over the link replaced /dev/stdout itself (as root) and left
    the redirect's file empty. A link of our own stands in for /dev/stdout here. The summary
    is not printed after a report written to standard output."""
    link = tmp_path / "stream"
    link.symlink_to(f"/proc/self/fd/{fd}")
    out = tmp_path / "redirected"
    with out.open("wb") as redirected:
        streams = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        streams["stdout" if fd == 1 else "stderr"] = redirected
        proc = subprocess.run(
            [*LEAKAUDIT, "report", str(saved), "-o", str(link), "--format", "json"],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
            check=False,
            **streams,
        )
    assert proc.returncode == 0
    assert link.is_symlink()
    if fd == 1:  # the report alone: a summary after it would make the file invalid JSON
        assert out.read_bytes() == saved.read_bytes()
    else:  # standard error also gets the `Wrote …` line, after the report
        assert out.read_bytes().startswith(saved.read_bytes())


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_a_report_into_stdout_whose_reader_goes_away_mid_way_is_exit_2(tmp_path) -> None:
    """PYTHONUNBUFFERED=1 (common in CI images): one write() into the raw standard output
    stops short when the reader goes away (or the disk of a redirect fills) and raises
    nothing; the report was cut, and the run said "Wrote" and exited 0."""
    big = tmp_path / "big.json"
    big.write_bytes(load_reporters()["json"].render(many_findings(2000), RenderOptions()))
    assert big.stat().st_size > 1 << 20  # far more than a pipe holds
    link = tmp_path / "stream"
    link.symlink_to("/proc/self/fd/1")
    proc = subprocess.Popen(
        [*LEAKAUDIT, "report", str(big), "-o", str(link), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            "PYTHONUNBUFFERED": "1",
        },
    )
    assert proc.stdout is not None
    assert proc.stdout.read(1) == b"{"  # the write has begun
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.decode()) == (
        2,
        f"error: {link}: Cannot write the report: Broken pipe.\n",
    )


def test_report_format_to_stdout(runner, saved) -> None:
    result = runner.invoke(cli, ["report", str(saved), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == render("csv")


# A C1 control (U+009B is CSI, like ESC [), DEL and a bidi override: JSON and XML keep them
# as data, so a terminal would receive them raw.
TERMINAL_HOSTILE = "cam-\u009b2J\x7f\u202etxt.exe"


@pytest.mark.parametrize("fmt", ["json", "jsonl", "sarif", "ocsf", "junit", "csv"])
def test_report_format_on_a_terminal_shows_control_characters(runner, tmp_path, fmt) -> None:
    doc = pii_document()
    doc.findings[0].reason = f"Device {TERMINAL_HOSTILE} served media to a stranger."
    saved = tmp_path / "findings.json"
    saved.write_bytes(render("json", doc))
    args = ["report", str(saved), "--format", fmt]
    tty = runner.invoke(cli, args, env={"TTY_COMPATIBLE": "1"})
    assert tty.exit_code == 0, tty.output
    assert not {"\u009b", "\x7f", "\u202e"} & set(tty.stdout)
    if fmt in ("json", "jsonl", "sarif", "ocsf"):  # JSON's own escapes, in a pipe too
        assert "cam-\\u009b2J\\u007f\\u202etxt.exe" in tty.stdout
    else:
        assert "cam-\\x9b2J\\x7f\\x202etxt.exe" in tty.stdout
    assert "\\x0d" not in tty.stdout  # CSV's CRLF line ends stay line ends
    # Into a pipe the report keeps its exact bytes, those `-o FILE` writes.
    out = tmp_path / "again"
    runner.invoke(cli, [*args, "-o", str(out)])
    assert runner.invoke(cli, args).stdout_bytes == out.read_bytes()


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other end of the pseudo-terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("onto", ["standard output", "another terminal"])
def test_a_report_written_onto_a_terminal_shows_control_characters(monkeypatch, onto) -> None:
    """`-o /dev/stdout` on a terminal (or `-o /dev/pts/N`) wrote a report's bytes raw, while
    the same report through `--format` alone is shown escaped. Every renderer now writes these
    characters escaped itself, so the writer is tested with raw bytes of its own."""
    pty = pytest.importorskip("pty")
    from leakaudit.reports import writer

    leader, follower = pty.openpty()
    if onto == "standard output":  # `_standard_stream` finds it: the write_whole branch
        monkeypatch.setattr(sys, "stdout", open(follower, "w", closefd=False))
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(_read_all(leader)))
    reader.start()  # a pseudo-terminal holds little: read while the report is written
    try:
        writer._stage(Path(os.ttyname(follower)), f"{TERMINAL_HOSTILE}\n".encode())
    finally:
        os.close(follower)  # the reader now sees the end
        reader.join(timeout=60)
        os.close(leader)
    shown = b"".join(chunks).decode()
    assert "cam-\\x9b2J\\x7f\\x202etxt.exe" in shown
    assert not {"\u009b", "\x7f", "\u202e"} & set(shown)


def test_report_without_output_prints_the_summary(runner, saved) -> None:
    result = runner.invoke(cli, ["report", str(saved)])
    assert result.exit_code == 0, result.output
    assert "10 findings; 9 rules ran, 1 skipped" in result.stdout
    assert "Account A-93 was served 41 media items" in result.stdout


def test_report_redacts_with_the_key_from_the_environment(runner, saved, tmp_path) -> None:
    out = tmp_path / "shareable.json"
    result = runner.invoke(
        cli,
        ["report", str(saved), "--redact", "-o", str(out)],
        env={"LEAKAUDIT_REDACT_KEY": KEY},
    )
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data == render("json", redact(pii_document(), KEY.encode()))
    for value in (*ACCOUNT_IDS, *EMAILS, *IPS):
        assert value.encode() not in data
    flag = runner.invoke(cli, ["report", str(saved), "--redact", "--redact-key", KEY])
    assert flag.exit_code == 0
    assert "A-93" not in flag.stdout and "acct~" in flag.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--redact"], "--redact needs a key: pass --redact-key or set LEAKAUDIT_REDACT_KEY."),
        (["--redact", "--redact-key", "short"], "The redaction key is too short (5 characters)"),
        (["-o", "x.pdf"], "Cannot tell the report format of x.pdf from its extension"),
        (["--format", "pdf"], "Unknown report format 'pdf'"),
        (
            ["-o", "findings.md", "-o", "nowhere/findings.html"],
            "nowhere/findings.html: Cannot write the report: No such file or directory.",
        ),
    ],
)
def test_report_bad_flags_exit_2(runner, saved, tmp_path, monkeypatch, args, message) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    result = runner.invoke(cli, ["report", str(saved), *args])
    assert list(workdir.iterdir()) == []
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "1: Not a JSON document: Expecting property name enclosed"),
        (b'{\n  "schema": "leakaudit.findings/v1",\n  "run": ,', "3: Not a JSON document: "),
        (b'{"foo": 1}', 'Not a leakaudit findings document: it has no "schema" key'),
        (
            b'{"schema": "leakaudit.findings/v2"}',
            "This findings document is 'leakaudit.findings/v2'; this leakaudit reads "
            "leakaudit.findings/v1 only (a newer document needs a newer leakaudit).",
        ),
        (
            b'{"schema": "leakaudit.findings/v1", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            "Not a findings document: its JSON is nested too deeply.",
        ),
        (b"\xff\xfe", "Not a JSON document: "),
        (b'{"schema": "other/v1"}', "Not a leakaudit.findings/v1 document (schema is 'other/v1')."),
        (
            b'{"schema": "leakaudit.findings/v1", "run": {}}',
            "Not a valid leakaudit.findings/v1 document: document: 'summary' is a required "
            "property",
        ),
        (b"[]", "Not a leakaudit.findings/v1 document: not a JSON object."),
    ],
)
def test_report_rejects_what_is_not_a_findings_document(runner, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = runner.invoke(cli, ["report", str(path), "-o", str(tmp_path / "out.md")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}:")
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.md").exists()


def test_report_help_names_every_option(runner) -> None:
    result = runner.invoke(cli, ["report", "--help"])
    assert result.exit_code == 0
    for option in ("-o, --output FILE", "--format FORMAT", "--redact", "--redact-key KEY"):
        assert option in result.stdout
    assert "LEAKAUDIT_REDACT_KEY" in result.stdout
    assert "report" in runner.invoke(cli, ["--help"]).stdout


def test_saved_json_round_trips_through_from_dict(saved) -> None:
    data = json.loads(saved.read_bytes())
    assert data["summary"]["findings"] == 10


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("event_count",), "x", "findings[0].event_count: 'x' is not of type 'integer'"),
        (("status",), "<script>", "findings[0].status: '<script>' is not one of"),
        (("severity",), "severe", "findings[0].severity: 'severe' is not one of"),
        (("entities", "device_id"), {"b": 1}, "findings[0].entities.device_id: {'b': 1} is not"),
    ],
)
def test_report_refuses_a_tampered_document_with_one_line(
    runner, saved, tmp_path, path, value, message
) -> None:
    data = json.loads(saved.read_text())
    target = data["findings"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(data))
    for fmt in ("html", "csv", "sarif", "ocsf.jsonl", "md"):
        result = runner.invoke(cli, ["report", str(bad), "-o", str(tmp_path / f"out.{fmt}")])
        assert result.exit_code == 2
        assert result.output.startswith(
            f"error: {bad}: Not a valid leakaudit.findings/v1 document: {message}"
        )
        assert len(result.output.splitlines()) == 1


def test_a_report_path_that_is_a_symlink_loop_is_exit_2(runner, saved, tmp_path) -> None:
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    result = runner.invoke(cli, ["report", str(saved), "-o", str(loop)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {loop}: Cannot follow this path: ")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_failed_write_replaces_no_report(runner, saved, tmp_path) -> None:
    """A fresh first.html beside last night's stale report of a write that failed is what a
    CI step run `if: always()` would upload: now no file is replaced unless all can be."""
    first = tmp_path / "first.html"
    first.write_text("last night's report\n")
    result = runner.invoke(
        cli, ["report", str(saved), "-o", str(first), "-o", "/dev/full", "--format", "html"]
    )
    assert result.exit_code == 2
    assert result.stderr == "error: /dev/full: Cannot write the report: No space left on device.\n"
    assert first.read_text() == "last night's report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.json", "first.html"]


def test_a_device_written_before_a_failure_is_named(runner, saved, tmp_path) -> None:
    """A standard stream or device is written as its turn comes; it is there, so it is named."""
    result = runner.invoke(
        cli,
        ["report", str(saved), "-o", "/dev/null", "-o", "/dev/full", "--format", "json"],
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "Wrote /dev/null (json).\n"
        "error: /dev/full: Cannot write the report: No space left on device.\n"
    )


def test_dash_as_output_is_refused_not_a_file_named_dash(runner, saved, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["report", str(saved), "-o", "-", "--format", "json"])
    assert (result.exit_code, result.stderr) == (
        2,
        "error: -o - would write a file named '-'; for a report on standard output, leave out "
        "-o and give --format FORMAT.\n",
    )
    assert not (tmp_path / "-").exists()


def test_a_value_too_deep_to_render_is_exit_2_not_a_traceback(runner, saved, tmp_path) -> None:
    # Deep enough that loading or rendering recurses past Python's limit (which of the two
    # depends on the stack the CLI is called from): it was exit 70 with a traceback.
    data = json.loads(saved.read_bytes())
    data["findings"][0]["evidence"][0]["row"]["note"] = "DEEP"
    path = tmp_path / "deep.json"  # written as text: json.dumps would hit the limit itself
    path.write_text(json.dumps(data).replace('"DEEP"', "[" * 950 + '"x"' + "]" * 950))
    result = runner.invoke(cli, ["report", str(path), "--format", "json"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(f"error: {path}: Not a findings document")
    assert result.stderr.endswith(" nested too deeply.\n") and result.stderr.count("\n") == 1


def test_a_render_that_recurses_too_deep_is_exit_2(runner, saved, monkeypatch) -> None:
    def too_deep(*args: object) -> bytes:
        raise RecursionError("maximum recursion depth exceeded")

    reporters = load_reporters()
    monkeypatch.setitem(reporters, "json", dataclasses.replace(reporters["json"], render=too_deep))
    result = runner.invoke(cli, ["report", str(saved), "--format", "json"])
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        f"error: {saved}: Not a findings document leakaudit can render: a value in it is "
        "nested too deeply.\n",
    )


@pytest.mark.parametrize("dangling", [False, True])
def test_a_report_through_a_symlink_writes_its_file_and_keeps_the_link(
    runner, saved, tmp_path, dangling
) -> None:
    """The rename over `-o latest.json` replaced the link itself with a regular file."""
    real = tmp_path / "reports" / "2024-06-14.json"
    real.parent.mkdir()
    if not dangling:
        real.write_text("old\n")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    result = runner.invoke(cli, ["report", str(saved), "-o", str(link)])
    assert (result.exit_code, result.stderr) == (0, f"Wrote {link} (json).\n")
    assert link.is_symlink() and link.resolve() == real
    assert real.read_bytes() == saved.read_bytes()


def test_a_file_planted_at_a_temporary_name_is_not_written_through(runner, saved, tmp_path):
    """The temporary file was `.{name}.{pid}.tmp`, written through a symlink planted there:
    the report landed in the link's target and the report's own path became the link."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    (tmp_path / f".c.json.{os.getpid()}.tmp").symlink_to(victim)
    out = tmp_path / "c.json"
    result = runner.invoke(cli, ["report", str(saved), "-o", str(out)])
    assert (result.exit_code, result.stderr) == (0, f"Wrote {out} (json).\n")
    assert victim.read_text() == "keep\n"
    assert not out.is_symlink() and out.read_bytes() == saved.read_bytes()
