"""Load rule packs from YAML and refuse anything that breaks the contract in docs/architecture.md.

Every problem in every file is collected in one pass and reported as `file:line: message`, so
a rule author fixes a pack in one round trip instead of one error at a time. The SQL of each
rule is parsed by DuckDB (`json_serialize_sql`) to find the parameters it uses, and bound
against an empty in-memory store with the shared semantics loaded, so a typo in a column name
fails here and not in the middle of an audit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import yaml

from leakaudit.errors import RuleError
from leakaudit.findings import CATEGORIES, SEVERITIES
from leakaudit.rules.model import PARAM_TYPES, REASON_FIELDS, Pack, Param, Rule, RuleTest
from leakaudit.schema import SOURCE_FILE, SOURCE_LINE, TABLES
from leakaudit.store import MEMORY, Store

PACK_FILE = "pack.yml"
SEMANTICS_SQL = Path(__file__).with_name("semantics.sql")

PACK_KEYS = {"name", "version", "description"}
PACK_REQUIRED = ("name", "version")
RULE_KEYS = {
    "id",
    "title",
    "category",
    "severity",
    "description",
    "rationale",
    "remediation",
    "references",
    "tags",
    "params",
    "requires",
    "query",
    "query_file",
    "entities",
    "collect",
    "evidence",
    "reason",
    "tests",
}
PARAM_KEYS = {"type", "default", "description", "min"}
TEST_KEYS = {"name", "params", "tables", "findings"}
EVENT_TS = "event_ts"
TIMESTAMPTZ = "TIMESTAMP WITH TIME ZONE"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Rule ids and pack names become SARIF rule ids, JUnit names, file stems and `--rule`/`--pack`
# arguments: plain words only, no spaces, control characters or markup.
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_ID_FORM = "start with a letter and hold only letters, digits, '_', '.' and '-'"
# Far deeper than any rule file; PyYAML composes recursively, and ~250 levels of `[` would
# otherwise end in a RecursionError instead of a problem at the file.
MAX_YAML_DEPTH = 64
_TOO_DEEP = f"nested too deeply (more than {MAX_YAML_DEPTH} levels)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a rule file, located to a line."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


class RuleValidationError(RuleError):
    """One or more rule files are invalid; `problems` holds every one, in file order."""

    problems: list[Problem]

    def __init__(self, problems: list[Problem]):
        first = problems[0]
        super().__init__(first.message, first.path, first.line)
        self.problems = problems

    def __str__(self) -> str:
        """One line, as SPEC §5 wants from an error; `rules validate` lists them all."""
        more = len(self.problems) - 1
        if not more:
            return str(self.problems[0])
        noun = "problem" if more == 1 else "problems"
        return f"{self.problems[0]} (and {more} more {noun}; run `leakaudit rules validate`)"


# -- YAML with line numbers and duplicate-key detection -------------------------------------


class _Mapping(dict[Any, Any]):
    """A YAML mapping that remembers where it and each key (and value) started."""

    line: int = 1
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]


# libyaml's parser when PyYAML has it: it reads the built-in packs about 15 times faster than
# the pure-Python one, which cost every `audit` and `rules` run about a second.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """SafeLoader that records line numbers and duplicate keys instead of overwriting them.

    Timestamps stay strings: rule tests hand them to ingest, which parses them the same way it
    parses a file (a bare YAML timestamp would otherwise silently become a naive datetime).
    """

    duplicates: list[tuple[int, str]]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> _Mapping:  # type: ignore[override]
        self.flatten_mapping(node)
        mapping = _Mapping()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        mapping.value_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in mapping:
                self.duplicates.append(
                    (line, f"duplicate key {key!r} (first at line {mapping.key_lines[key]})")
                )
                continue
            mapping[key] = self.construct_object(value_node, deep=True)
            mapping.key_lines[key] = line
            block = isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">")
            mapping.value_lines[key] = value_node.start_mark.line + 1 + int(block)
        return mapping


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> _Mapping:
    return loader.construct_mapping(node)


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)  # type: ignore[arg-type]
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _too_deep_at(text: str) -> int | None:
    """The line where nesting first goes deeper than MAX_YAML_DEPTH, else None.

    Read from the parser's events, which come without recursion: composing such a document
    recurses once per level (in Python a RecursionError, in libyaml's composer the C stack),
    so it must not be composed at all. Depth counts nodes, the innermost scalar included.
    """
    depth = 0
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent | yaml.ScalarEvent | yaml.AliasEvent):
            if depth + 1 > MAX_YAML_DEPTH:
                return int(event.start_mark.line) + 1
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def _unreadable(path: Path, exc: OSError | UnicodeDecodeError, what: str = "file") -> Problem:
    """A file (or folder) that cannot be read, with the OS's reason ("Permission denied",
    "Is a directory") or the decoder's: a problem of the pack, never a traceback."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return Problem(str(path), None, f"cannot read the {what}: {reason}")


def _yaml_problem(path: Path, text: str, exc: yaml.YAMLError) -> Problem:
    """One line at the line it names. A ReaderError (a control character) has only a
    character position; libyaml's own depth limit, met in flow `[[[…` before the events reach
    MAX_YAML_DEPTH, is worded as ours."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    reason = getattr(exc, "problem", None) or str(exc)
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        reason = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
    elif "maximum nesting depth" in reason:
        reason = _TOO_DEEP
    return Problem(str(path), line, f"invalid YAML: {reason}")


def read_yaml(path: Path, problems: list[Problem]) -> Any:
    """Parse one YAML file; syntax errors and duplicate keys become problems, never raise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(_unreadable(path, exc))
        return None
    try:
        if (line := _too_deep_at(text)) is not None:
            problems.append(Problem(str(path), line, f"invalid YAML: {_TOO_DEEP}"))
            return None
        loader = _LineLoader(text)
        loader.duplicates = []
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        problems.append(_yaml_problem(path, text, exc))
        return None
    problems.extend(Problem(str(path), line, msg) for line, msg in loader.duplicates)
    return data


# -- where packs live ------------------------------------------------------------------------


def builtin_rules_dir() -> Path:
    """The built-in packs: inside the wheel, else the repo's top-level `rules/` (editable)."""
    shipped = resources.files("leakaudit") / "builtin_rules"
    if shipped.is_dir():
        return Path(str(shipped))
    return Path(__file__).resolve().parents[2] / "rules"


def find_pack_dirs(root: Path) -> list[Path]:
    """`root` itself when it holds a pack.yml, else its sub-directories that do."""
    if (root / PACK_FILE).is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / PACK_FILE).is_file())


def _hashed(rel: Path) -> bool:
    """Whether a file at `rel` inside a pack counts in its sha256 (not hidden, not a cache).

    Judged on the path inside the pack: a pack under `~/.config/` is still hashed.
    """
    return not any(part.startswith(".") or part == "__pycache__" for part in rel.parts)


def pack_sha256(pack_dir: Path) -> str:
    """Hash of a pack's files (sorted relative paths and contents): provenance of a run.

    Raises RuleError naming the first file that cannot be read.
    """
    digest = hashlib.sha256()
    files = sorted(
        p for p in pack_dir.rglob("*") if p.is_file() and _hashed(p.relative_to(pack_dir))
    )
    for file in files:
        rel = file.relative_to(pack_dir).as_posix()
        try:
            content = file.read_bytes()
        except OSError as exc:
            problem = _unreadable(file, exc)
            raise RuleError(problem.message, problem.path) from exc
        digest.update(rel.encode("utf-8") + b"\0")
        digest.update(content + b"\0")
    return digest.hexdigest()


def rule_files(pack_dir: Path) -> list[Path]:
    """Every entry named like a rule file, files or not: a directory or dangling link named
    `X.yml` is reported as unreadable instead of its rule vanishing without a word. Hidden
    entries are not rules (an editor's lock link `.#X.yml`, a swap file), as for the sha256."""
    return sorted(
        p
        for p in pack_dir.iterdir()
        if p.suffix in (".yml", ".yaml") and p.name != PACK_FILE and _hashed(Path(p.name))
    )


# -- one file at a time ----------------------------------------------------------------------


class _FileCheck:
    """Problems of one file, located by the key they concern."""

    def __init__(self, path: Path, problems: list[Problem]):
        self.path = path
        self.problems = problems

    def add(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(str(self.path), line, message))

    def at(self, mapping: Any, key: str) -> int | None:
        if isinstance(mapping, _Mapping):
            return mapping.key_lines.get(key, mapping.line)
        return None

    def unknown_keys(self, mapping: _Mapping, allowed: set[str], what: str) -> None:
        for key in mapping:
            if key not in allowed:
                self.add(
                    mapping.key_lines.get(key),
                    f"unknown key {key!r} in {what}; allowed: {', '.join(sorted(allowed))}",
                )

    def text(self, mapping: _Mapping, key: str, required: bool = True) -> str:
        value = mapping.get(key)
        if value is None:
            if required:
                self.add(mapping.line, f"missing required key {key!r}")
            return ""
        if not isinstance(value, str) or not value.strip():
            self.add(self.at(mapping, key), f"{key!r} must be a non-empty string")
            return ""
        return value.strip()

    def strings(self, mapping: _Mapping, key: str) -> tuple[str, ...]:
        value = mapping.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.add(self.at(mapping, key), f"{key!r} must be a list of strings")
            return ()
        return tuple(value)


def load_pack_dir(pack_dir: Path, problems: list[Problem], builtin: bool = False) -> Pack | None:
    """One pack directory: its pack.yml and every rule file, checked file by file."""
    meta_path = pack_dir / PACK_FILE
    check = _FileCheck(meta_path, problems)
    before = len(problems)
    meta = read_yaml(meta_path, problems)
    if not isinstance(meta, _Mapping):
        # An empty pack.yml (None, no problem of its own) must not vanish because another
        # pack had problems before it.
        if meta is not None or len(problems) == before:
            check.add(1, "pack.yml must be a mapping with name, version and description")
        return None
    check.unknown_keys(meta, PACK_KEYS, "pack.yml")
    for key in PACK_REQUIRED:
        if key not in meta:
            check.add(meta.line, f"missing required key {key!r}")
        elif not isinstance(meta[key], str) or not meta[key].strip():
            # `version: 1.10` is the number 1.1 to YAML: the run record would say "1.1".
            message = f"{key!r} must be a non-empty string"
            if not isinstance(meta[key], str):
                message += f"; YAML read this unquoted value as {meta[key]!r}: put it in quotes"
            check.add(check.at(meta, key), message)
    name = str(meta.get("name") or pack_dir.name)
    if isinstance(meta.get("name"), str) and meta["name"].strip() and not _ID.fullmatch(name):
        check.add(check.at(meta, "name"), f"pack name {name!r} must {_ID_FORM}")
    rules = []
    try:
        paths = rule_files(pack_dir)
    except OSError as exc:
        problems.append(_unreadable(pack_dir, exc, "folder"))
        paths = []
    for path in paths:
        rule = load_rule_file(path, name, problems, builtin=builtin)
        if rule is not None:
            rules.append(rule)
    try:
        sha256 = pack_sha256(pack_dir)
    except RuleError as exc:
        # An unreadable rule file is already reported; another file of the pack is not.
        if not any(p.path == exc.path for p in problems):
            problems.append(Problem(str(exc.path), None, exc.message))
        sha256 = ""
    return Pack(
        name=name,
        version=str(meta.get("version", "")),
        description=str(meta.get("description") or ""),
        rules=tuple(rules),
        path=pack_dir,
        sha256=sha256,
        builtin=builtin,
    )


def load_rule_file(
    path: Path, pack: str, problems: list[Problem], builtin: bool = False
) -> Rule | None:
    """Parse and check one rule file's metadata (SQL is bound later, for all rules at once)."""
    before = len(problems)
    check = _FileCheck(path, problems)
    data = read_yaml(path, problems)
    if data is None and len(problems) > before:
        return None
    if not isinstance(data, _Mapping):
        check.add(1, "a rule file must be a mapping of keys (id, title, category, …)")
        return None
    check.unknown_keys(data, RULE_KEYS, "a rule")
    rule_id = check.text(data, "id")
    if rule_id and not _ID.fullmatch(rule_id):
        check.add(check.at(data, "id"), f"rule id {rule_id!r} must {_ID_FORM}")
    if rule_id and rule_id != path.stem:
        check.add(
            check.at(data, "id"),
            f"rule id {rule_id!r} does not match the file name {path.name!r} "
            f"(expected id {path.stem!r})",
        )
    title = check.text(data, "title")
    category = check.text(data, "category")
    if category and category not in CATEGORIES:
        check.add(
            check.at(data, "category"),
            f"unknown category {category!r}; expected one of: {', '.join(CATEGORIES)}",
        )
    severity = check.text(data, "severity")
    if severity and severity not in SEVERITIES:
        check.add(
            check.at(data, "severity"),
            f"unknown severity {severity!r}; expected one of: {', '.join(SEVERITIES)}",
        )
    prose = {key: check.text(data, key) for key in ("description", "rationale", "remediation")}
    references = check.strings(data, "references")
    tags = check.strings(data, "tags")
    requires = check.strings(data, "requires")
    for table in requires:
        if table not in TABLES:
            check.add(
                check.at(data, "requires"),
                f"unknown table {table!r} in requires; native tables: {', '.join(TABLES)}",
            )
    entities = check.strings(data, "entities")
    if "entities" not in data:
        check.add(data.line, "missing required key 'entities'")
    elif not entities:
        check.add(check.at(data, "entities"), "'entities' must list at least one column")
    collect = _collect(check, data, entities)
    evidence = check.strings(data, "evidence")
    params, invalid_params = _params(check, data)
    query, query_path = _query(check, data, path)
    reason = check.text(data, "reason")
    if reason:
        _check_reason(check, data, reason, entities)
    tests = _tests(check, data, entities, params, invalid_params)
    if not query:
        return None
    # Returned even when its metadata has problems, so that its SQL is bound too and the
    # author sees every problem in one pass; any problem still fails the whole load.
    return Rule(
        id=rule_id,
        pack=pack,
        title=title,
        category=category,
        severity=severity,
        description=prose["description"],
        rationale=prose["rationale"],
        remediation=prose["remediation"],
        query=query,
        entities=entities,
        reason=reason,
        references=references,
        tags=tags,
        params=params,
        requires=requires,
        evidence=evidence,
        collect=collect,
        tests=tuple(tests),
        invalid_params=invalid_params,
        path=path,
        query_path=query_path,
        builtin=builtin,
    )


def _collect(check: _FileCheck, data: _Mapping, entities: tuple[str, ...]) -> dict[str, str]:
    """`collect:` maps list entities to the column the engine collects them from."""
    value = data.get("collect")
    if value is None:
        return {}
    line = check.at(data, "collect")
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
    ):
        check.add(line, "'collect' must map entities to columns (accounts: account_id)")
        return {}
    for name in value:
        if name not in entities:
            check.add(line, f"'collect' names {name!r}, which is not one of the entities")
    if entities and set(entities) <= set(value):
        # Grouped by nothing, every row would be one finding, and no rows still one.
        check.add(line, "'collect' may not hold every entity; one must come from the SQL")
    return dict(value)


def _params(check: _FileCheck, data: _Mapping) -> tuple[dict[str, Param], frozenset[str]]:
    """Valid parameters, and the names of declared ones that are invalid (already reported)."""
    raw = data.get("params")
    if raw is None:
        return {}, frozenset()
    if not isinstance(raw, _Mapping):
        check.add(check.at(data, "params"), "'params' must map names to {type, default}")
        return {}, frozenset()
    params = {}
    for name, spec in raw.items():
        line = raw.key_lines.get(name)
        if not isinstance(name, str) or not _NAME.match(name):
            check.add(line, f"parameter name {name!r} must be letters, digits and _")
            continue
        if not isinstance(spec, _Mapping):
            check.add(line, f"parameter {name!r} must be a mapping with type and default")
            continue
        check.unknown_keys(spec, PARAM_KEYS, f"parameter {name!r}")
        type_ = spec.get("type")
        if type_ not in PARAM_TYPES:
            check.add(
                check.at(spec, "type"),
                f"parameter {name!r} has type {type_!r}; expected one of: "
                + ", ".join(PARAM_TYPES),
            )
            continue
        if "default" not in spec:
            check.add(spec.line, f"parameter {name!r} has no default")
            continue
        minimum = spec.get("min")
        if minimum is not None and (
            type_ not in ("integer", "number")
            or isinstance(minimum, bool)
            or not isinstance(minimum, int | float)
        ):
            check.add(
                check.at(spec, "min"),
                f"'min' of parameter {name!r} must be a number, for an integer or number type",
            )
            continue
        param = Param(name, type_, None, str(spec.get("description") or ""), minimum)
        try:
            default = param.coerce(spec["default"])
        except ValueError as exc:
            check.add(check.at(spec, "default"), f"default of parameter {name!r}: {exc}")
            continue
        params[name] = replace(param, default=default)
    return params, frozenset(str(name) for name in raw) - set(params)


def _query(check: _FileCheck, data: _Mapping, path: Path) -> tuple[str, Path | None]:
    inline, file = data.get("query"), data.get("query_file")
    if inline is not None and file is not None:
        check.add(check.at(data, "query_file"), "give either 'query' or 'query_file', not both")
        return "", None
    if inline is None and file is None:
        check.add(data.line, "missing required key 'query' (or 'query_file')")
        return "", None
    if inline is not None:
        if not isinstance(inline, str) or not inline.strip():
            check.add(check.at(data, "query"), "'query' must be a non-empty SQL string")
            return "", None
        return inline, None
    if not isinstance(file, str) or not file.strip():
        check.add(check.at(data, "query_file"), "'query_file' must be a file name")
        return "", None
    sql_path = path.parent / file
    refused = _outside_pack(sql_path, path.parent)
    if refused:
        check.add(
            check.at(data, "query_file"),
            f"query_file {file!r} {refused}; put the SQL file in the pack's folder",
        )
        return "", None
    try:
        sql = sql_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        check.add(check.at(data, "query_file"), f"query_file {file!r} does not exist")
        return "", None
    except (OSError, UnicodeDecodeError) as exc:
        check.problems.append(_unreadable(sql_path, exc))
        return "", None
    if not sql:
        check.problems.append(Problem(str(sql_path), 1, "the SQL file is empty"))
        return "", None
    return sql, sql_path


def _outside_pack(sql_path: Path, pack_dir: Path) -> str:
    """Why a query_file is not one of the pack's own files, or "" when it is.

    Checked before anything is read: a pack under review must not make `rules validate` read
    (and quote) /etc/passwd, and the pack's sha256 covers only its own, unhidden files.
    Links are followed (realpath: a link loop is left for the read to report).
    """
    home = Path(os.path.realpath(pack_dir))
    target = Path(os.path.realpath(sql_path))
    if not target.is_relative_to(home):
        return "resolves outside the pack folder"
    if not _hashed(target.relative_to(home)):
        return "is in a hidden folder, which the pack's sha256 leaves out"
    return ""


def _check_reason(check: _FileCheck, data: _Mapping, reason: str, entities: Iterable[str]):
    allowed = set(entities) | set(REASON_FIELDS)
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(reason)
            if name is not None
        ]
    except ValueError as exc:
        check.add(check.at(data, "reason"), f"reason is not a valid template: {exc}")
        return
    for name, spec, conversion in fields:
        if name not in allowed:
            check.add(
                check.at(data, "reason"),
                f"reason placeholder {{{name}}} is not an entity or one of "
                + ", ".join(REASON_FIELDS),
            )
        elif spec or conversion:
            # Entity values are text: `{account_id:d}` would fail only when a finding is written.
            written = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            check.add(
                check.at(data, "reason"),
                f"reason placeholder {{{written}}} has a format spec or conversion; "
                f"write it as {{{name}}}",
            )


def _tests(
    check: _FileCheck,
    data: _Mapping,
    entities: tuple[str, ...],
    params: dict[str, Param],
    invalid_params: frozenset[str],
) -> list[RuleTest]:
    raw = data.get("tests")
    if raw is None:
        check.add(
            data.line,
            "missing required key 'tests' (at least one positive and one negative test)",
        )
        return []
    if not isinstance(raw, list):
        check.add(check.at(data, "tests"), "'tests' must be a list of tests")
        return []
    tests = []
    positive = negative = 0
    for i, spec in enumerate(raw, 1):
        if not isinstance(spec, _Mapping):
            check.add(check.at(data, "tests"), f"test {i} must be a mapping")
            continue
        check.unknown_keys(spec, TEST_KEYS, f"test {i}")
        name = spec.get("name")
        if not isinstance(name, str) or not name.strip():
            check.add(spec.line, f"test {i} needs a 'name'")
            name = f"test {i}"
        tables = _test_tables(check, spec, name)
        expected = _test_findings(check, spec, name, entities)
        if isinstance(spec.get("findings"), list):
            positive += bool(spec["findings"])
            negative += not spec["findings"]
        overrides = {}
        raw_params = spec.get("params") or {}
        if not isinstance(raw_params, dict):
            check.add(check.at(spec, "params"), f"test {name!r}: 'params' must be a mapping")
            raw_params = {}
        for key, value in raw_params.items():
            if key in invalid_params:
                continue  # its declaration is wrong and already reported
            if key not in params:
                check.add(
                    check.at(spec, "params"),
                    f"test {name!r} sets parameter {key!r}, which the rule does not declare",
                )
                continue
            try:
                overrides[key] = params[key].coerce(value)
            except ValueError as exc:
                check.add(check.at(spec, "params"), f"test {name!r}, parameter {key!r}: {exc}")
        if expected is not None:
            tests.append(RuleTest(name, tables, expected, overrides, line=spec.line))
    if not positive or not negative:
        check.add(
            check.at(data, "tests"),
            "a rule needs at least one positive test (non-empty findings) and one negative "
            f"test (findings: []); it has {positive} positive and {negative} negative",
        )
    return tests


def _test_tables(check: _FileCheck, spec: _Mapping, name: str) -> dict[str, list[dict]]:
    raw = spec.get("tables")
    if raw is None:
        return {}
    if not isinstance(raw, _Mapping):
        check.add(check.at(spec, "tables"), f"test {name!r}: 'tables' must map table to rows")
        return {}
    tables = {}
    for table, rows in raw.items():
        line = raw.key_lines.get(table)
        if table not in TABLES:
            check.add(line, f"test {name!r} uses unknown table {table!r}")
            continue
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            check.add(line, f"test {name!r}: rows of {table!r} must be a list of mappings")
            continue
        tables[table] = [dict(r) for r in rows]
    return tables


def _test_findings(
    check: _FileCheck, spec: _Mapping, name: str, entities: tuple[str, ...]
) -> list[dict[str, Any]] | None:
    if "findings" not in spec:
        check.add(
            spec.line, f"test {name!r} needs 'findings' (the exact set expected; [] for none)"
        )
        return None
    raw = spec["findings"]
    if not isinstance(raw, list):
        check.add(check.at(spec, "findings"), f"test {name!r}: 'findings' must be a list")
        return None
    expected = []
    for finding in raw:
        keys = set(finding) if isinstance(finding, dict) else set()
        if not isinstance(finding, dict) or keys != set(entities):
            line = finding.line if isinstance(finding, _Mapping) else check.at(spec, "findings")
            check.add(
                line,
                f"test {name!r}: an expected finding has keys {', '.join(sorted(keys)) or '(none)'}"
                f"; expected exactly the entities {', '.join(entities)}",
            )
            continue
        expected.append(dict(finding))
    return expected


# -- SQL: parameters used and binding against the native schema -----------------------------


def _walk_parameters(node: Any) -> Iterator[tuple[str, int]]:
    """(name, character offset) of every PARAMETER node of a serialized parse tree."""
    if isinstance(node, dict):
        if node.get("class") == "PARAMETER" and "identifier" in node:
            yield str(node["identifier"]), int(node.get("query_location") or 0)
        for value in node.values():
            yield from _walk_parameters(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_parameters(value)


class SqlShapeError(ValueError):
    """The SQL is not exactly one SELECT; `line` (from 1) is where DuckDB's parser stopped."""

    def __init__(self, message: str, line: int = 1):
        super().__init__(message)
        self.line = line


def _line_at(sql: str, offset: int) -> int:
    """Line (from 1) of a byte offset into `sql`, as DuckDB's parser counts positions."""
    return sql.encode("utf-8")[:offset].count(b"\n") + 1


def sql_parameters(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, int]:
    """The `$name` parameters of one SELECT and the line (from 1) each first appears on.

    Read from DuckDB's own parse tree (`json_serialize_sql`), never with a regex, so a `$` in
    a string literal or comment is not a parameter.

    Raises SqlShapeError with DuckDB's reason, at the line of its error position, when the
    text is not exactly one SELECT statement.
    """
    row = con.execute("SELECT json_serialize_sql($sql)", {"sql": sql}).fetchone()
    try:
        tree = json.loads(row[0]) if row else {"error": True, "error_message": "no result"}
        found = list(_walk_parameters(tree.get("statements", [])[:1]))
    except RecursionError:
        # `1+1+…` 400 times is a tree deeper than Python's stack, though DuckDB accepts it.
        raise SqlShapeError("the SQL is nested too deeply to check") from None
    if tree.get("error"):
        message = tree.get("error_message", "cannot parse")
        if tree.get("error_type") == "not implemented":
            message = "the query must be a single SELECT statement (" + message + ")"
        else:
            message = "the SQL does not parse: " + message
        position = str(tree.get("position", ""))
        raise SqlShapeError(message, _line_at(sql, int(position)) if position.isdigit() else 1)
    statements = tree.get("statements", [])
    if len(statements) != 1:
        raise SqlShapeError(
            f"the query must be exactly one SELECT statement; it has {len(statements)}"
        )
    lines: dict[str, int] = {}
    for name, offset in sorted(found, key=lambda p: p[1]):
        lines.setdefault(name, _line_at(sql, offset))
    for entry in statements[0].get("named_param_map", []):
        lines.setdefault(str(entry["key"]), 1)
    return lines


def semantics_sql() -> str:
    """The shared SPEC §2 SQL every rule reads (empty until the packs define it)."""
    return SEMANTICS_SQL.read_text(encoding="utf-8") if SEMANTICS_SQL.is_file() else ""


def apply_semantics(store: Store) -> None:
    """Create the shared temp views/tables of semantics.sql on a store (once per run), then
    shut the store off from every other file and URL before any rule runs.

    A rule reads the database only: `read_csv('/etc/passwd')` or `read_text('~/.ssh/…')` in
    a custom rule would otherwise copy the file into a shareable report, and `rules
    validate` of a pack under review would read it (or fetch a URL) while binding. DuckDB
    cannot turn external access back on, so this comes after the ingest, last.
    """
    sql = semantics_sql()
    try:
        if sql.strip():
            store.con.execute(sql)
    except duckdb.Error as exc:
        raise RuleError(
            f"the shared semantics SQL does not run: {_first_line(exc)}", SEMANTICS_SQL
        ) from exc
    store.con.execute("SET enable_external_access = false")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _error_line(exc: BaseException) -> int | None:
    m = re.search(r"^LINE (\d+):", str(exc), re.MULTILINE)
    return int(m.group(1)) if m else None


def check_rule_sql(con: duckdb.DuckDBPyConnection, rule: Rule, problems: list[Problem]) -> None:
    """Parameters declared == used, and the SQL binds and returns the contract's columns."""
    data_path, base = _sql_location(rule)
    try:
        used_at = sql_parameters(con, rule.query)
    except SqlShapeError as exc:
        line = base + exc.line - 1 if base is not None else None
        problems.append(Problem(data_path, line, str(exc)))
        return
    used = set(used_at)
    positional = sorted(p for p in used if p.isdigit())
    if positional:
        problems.append(
            Problem(data_path, base, "use named parameters ($name), not positional ones (? or $1)")
        )
        return
    declared = set(rule.params)
    used -= rule.invalid_params  # their declaration is wrong and already reported
    for name in sorted(used - declared):
        line = base + used_at[name] - 1 if base is not None else None
        problems.append(
            Problem(data_path, line, f"parameter ${name} is used in the SQL but not declared")
        )
    for name in sorted(declared - used):
        problems.append(
            Problem(
                str(rule.path),
                key_line(rule.path, "params", name),
                f"parameter {name!r} is declared but not used in the SQL",
            )
        )
    if used != declared or rule.invalid_params:
        return
    try:
        columns = dict(
            (row[0], row[1])
            for row in con.execute(f"DESCRIBE {rule.query}", rule.defaults()).fetchall()
        )
    except duckdb.Error as exc:
        offset = _error_line(exc)
        line = base + offset - 1 if base is not None and offset is not None else base
        problems.append(
            Problem(
                data_path,
                line,
                f"the SQL does not bind against the native schema: {_first_line(exc)}",
            )
        )
        return
    wanted = [*rule.grouping_entities, EVENT_TS, SOURCE_FILE, SOURCE_LINE, *rule.evidence]
    for name in dict.fromkeys(wanted):
        if name not in columns:
            problems.append(
                Problem(
                    data_path,
                    base,
                    f"the SQL returns no column {name!r} (a rule returns its entities, "
                    "event_ts, _source_file, _source_line and its evidence columns)",
                )
            )
    for name, column in rule.collect.items():
        if column not in columns and column not in wanted:
            problems.append(
                Problem(
                    data_path,
                    base,
                    f"the SQL returns no column {column!r}, which 'collect' builds the "
                    f"entity {name!r} from",
                )
            )
        if name in columns:
            problems.append(
                Problem(
                    data_path,
                    base,
                    f"the SQL returns a column {name!r}, which 'collect' builds from "
                    f"{column!r}; return only {column!r}",
                )
            )
    if EVENT_TS in columns and columns[EVENT_TS] != TIMESTAMPTZ:
        problems.append(
            Problem(
                data_path,
                base,
                f"event_ts must be TIMESTAMPTZ; the SQL returns {columns[EVENT_TS]}",
            )
        )


def _sql_location(rule: Rule) -> tuple[str, int | None]:
    """The file and first line of a rule's SQL, so DuckDB's `LINE n` maps to the file."""
    if rule.query_path is not None:
        return str(rule.query_path), 1
    data = read_yaml(rule.path, []) if rule.path is not None and rule.path.is_file() else None
    if isinstance(data, _Mapping) and "query" in data:
        return str(rule.path), data.value_lines.get("query")
    return str(rule.path), None


def key_line(path: Path | None, *keys: str) -> int | None:
    """Line of a (nested) key in a rule file, for problems found after parsing."""
    data = read_yaml(path, []) if path is not None and path.is_file() else None
    line = None
    for key in keys:
        if not isinstance(data, _Mapping) or key not in data:
            break
        line = data.key_lines.get(key)
        data = data[key]
    return line


def check_sql(rules: Iterable[Rule], problems: list[Problem]) -> None:
    """Bind every rule on one empty in-memory store that has the shared semantics."""
    rules = list(rules)
    if not rules:
        return
    with Store.open(MEMORY) as store:
        try:
            apply_semantics(store)
        except RuleError as exc:
            problems.append(Problem(str(exc.path), exc.line, exc.message))
            return
        for rule in rules:
            check_rule_sql(store.con, rule, problems)


# -- many packs ------------------------------------------------------------------------------


def load_all(
    dirs: Iterable[str | Path], *, builtin: bool, override: bool
) -> tuple[list[Pack], list[Problem]]:
    """Load the built-in packs and then each custom dir; resolve overrides; bind all SQL."""
    problems: list[Problem] = []
    loaded: list[Pack] = []
    if builtin:
        for pack_dir in find_pack_dirs(builtin_rules_dir()):
            if (pack := load_pack_dir(pack_dir, problems, builtin=True)) is not None:
                loaded.append(pack)
    seen_dirs = {pack.path.resolve() for pack in loaded if pack.path is not None}
    for raw in dirs:
        root = Path(raw)
        try:
            pack_dirs = find_pack_dirs(root)
        except OSError as exc:
            # A pack folder without search permission fails on its pack.yml, else on `root`.
            where = Path(exc.filename or root)
            problems.append(_unreadable(where, exc, "folder" if where == root else "file"))
            continue
        if not pack_dirs:
            reason = "is not a directory" if not root.is_dir() else "holds no rule pack"
            problems.append(
                Problem(str(root), None, f"{reason} (a pack is a directory with a pack.yml)")
            )
        for pack_dir in pack_dirs:
            # `--rules my_rules --rules my_rules/acme` names one pack twice: load it once.
            if pack_dir.resolve() in seen_dirs:
                continue
            seen_dirs.add(pack_dir.resolve())
            if (pack := load_pack_dir(pack_dir, problems)) is not None:
                loaded.append(pack)
    _check_pack_names(loaded, problems)
    loaded = _resolve_ids(loaded, override, problems)
    check_sql((r for p in loaded for r in p.rules), problems)
    problems.sort(key=lambda p: (p.path, p.line or 0))
    return loaded, problems


def _check_pack_names(packs: list[Pack], problems: list[Problem]) -> None:
    """A pack name is unique: `--pack NAME` selects by it and every finding carries it, so a
    custom pack named `staff` would run with, and read as, the built-in one."""
    first: dict[str, Pack] = {}
    for pack in packs:
        taken = first.setdefault(pack.name, pack)
        if taken is pack or pack.path is None:
            continue
        meta = pack.path / PACK_FILE
        kind = "the built-in pack" if taken.builtin else "the pack"
        problems.append(
            Problem(
                str(meta),
                key_line(meta, "name") or 1,
                f"pack name {pack.name!r} is already taken by {kind} in {taken.path}; "
                "give this pack its own name",
            )
        )


def _resolve_ids(packs: list[Pack], override: bool, problems: list[Problem]) -> list[Pack]:
    """Duplicate ids are errors, except a custom rule replacing a built-in with --override."""
    seen: dict[str, Rule] = {}
    replaced: set[tuple[str, str]] = set()  # (rule id, built-in pack) dropped by an override
    for pack in packs:
        for rule in pack.rules:
            first = seen.get(rule.id)
            if not rule.id:
                continue
            if first is None:
                seen[rule.id] = rule
            elif first.builtin and not rule.builtin and override:
                replaced.add((rule.id, first.pack))
                seen[rule.id] = rule
            elif first.builtin and not rule.builtin:
                problems.append(
                    Problem(
                        str(rule.path),
                        key_line(rule.path, "id"),
                        f"rule id {rule.id!r} is already a built-in rule of pack "
                        f"{first.pack!r}; pass --override to replace it",
                    )
                )
            else:
                problems.append(
                    Problem(
                        str(rule.path),
                        key_line(rule.path, "id"),
                        f"duplicate rule id {rule.id!r} (also defined in {first.path})",
                    )
                )
    if not replaced:
        return packs
    return [
        replace(pack, rules=tuple(r for r in pack.rules if (r.id, pack.name) not in replaced))
        if pack.builtin
        else pack
        for pack in packs
    ]
