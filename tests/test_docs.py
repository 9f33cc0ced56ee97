"""Tests that keep the docs honest (STYLE habit 10; after sqlite-utils' and datasette's).

Every click command has help with an example and a section of docs/cli.md naming each of its
flags; every example there and in `--help` uses only flags that exist; every built-in rule
carries its prose and traces back to an incident; README.md opens with the two commands that
.ci/run really runs; and no relative link in the docs is dead.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from leakaudit.cli.commands import cli
from leakaudit.errors import ExitCode
from leakaudit.findings import CATEGORIES
from leakaudit.reports import load_reporters
from leakaudit.rules import all_rules, load_packs

ROOT = Path(__file__).resolve().parent.parent
CLI_DOC = ROOT / "docs" / "cli.md"
# The four incidents of ../shared/INCIDENTS.md, as the rules' rationales name them.
INCIDENTS = ("Netatmo", "Wyze", "Ring", "Xiaomi")
INCIDENT_WORD = re.compile(rf"\b({'|'.join(INCIDENTS)})\b", re.IGNORECASE)
EXAMPLE_HEADING = re.compile(r"^\s*Examples?:\s*$", re.MULTILINE)


# --- Markdown, read just enough ------------------------------------------------------------


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, where `# comment` is no heading."""
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        marker = re.match(r"^\s*(```|~~~)", line)
        if marker:
            if fence is None:
                fence = marker.group(1)
            elif marker.group(1) == fence:
                fence = None
            continue
        if fence is None:
            yield number, line


def headings(text: str) -> list[tuple[int, int, str]]:
    """(line number, level, text without backticks) of every ATX heading."""
    found = []
    for number, line in prose_lines(text):
        m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if m:
            found.append((number, len(m.group(1)), m.group(2).replace("`", "")))
    return found


def section(text: str, title: str) -> str:
    """The body of the heading whose text is exactly `title`, up to the next heading of its
    level or higher; subsections are part of it. Empty if there is no such heading."""
    lines = text.splitlines()
    marks = headings(text)
    for i, (number, level, heading) in enumerate(marks):
        if heading == title:
            end = next((n for n, lv, _ in marks[i + 1 :] if lv <= level), len(lines) + 1)
            return "\n".join(lines[number : end - 1])
    return ""


def own_section(text: str, title: str) -> str:
    """Like `section`, but stops at the first subheading: what belongs to `title` itself."""
    lines = text.splitlines()
    marks = headings(text)
    for i, (number, _, heading) in enumerate(marks):
        if heading == title:
            end = marks[i + 1][0] if i + 1 < len(marks) else len(lines) + 1
            return "\n".join(lines[number : end - 1])
    return ""


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$")


def broken_links(doc: Path) -> list[str]:
    """`doc:line: target` for every relative link whose file (or heading anchor) is missing."""
    text = doc.read_text(encoding="utf-8")
    problems = []
    for number, line in prose_lines(text):
        line = re.sub(r"`[^`]*`", "", line)  # a link in inline code is an example, not a link
        targets = [m.group(1) for m in LINK.finditer(line)]
        if m := REFERENCE_LINK.match(line):
            targets.append(m.group(1))
        for target in targets:
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto:
                continue
            path_part, _, anchor = target.partition("#")
            file = (doc.parent / path_part).resolve() if path_part else doc
            if not file.exists():
                problems.append(f"{doc.name}:{number}: {target} (no such file)")
            elif anchor and file.suffix == ".md":
                anchors = {slug(h) for _, _, h in headings(file.read_text(encoding="utf-8"))}
                if anchor not in anchors:
                    problems.append(f"{doc.name}:{number}: {target} (no such heading)")
    return problems


# --- The commands --------------------------------------------------------------------------


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def full_name(path: tuple[str, ...]) -> str:
    return " ".join(("leakaudit", *path))


def flags(command: click.Command, *, with_help: bool = False) -> list[str]:
    """Every flag spelling of the command (`-o`, `--output`, `--no-builtin`, …)."""
    names = []
    for param in command.params:
        if isinstance(param, click.Option):
            names += [*param.opts, *param.secondary_opts]
    if with_help:
        names += ["-h", "--help"]
    return names


def arguments(command: click.Command) -> list[str]:
    return [
        p.metavar or (p.name or "").upper() for p in command.params if isinstance(p, click.Argument)
    ]


def mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


COMMANDS = list(walk(cli))
IDS = [full_name(p) for p in COMMANDS]
HELP_RUNNER = CliRunner(env={"COLUMNS": "100"})


def test_the_walk_finds_every_registered_command():
    assert {full_name(p) for p in COMMANDS} >= {
        "leakaudit",
        "leakaudit audit",
        "leakaudit ingest",
        "leakaudit query",
        "leakaudit report",
        "leakaudit status",
        "leakaudit rules",
        "leakaudit rules validate",
        "leakaudit rules test",
        "leakaudit rules list",
        "leakaudit rules show",
    }


@pytest.mark.parametrize("path", COMMANDS, ids=IDS)
def test_command_has_help_text(path):
    command = command_at(path)
    assert (command.help or "").strip(), f"{full_name(path)} has no docstring / help text"


@pytest.mark.parametrize("path", COMMANDS, ids=IDS)
def test_help_ends_with_examples_of_this_command(path):
    command = command_at(path)
    assert EXAMPLE_HEADING.search(command.epilog or ""), (
        f"{full_name(path)}: the epilog needs an 'Examples:' block"
    )
    result = HELP_RUNNER.invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    examples = result.output[EXAMPLE_HEADING.search(result.output).end() :]
    assert full_name(path) in examples, f"no example in `{full_name(path)} --help` runs it"


@pytest.mark.parametrize("path", COMMANDS, ids=IDS)
def test_cli_md_has_a_section_naming_every_flag_and_argument(path):
    text = section(CLI_DOC.read_text(encoding="utf-8"), full_name(path))
    assert text, f"docs/cli.md has no heading '## {full_name(path)}'"
    # Described in the prose or the flag table; being used in an example is not enough.
    prose = "\n".join(line for _, line in prose_lines(text))
    command = command_at(path)
    missing = [f for f in [*flags(command), *arguments(command)] if not mentions(prose, f)]
    assert missing == [], f"docs/cli.md, section {full_name(path)}, does not mention {missing}"


@pytest.mark.parametrize("path", COMMANDS, ids=IDS)
def test_cli_md_section_has_examples_and_exit_codes(path):
    text = own_section(CLI_DOC.read_text(encoding="utf-8"), full_name(path))
    assert "Exit codes:" in text, f"docs/cli.md, section {full_name(path)}: no exit codes"
    # A group's examples may run its subcommands.
    runs = [argv for argv in example_commands(text) if resolve(argv)[0][: len(path)] == path]
    assert len(runs) >= 2, f"docs/cli.md, section {full_name(path)}: fewer than 2 examples"


def test_cli_md_documents_no_command_that_does_not_exist():
    documented = {h for _, _, h in headings(CLI_DOC.read_text(encoding="utf-8"))}
    stale = {h for h in documented if h.startswith("leakaudit")} - set(IDS)
    assert stale == set()


# --- Examples use only flags that exist -----------------------------------------------------


def example_commands(text: str) -> list[list[str]]:
    """The argv (after `leakaudit`) of every `leakaudit …` command in fenced shell blocks."""
    commands = []
    in_shell = False
    block: list[str] = []
    for line in text.splitlines():
        fence = re.match(r"^\s*```\s*(\w*)", line)
        if fence and not in_shell and fence.group(1) in ("sh", "bash", "shell", "console"):
            in_shell, block = True, []
        elif fence and in_shell:
            in_shell = False
            script = "\n".join(block).replace("\\\n", " ")
            for command_line in script.splitlines():
                commands += leakaudit_calls(command_line)
        elif in_shell:
            block.append(line)
    return commands


def leakaudit_calls(command_line: str) -> list[list[str]]:
    """`leakaudit` invocations in one shell line, split at pipes, `&&`, `;` and redirects."""
    lexer = shlex.shlex(command_line, posix=True, punctuation_chars=True)
    lexer.commenters = "#"
    lexer.whitespace_split = True
    calls, current = [], None
    for token in lexer:
        if token and set(token) <= set("();<>|&"):
            current = None
        elif token == "leakaudit" and current is None:
            current = []
            calls.append(current)
        elif current is not None:
            current.append(token)
    # A redirect's target (`> findings.csv`) ends the command; it was never appended.
    return calls


def resolve(argv: list[str]) -> tuple[tuple[str, ...], click.Command]:
    """The command an argv runs: descend groups while the next word names a subcommand."""
    path: tuple[str, ...] = ()
    command: click.Command = cli
    for token in argv:
        if not isinstance(command, click.Group) or token not in command.commands:
            break
        path, command = (*path, token), command.commands[token]
    return path, command


def unknown_flags(argv: list[str]) -> list[str]:
    path, command = resolve(argv)
    known = set(flags(command, with_help=True))
    used = [t.split("=", 1)[0] for t in argv[len(path) :] if t.startswith("-") and t != "-"]
    return [f"{full_name(path)} {flag}" for flag in used if flag not in known]


def test_example_parsing_sees_commands_and_flags():
    text = "```sh\n# comment\nX=1 leakaudit rules test d/ --rule A | grep x > out\n```\n"
    assert example_commands(text) == [["rules", "test", "d/", "--rule", "A"]]
    assert unknown_flags(["rules", "test", "--rule", "A", "--nope=1"]) == [
        "leakaudit rules test --nope"
    ]


def test_cli_md_examples_use_only_existing_flags():
    examples = example_commands(CLI_DOC.read_text(encoding="utf-8"))
    assert len(examples) >= 2 * len(COMMANDS)
    assert [f for argv in examples for f in unknown_flags(argv)] == []


@pytest.mark.parametrize("path", COMMANDS, ids=IDS)
def test_help_examples_use_only_existing_flags(path):
    epilog = command_at(path).epilog or ""
    examples = [
        argv
        for line in epilog.splitlines()
        if line.strip().startswith(("leakaudit ", "LEAKAUDIT_"))
        for argv in leakaudit_calls(line)
    ]
    assert examples
    assert [f for argv in examples for f in unknown_flags(argv)] == []


# --- Formats, exit codes and environment variables -----------------------------------------


def test_cli_md_lists_every_report_format_and_extension():
    text = section(CLI_DOC.read_text(encoding="utf-8"), "Report formats")
    for reporter in load_reporters().values():
        for word in (reporter.name, *reporter.extensions):
            assert f"`{word}`" in text, f"docs/cli.md, Report formats: no `{word}`"


@pytest.mark.parametrize("command", ["audit", "report"])
def test_format_help_names_every_report_format(command):
    """`--format md` is refused: the help must name the formats, not only the extensions."""
    help_text = " ".join(CliRunner().invoke(cli, [command, "--help"]).output.split())
    named = re.search(r"--format FORMAT Report format .*?: ([a-z, ]+)\.", help_text)
    assert named, help_text
    assert sorted(named.group(1).split(", ")) == sorted(load_reporters())


def test_cli_md_lists_every_exit_code():
    text = section(CLI_DOC.read_text(encoding="utf-8"), "Exit codes")
    for code in ExitCode:
        assert re.search(rf"^\| {code.value} \| `{code.name}` \|", text, re.MULTILINE), code


def environment_variables() -> set[str]:
    """Every environment variable the package reads, found in its source."""
    names = set()
    for source in (ROOT / "leakaudit").rglob("*.py"):
        names |= set(re.findall(r"\b(LEAKAUDIT_[A-Z_]+|SOURCE_DATE_EPOCH)\b", source.read_text()))
    return names


def test_cli_md_documents_every_environment_variable():
    names = environment_variables()
    assert names >= {"LEAKAUDIT_DB", "LEAKAUDIT_REDACT_KEY", "SOURCE_DATE_EPOCH"}
    text = section(CLI_DOC.read_text(encoding="utf-8"), "Environment variables")
    assert sorted(n for n in names if f"`{n}`" not in text) == []


# --- Built-in rules ------------------------------------------------------------------------

RULES = all_rules(load_packs())


def test_there_are_builtin_rules():
    assert len(RULES) >= len(CATEGORIES)


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_has_prose_and_references(rule):
    for field in ("title", "description", "rationale", "remediation"):
        assert getattr(rule, field).strip(), f"{rule.id}: empty {field}"
    assert [ref for ref in rule.references if ref.strip()], f"{rule.id}: no references"


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_rationale_names_an_incident(rule):
    assert INCIDENT_WORD.search(rule.rationale), (
        f"{rule.id}: the rationale names none of {', '.join(INCIDENTS)} (../shared/INCIDENTS.md)"
    )


def test_incident_words_are_whole_words():
    assert not INCIDENT_WORD.search("during monitoring the string")
    assert INCIDENT_WORD.search("the ring support portal (RING, 2019)")


def test_every_category_has_a_builtin_rule():
    covered = {rule.category for rule in RULES}
    assert sorted(set(CATEGORIES) - covered) == []


# --- README and CI -------------------------------------------------------------------------


def fenced_blocks_after_title(text: str) -> list[tuple[str, list[str]] | str]:
    """The README's blocks after its `# title`: (language, lines) for a fence, else the first
    line of a paragraph; blank lines separate blocks."""
    lines = text.splitlines()
    assert lines and lines[0].startswith("# "), "README.md must start with its # title"
    blocks: list[tuple[str, list[str]] | str] = []
    i = 1
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif m := re.match(r"^```\s*(\w*)\s*$", line):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            blocks.append((m.group(1), [x for x in lines[i + 1 : end] if x.strip()]))
            i = end + 1
        else:
            blocks.append(line)
            while i < len(lines) and lines[i].strip():
                i += 1
    return blocks


def test_readme_starts_with_the_two_commands():
    blocks = fenced_blocks_after_title((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 3
    first, second, after = blocks[:3]
    assert isinstance(after, str), "README.md: more than two fenced blocks before the prose"
    for block in (first, second):
        assert isinstance(block, tuple), "README.md: a command block must come right after #"
        language, body = block
        assert language in ("sh", "bash", "shell"), block
        assert len(body) == 1, f"README.md: one command a block, not {body}"
    assert "pip install ." in first[1][0]
    assert "leakaudit audit sample_logs" in first[1][0]
    assert "pip install '.[test]'" in second[1][0]
    assert "pytest" in second[1][0]


def test_ci_runs_what_the_readme_says():
    script = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    install = next(
        (i for i, line in enumerate(script) if re.search(r"\bpip install\b.*'\.\[test\]'", line)),
        None,
    )
    tests = next(
        (i for i, line in enumerate(script) if re.match(r"^(python -m )?pytest\b", line)), None
    )
    assert install is not None, ".ci/run does not pip install '.[test]'"
    assert tests is not None, ".ci/run does not run pytest"
    assert install < tests


# --- Links ---------------------------------------------------------------------------------

DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(ROOT).as_posix() for d in DOCS])
def test_relative_links_resolve(doc):
    assert broken_links(doc) == []


def test_broken_links_are_found(tmp_path):
    (tmp_path / "there.md").write_text("# A heading\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Doc\n[ok](there.md) [ok](there.md#a-heading) [ok](#doc) [web](https://x.org/y)\n"
        "[gone](missing.md) ![img](missing.png) `[code](not-a-link.md)`\n"
        "[bad anchor](there.md#nope)\n```\n[in a fence](fenced.md)\n```\n[ref]: gone/too.md\n"
    )
    assert broken_links(doc) == [
        "doc.md:3: missing.md (no such file)",
        "doc.md:3: missing.png (no such file)",
        "doc.md:4: there.md#nope (no such heading)",
        "doc.md:8: gone/too.md (no such file)",
    ]


def test_sections_stop_at_the_next_heading_of_their_level():
    text = "## a\nA\n```sh\n# not a heading\n```\n### a b\nB\n## c\nC\n"
    assert section(text, "a") == "A\n```sh\n# not a heading\n```\n### a b\nB"
    assert own_section(text, "a") == "A\n```sh\n# not a heading\n```"
    assert section(text, "a b") == "B"
    assert section(text, "x") == ""
