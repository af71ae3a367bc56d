"""`devsecrets status`: what the project needs and where it comes from. Never a value."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime

from devsecrets.config import Config, SecretSpec, load_config
from devsecrets.errors import ProviderError
from devsecrets.providers.base import Metadata
from devsecrets.refs import Ref
from devsecrets.resolve import fetch
from devsecrets.trust import ALLOWED, check


@dataclass(frozen=True)
class Row:
    name: str
    provider: str
    ref: str
    scope: str
    commands: tuple[str, ...] | None
    updated_at: datetime | None

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "provider": self.provider,
            "ref": self.ref,
            "scope": self.scope,
            "commands": list(self.commands) if self.commands is not None else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


def collect(config: Config, *, ask_providers: bool = True) -> tuple[list[Row], list[str]]:
    """Rows for every secret, plus warnings for providers that could not answer. Providers
    are not asked about the references of an untrusted config (ask_providers=False)."""
    metadata: dict[Ref, Metadata] = {}
    warnings = []
    by_provider: dict[str, list[SecretSpec]] = {}
    for spec in config.secrets if ask_providers else ():
        by_provider.setdefault(spec.ref.provider, []).append(spec)
    for name, specs in by_provider.items():
        try:
            metadata.update(fetch(config, specs, values=False)[1])
        except ProviderError as exc:
            warnings.append(f"{name}: {exc.message.splitlines()[0]} ({exc.fix})")
    rows = [
        Row(
            s.name,
            s.ref.provider,
            s.ref.text,
            s.scope,
            s.commands,
            metadata[s.ref].updated_at if s.ref in metadata else None,
        )
        for s in config.secrets
    ]
    return rows, warnings


def show_status(*, as_json: bool) -> int:
    config = load_config()
    verdict = check(config)
    trusted = verdict.state == ALLOWED
    rows, warnings = collect(config, ask_providers=trusted)
    if not trusted:
        warnings.append("providers were not asked (the config is not trusted)")
    if as_json:
        document = {
            "project": config.project,
            "config": str(config.path),
            "scope": config.scope,
            "trust": verdict.as_json(),
            "secrets": [row.as_json() for row in rows],
            "warnings": warnings,
        }
        print(json.dumps(document, indent=2))
        return 0
    print(f"{config.project} ({config.scope}) — {config.path}")
    print(f"trust: {verdict.describe()}")
    table = [("NAME", "SOURCE", "SCOPE", "UPDATED")] + [
        (r.name, r.ref, r.scope, r.updated_at.strftime("%Y-%m-%d %H:%M") if r.updated_at else "-")
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    for line in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    for warning in warnings:
        print(f"devsecrets: warning: {warning}", file=sys.stderr)
    return 0
