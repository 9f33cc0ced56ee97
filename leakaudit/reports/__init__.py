"""Report renderers, one per format, registered by name and file extension.

A renderer turns a `FindingsDocument` into bytes; it never opens the database. Modules
register themselves with `@register(...)`; `renderer_for(path_or_format)` picks one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from leakaudit.errors import ConfigError
from leakaudit.findings import FindingsDocument


@dataclass(frozen=True)
class RenderOptions:
    """What a renderer may need beyond the document."""

    base_dir: Path | None = None  # where SARIF locations are made relative to
    max_results: int | None = None  # a format's cap (SARIF: 25,000)
    warnings: list[str] = field(default_factory=list)  # renderers append what the user must know


RenderFn = Callable[[FindingsDocument, RenderOptions], bytes]


@dataclass(frozen=True)
class Reporter:
    name: str
    extensions: tuple[str, ...]  # longest match wins: ".ocsf.jsonl" before ".jsonl"
    render: RenderFn
    description: str


REPORTERS: dict[str, Reporter] = {}

# Modules that register reporters; importing them fills REPORTERS.
_MODULES: tuple[str, ...] = ("json", "csv", "markdown", "console", "sarif", "ocsf", "junit", "html")


def register(
    name: str, extensions: tuple[str, ...], description: str
) -> Callable[[RenderFn], RenderFn]:
    """Decorator: make `fn` the renderer for format `name` and these file extensions."""

    def wrap(fn: RenderFn) -> RenderFn:
        REPORTERS[name] = Reporter(name, extensions, fn, description)
        return fn

    return wrap


def load_reporters() -> dict[str, Reporter]:
    for module in _MODULES:
        importlib.import_module(f"leakaudit.reports.{module}")
    return REPORTERS


def renderer_for(target: str | Path, fmt: str | None = None) -> Reporter:
    """The reporter named by `fmt`, else the one whose extension ends `target`'s name."""
    reporters = load_reporters()
    if fmt is not None:
        if fmt not in reporters:
            raise ConfigError(
                f"Unknown report format {fmt!r}; choose one of {', '.join(sorted(reporters))}."
            )
        return reporters[fmt]
    name = Path(target).name.lower()
    matches = [
        (len(ext), r) for r in reporters.values() for ext in r.extensions if name.endswith(ext)
    ]
    if not matches:
        known = ", ".join(sorted(ext for r in reporters.values() for ext in r.extensions))
        raise ConfigError(
            f"Cannot tell the report format of {target!s} from its extension (known: {known}); "
            "pass --format.",
        )
    return max(matches, key=lambda m: m[0])[1]
