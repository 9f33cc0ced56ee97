"""Keyed pseudonyms for the personal data in a findings document, so a report can leave the
security team (issue 5, item 11).

`redact(doc, key)` returns a new document in which account ids, e-mail addresses, lookup keys
and client IPs are replaced by `kind~hex`, the first 12 hex digits (48 bits: collisions stay
improbable across millions of values) of HMAC-SHA256(key, value). The same value gets the same
pseudonym under one key, in every format and every run, so redacted reports can still be
compared and joined; without the key a pseudonym cannot be reversed or guessed from a list of
likely ids. Rule ids, counts and times are unchanged. A fingerprint is recomputed from the
redacted entities (SPEC §4's hash of rule id and entities, of the entities the document
shows): the original one is an unkeyed hash of the real ids, which anyone could reverse by
hashing a list of likely ids. It is still stable across runs under one key.

Two passes over every log-derived string (entities, evidence rows and their file names,
titles, reasons, input paths, skip reasons):

1. Values known from their column: an entity or evidence value under a key naming an account
   (`account_id`, `owner_account_id`, `accounts`, …), an e-mail, a lookup key or an IP is
   replaced wherever it occurs, as a whole value and inside free text. Inside text it is
   replaced where it stands as whole tokens, i.e. not starting or ending inside a run of
   letters and digits, so `A-1` is not mistaken for part of `A-17`.
2. E-mail addresses and IPv4/IPv6 addresses anywhere in free text, found with regular
   expressions and checked with `ipaddress`.

An account id that appears only in free text, with no column naming it, cannot be recognised.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections import defaultdict
from dataclasses import replace
from typing import Any

from leakaudit.findings import Evidence, Finding, FindingsDocument, RunRecord, fingerprint

PSEUDONYM_HEX = 12
PREFIX = {"account": "acct", "email": "email", "ip": "ip", "lookup": "lookup"}
# When one value appears under several kinds of column, the first kind here names it.
KIND_ORDER = ("account", "email", "ip", "lookup")

_ATOM = re.compile(r"[^\W_]+|.", re.DOTALL)  # a run of letters and digits, or one other char
_EMAIL = re.compile(
    r"(?<![\w.+%'-])[\w.+%'-]+@[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)+"
)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])"
)


def pseudonym(kind: str, value: str, key: bytes) -> str:
    """`acct~3f9a1c2b04de`: the keyed pseudonym of `value` as a `kind` (see PREFIX)."""
    digest = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"{PREFIX[kind]}~{digest[:PSEUDONYM_HEX]}"


def column_kind(column: str) -> str | None:
    """The kind of personal data a column or entity key holds, from its name; else None."""
    name = column.lower()
    words = set(name.split("_"))
    if "account" in name:
        return "account"
    if "mail" in name:
        return "email"
    if words & {"ip", "ipv4", "ipv6", "addr"}:
        return "ip"
    if "lookup" in name:
        return "lookup"
    return None


def _atoms(text: str) -> tuple[str, ...]:
    return tuple(_ATOM.findall(text))


class _KnownValues:
    """Replaces known values where they stand as whole tokens: leftmost, longest first.

    Texts are split into atoms (runs of letters and digits, single other characters) and
    matched atom by atom against a dict, so the cost grows with the text, not with the number
    of known values (a regex alternation of thousands of ids would try each at every position).
    """

    def __init__(self, replacements: dict[str, str]) -> None:
        self.by_atoms = {_atoms(v): p for v, p in replacements.items() if v}
        lengths: dict[str, set[int]] = defaultdict(set)
        for atoms in self.by_atoms:
            lengths[atoms[0]].add(len(atoms))
        self.lengths = {first: sorted(ns, reverse=True) for first, ns in lengths.items()}

    def __call__(self, text: str) -> str:
        atoms = _atoms(text)
        out: list[str] = []
        i = 0
        while i < len(atoms):
            for n in self.lengths.get(atoms[i], ()):
                replacement = self.by_atoms.get(atoms[i : i + n])
                if replacement is not None:
                    out.append(replacement)
                    i += n
                    break
            else:
                out.append(atoms[i])
                i += 1
        return "".join(out)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return any(ch.isalnum() for ch in text)


class _Redactor:
    def __init__(self, doc: FindingsDocument, key: bytes) -> None:
        self.key = key
        known: dict[str, str] = {}
        for kind, value in sorted(self._column_values(doc), key=lambda kv: KIND_ORDER.index(kv[0])):
            known.setdefault(value, pseudonym(kind, value, key))
        self.known = _KnownValues(known)

    @staticmethod
    def _column_values(doc: FindingsDocument) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []

        def collect(column: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    collect(k, v)
            elif isinstance(value, list):
                for v in value:
                    collect(column, v)
            elif isinstance(value, str) and (kind := column_kind(column)) is not None:
                found.append((kind, value))

        for f in doc.findings:
            collect("", f.entities)
            for e in f.evidence:
                collect("", e.row)
        return found

    def text(self, value: str) -> str:
        value = self.known(value)
        value = _EMAIL.sub(lambda m: pseudonym("email", m[0], self.key), value)
        for pattern in (_IPV6, _IPV4):
            value = pattern.sub(
                lambda m: pseudonym("ip", m[0], self.key) if _is_ip(m[0]) else m[0], value
            )
        return value

    def value(self, value: Any) -> Any:
        """Strings redacted at any depth of lists and dicts; keys and numbers kept."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        return value

    def finding(self, f: Finding) -> Finding:
        entities = {
            k: sorted(self.value(v)) if isinstance(v, list) else self.value(v)
            for k, v in f.entities.items()
        }
        evidence = [
            Evidence(self.text(e.source_file), e.source_line, self.value(e.row)) for e in f.evidence
        ]
        return replace(
            f,
            fingerprint=fingerprint(f.rule_id, entities),
            title=self.text(f.title),
            reason=self.text(f.reason),
            entities=entities,
            evidence=evidence,
        )

    def run(self, run: RunRecord) -> RunRecord:
        return replace(
            run,
            inputs=[replace(i, path=self.text(i.path)) for i in run.inputs],
            rules=[
                replace(r, skipped_reason=self.text(r.skipped_reason))
                if r.skipped_reason is not None
                else r
                for r in run.rules
            ],
        )


def redact(doc: FindingsDocument, key: bytes) -> FindingsDocument:
    """A copy of `doc` with account ids, e-mails, lookup keys and client IPs pseudonymised."""
    redactor = _Redactor(doc, key)
    return FindingsDocument(
        run=redactor.run(doc.run), findings=[redactor.finding(f) for f in doc.findings]
    )
