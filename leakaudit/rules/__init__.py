"""Rule packs: load and validate them, select rules, run them on a store.

    packs = load_packs(["my_rules/"], override=True, exclude=["LAM005"])
    findings, outcomes = run_rules(store, packs, parse_param_overrides(flags, packs))

The CLI (`leakaudit rules …`, `leakaudit audit`) is a thin shell over these three functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from leakaudit.errors import ConfigError
from leakaudit.rules.engine import run_rule, run_rules
from leakaudit.rules.loader import (
    Problem,
    RuleValidationError,
    builtin_rules_dir,
    load_all,
)
from leakaudit.rules.model import Pack, Param, Rule, RuleTest

__all__ = [
    "Pack",
    "Param",
    "Problem",
    "Rule",
    "RuleTest",
    "RuleValidationError",
    "all_rules",
    "builtin_rules_dir",
    "find_rule",
    "load_packs",
    "parse_param_overrides",
    "run_rule",
    "run_rules",
    "select_packs",
    "validate",
]


def validate(
    dirs: Iterable[str | Path] = (), *, builtin: bool = True, override: bool = False
) -> tuple[list[Pack], list[Problem]]:
    """Load packs and return every problem instead of raising: what `rules validate` shows."""
    return load_all(dirs, builtin=builtin, override=override)


def load_packs(
    dirs: Iterable[str | Path] = (),
    *,
    builtin: bool = True,
    override: bool = False,
    packs: Sequence[str] | None = None,
    rules: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
) -> list[Pack]:
    """The built-in packs (unless `builtin=False`) and the packs under `dirs`, validated.

    Raises `RuleValidationError` listing every problem of every file. `packs`, `rules` and
    `exclude` narrow the selection by pack name and rule id; naming one that does not exist, or
    a combination that leaves no rule, is a `ConfigError` (a typo must not silently run nothing
    and pass a CI gate). Packs left without rules are dropped.
    """
    loaded, problems = load_all(dirs, builtin=builtin, override=override)
    if problems:
        raise RuleValidationError(problems)
    return select_packs(loaded, packs=packs, rules=rules, exclude=exclude)


def select_packs(
    loaded: Sequence[Pack],
    *,
    packs: Sequence[str] | None = None,
    rules: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
) -> list[Pack]:
    """The rules of `loaded` that --pack, --rule and --exclude keep (see `load_packs`)."""
    pack_names = {p.name for p in loaded}
    rule_ids = {r.id for p in loaded for r in p.rules}
    _check_names("pack", packs, pack_names)
    _check_names("rule", rules, rule_ids)
    _check_names("rule", exclude, rule_ids)
    selected = []
    for pack in loaded:
        if packs and pack.name not in packs:
            continue
        kept = tuple(
            r
            for r in pack.rules
            if (not rules or r.id in rules) and (not exclude or r.id not in exclude)
        )
        if kept:
            selected.append(replace(pack, rules=kept))
    if not selected and (packs or rules or exclude):
        flags = [
            f"--{flag} {name}"
            for flag, names in (("pack", packs), ("rule", rules), ("exclude", exclude))
            for name in names or ()
        ]
        raise ConfigError(
            f"The rule selection {' '.join(flags)} matches no rule; nothing would run."
        )
    return selected


def _check_names(kind: str, wanted: Sequence[str] | None, known: set[str]) -> None:
    for name in wanted or ():
        if name not in known:
            raise ConfigError(
                f"Unknown {kind} {name!r}; known {kind}s: {', '.join(sorted(known)) or 'none'}."
            )


def all_rules(packs: Iterable[Pack]) -> list[Rule]:
    return [rule for pack in packs for rule in pack.rules]


def find_rule(packs: Iterable[Pack], rule_id: str) -> Rule:
    """The rule with this id, or a ConfigError naming the known ids."""
    rules = all_rules(packs)
    for rule in rules:
        if rule.id == rule_id:
            return rule
    known = ", ".join(sorted(r.id for r in rules)) or "none"
    raise ConfigError(f"Unknown rule {rule_id!r}; known rules: {known}.")


def parse_param_overrides(
    assignments: Iterable[str], packs: Iterable[Pack], everything: Iterable[Pack] = ()
) -> dict[str, dict[str, object]]:
    """`RULE_ID.name=value` flags → {rule id: {name: typed value}}, checked against declarations.

    A later assignment of the same parameter wins, as with any repeated flag. `everything`,
    the packs before --pack/--rule/--exclude chose among them, tells a rule left out of the
    run from a typo.
    """
    rules = {rule.id: rule for rule in all_rules(packs)}
    left_out = {rule.id for rule in all_rules(everything)} - set(rules)
    result: dict[str, dict[str, object]] = {}
    for text in assignments:
        target, sep, value = text.partition("=")
        rule_id, dot, name = target.strip().rpartition(".")
        if not sep or not dot or not rule_id or not name:
            raise ConfigError(f"--param {text!r} must look like RULE_ID.name=value.")
        rule = rules.get(rule_id)
        if rule is None and rule_id in left_out:
            raise ConfigError(
                f"--param {text!r}: rule {rule_id} is not selected in this run (--pack, --rule "
                "or --exclude left it out), so the parameter would change nothing."
            )
        if rule is None:
            raise ConfigError(
                f"--param {text!r}: unknown rule {rule_id!r}; "
                f"known rules: {', '.join(sorted(rules)) or 'none'}."
            )
        param = rule.params.get(name)
        if param is None:
            declared = ", ".join(rule.params) or "none"
            raise ConfigError(
                f"--param {text!r}: rule {rule_id} has no parameter {name!r} "
                f"(it declares: {declared})."
            )
        try:
            result.setdefault(rule_id, {})[name] = param.coerce(value)
        except ValueError as exc:
            raise ConfigError(f"--param {text!r}: {exc}.") from exc
    return result
