"""Counts in prose (reports, CLI lines, errors): "1 finding", "2 findings", never "1 findings"."""

from __future__ import annotations


def plural(count: int, word: str) -> str:
    """`word` as it reads after `count`: the word itself for one, with an `s` otherwise."""
    return word if count == 1 else f"{word}s"
