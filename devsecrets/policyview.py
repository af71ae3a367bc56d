"""`devsecrets policy`: the effective policy, and which file (and line) set each value."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from devsecrets.config import Config, find_config, load_config
from devsecrets.durations import format_duration
from devsecrets.layering import effective_policy
from devsecrets.policy import BUILTIN, SETTINGS, Policy


@dataclass(frozen=True)
class Line:
    """One row: a setting (or a secret), its value as text and as JSON, and its source."""

    key: str
    text: str
    value: object
    source: str


def show_policy(*, as_json: bool, start: Path | None = None) -> int:
    """Print the effective policy of the project here (outside a project: the team's)."""
    from devsecrets.teampolicy import load_team_policy

    config = load_config(start) if find_config(start) else None
    team = load_team_policy()
    policy = effective_policy(config, team)
    settings, secrets = settings_lines(policy), secret_lines(policy, config)
    if as_json:
        document = {
            "project": config.project if config else None,
            "config": str(config.path) if config else None,
            "team_policy": team.file if team else None,
            "policy": {
                line.key: {"value": line.value, "source": line.source}
                for line in settings
                if line.key
            },
            "secrets": [
                {"name": line.key, **_dict(line.value), "max_age_source": line.source}
                for line in secrets
            ],
        }
        print(json.dumps(document, indent=2))
        return 0
    where = f"{config.project} ({config.path})" if config else "no project here"
    print(f"Effective policy for {where}")
    print(f"Team policy: {team.file if team else 'none installed'}")
    print("\n".join(_table(settings)))
    if secrets:
        print("Secrets:")
        print("\n".join(_table(secrets)))
    return 0


def settings_lines(policy: Policy) -> list[Line]:
    lines = []
    for key in SETTINGS:
        source = policy.source(key)
        if key == "vaults":
            pins = [{"allowed": list(p.names), "source": p.source} for p in policy.vaults]
            text = " and ".join(f"[{', '.join(p.names)}]" for p in policy.vaults) or "any"
            lines.append(Line(key, text, pins or None, source))
        elif key == "deny_values":
            found = [{"label": d.label, "source": d.source} for d in policy.detectors]
            own = sum(1 for d in policy.detectors if d.source != BUILTIN)
            text = f"{len(found) - own} built-in detectors" + (f" + {own} below" if own else "")
            lines.append(Line(key, text, found, source))
            lines += [
                Line("", f"+ {d.label}", None, d.source)
                for d in policy.detectors
                if d.source != BUILTIN
            ]
        elif key == "allowed_scopes":
            scopes = list(policy.allowed_scopes)
            lines.append(Line(key, ", ".join(scopes) or "none", scopes, source))
        else:
            text = format_duration(getattr(policy, key))
            lines.append(Line(key, text, text, source))
    return lines


def secret_lines(policy: Policy, config: Config | None) -> list[Line]:
    if config is None:
        return []
    lines = []
    for spec in config.secrets:
        max_age = format_duration(policy.max_age_for(spec))
        own = f"{config.path}:{spec.line}"
        source = own if spec.max_age else policy.source("max_age")
        value = {"scope": spec.scope, "max_age": max_age}
        lines.append(Line(spec.name, f"scope {spec.scope}, max_age {max_age}", value, source))
    return lines


def _dict(value: object) -> dict[str, object]:
    return dict(value) if isinstance(value, dict) else {}


def _table(lines: list[Line]) -> list[str]:
    key_width = max(len(line.key) for line in lines)
    text_width = max(len(line.text) for line in lines)
    return [
        f"  {line.key.ljust(key_width)}  {line.text.ljust(text_width)}  {line.source}".rstrip()
        for line in lines
    ]
