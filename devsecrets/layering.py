"""Policy layers: built-in defaults ← team policy ← project `policy:` ← per-secret settings.

A layer may only tighten what is above it: a shorter `max_age`, `session_ttl` or
`trust_ttl`, a longer `warn_before` (earlier warnings), fewer `allowed_scopes`, its own
vault list (a vault must then be in every list) and more `deny_values`. A layer that
loosens is an error naming both files and lines, so nobody can quietly stretch the weekly
rotation in a project file. One exception, from the session-agent design: the team (not a
project) may lengthen `session_ttl` from its 15-minute default up to 60 minutes.

Pure: the team policy arrives already read (see teampolicy.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from devsecrets.config import Config, PolicyBlock
from devsecrets.durations import format_duration
from devsecrets.errors import ConfigError
from devsecrets.policy import BUILTIN, Policy

# Ceilings a team policy may raise a default to (a project never may).
TEAM_LIMITS = {"session_ttl": timedelta(minutes=60)}
SHORTER_IS_TIGHTER = ("max_age", "session_ttl", "trust_ttl")


@dataclass(frozen=True)
class Layer:
    block: PolicyBlock
    file: str
    keypath: str  # where the settings sit in the file: "" (team file) or "policy"
    is_team: bool


def effective_policy(config: Config | None, team: Layer | None) -> Policy:
    """Layer the team policy and the project's settings over the built-in defaults."""
    policy = Policy()
    layers = [team] if team else []
    if config is not None:
        layers.append(Layer(config.policy, str(config.path), "policy", is_team=False))
    for layer in layers:
        check_tightens(policy, layer)
        limits = TEAM_LIMITS if layer.is_team else None
        policy = policy.tightened_by(layer.block, layer.file, may_raise=limits)
    if config is not None:
        check_secrets(policy, config)
    return policy


def check_tightens(policy: Policy, layer: Layer) -> None:
    """Raise a ConfigError at the first setting of `layer` that loosens `policy`."""
    block = layer.block
    for key in SHORTER_IS_TIGHTER:
        value: timedelta | None = getattr(block, key)
        current: timedelta = getattr(policy, key)
        ceiling = TEAM_LIMITS.get(key) if layer.is_team else None
        if value is None:
            continue
        if ceiling is not None and ceiling > current:  # this layer may lengthen, up to here
            if value > ceiling:
                _over_ceiling(layer, key, value, ceiling)
        elif value > current:
            now = format_duration(current)
            _loosens(layer, key, format_duration(value), policy, now, f"{now} or less")
    if block.warn_before is not None and block.warn_before < policy.warn_before:
        current_warn = format_duration(policy.warn_before)
        _loosens(
            layer,
            "warn_before",
            format_duration(block.warn_before),
            policy,
            current_warn,
            f"{current_warn} or more (a longer warning is stricter)",
        )
    if block.allowed_scopes is not None:
        extra = [s for s in block.allowed_scopes if s not in policy.allowed_scopes]
        if extra:
            _loosens(
                layer,
                "allowed_scopes",
                f"scope {extra[0]!r}",
                policy,
                "[" + ", ".join(policy.allowed_scopes) + "]",
                "scopes from that list only",
            )


def check_secrets(policy: Policy, config: Config) -> None:
    """A secret's own `max_age` may only tighten the effective policy."""
    for spec in config.secrets:
        if spec.max_age is not None and spec.max_age > policy.max_age:
            source = policy.source("max_age")
            current = format_duration(policy.max_age)
            raise ConfigError(
                f"{format_duration(spec.max_age)} is looser than max_age: {current} set by "
                f"{_describe(source)}; a secret may only tighten the policy",
                f"write max_age: {current} or less for {spec.name}, or remove it",
                file=str(config.path),
                keypath=f"secrets.{spec.name}.max_age",
                line=spec.line,
            )


def _loosens(
    layer: Layer, key: str, value: str, policy: Policy, current: str, allowed: str
) -> None:
    source = policy.source(key)
    who = "the team policy" if layer.is_team else "a project"
    change = (
        f", or change it in {source.rsplit(':', 1)[0]}"
        if source != BUILTIN
        else " (the built-in defaults cannot be loosened)"
    )
    raise ConfigError(
        f"{value} is looser than {key}: {current} set by {_describe(source)}; {who} may "
        "only tighten it",
        f"use {allowed} here{change}",
        file=layer.file,
        keypath=f"{layer.keypath}.{key}" if layer.keypath else key,
        line=layer.block.lines.get(key),
    )


def _over_ceiling(layer: Layer, key: str, value: timedelta, ceiling: timedelta) -> None:
    limit = format_duration(ceiling)
    raise ConfigError(
        f"{format_duration(value)} exceeds the maximum of {limit} that a team policy may set",
        f"use {limit} or less here",
        file=layer.file,
        keypath=f"{layer.keypath}.{key}" if layer.keypath else key,
        line=layer.block.lines.get(key),
    )


def _describe(source: str) -> str:
    return "devsecrets' built-in defaults" if source == BUILTIN else source
