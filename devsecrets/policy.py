"""Pure policy decisions: which secrets may be served, and why not. No I/O here.

The seed rule is "staging-only": a secret is served only when its scope is allowed (dev,
test, sandbox, staging by default) and nothing about it says production — not its 1Password
vault name, not an item tag, not the shape of its value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta

from devsecrets.config import Config, PolicyBlock, SecretSpec
from devsecrets.providers.base import Metadata
from devsecrets.refs import OpRef
from devsecrets.secret import Secret

DEFAULT_SCOPES = ("dev", "test", "sandbox", "staging")
PRODUCTION_WORDS = frozenset({"prod", "production", "live"})
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_URL_HOST = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*://(?:[^/@\s]*@)?([A-Za-z0-9.-]+)")
PRODUCTION_FIX = (
    "devsecrets never serves production credentials to a development machine: point {name} "
    "at a staging or sandbox credential"
)


@dataclass(frozen=True)
class Refusal:
    name: str
    reason: str
    fix: str

    def as_tuple(self) -> tuple[str, str, str]:
        return (self.name, self.reason, self.fix)


@dataclass(frozen=True)
class ValueDetector:
    """Recognises a production credential by the shape of its value."""

    label: str
    matches: Callable[[bytearray], bool]


def _pattern(regex: bytes, flags: int = 0) -> Callable[[bytearray], bool]:
    compiled = re.compile(regex, flags)
    return lambda value: compiled.search(value) is not None


def _production_url(value: bytearray) -> bool:
    """A URL whose host name has a `prod`/`production` label: db.prod.example.com, prod-db."""
    for match in _URL_HOST.finditer(value):
        labels = set(re.split(rb"[.-]", match.group(1).lower()))
        if labels & {b"prod", b"production"}:
            return True
    return False


BUILTIN_DETECTORS: tuple[ValueDetector, ...] = (
    ValueDetector("a Stripe live secret key (sk_live_…)", _pattern(rb"sk_live_[0-9A-Za-z]")),
    ValueDetector("a Stripe live restricted key (rk_live_…)", _pattern(rb"rk_live_[0-9A-Za-z]")),
    ValueDetector(
        "a long-lived AWS access key id (AKIA…)",
        _pattern(rb"(?<![A-Z0-9])AKIA[A-Z2-7]{16}(?![A-Z0-9])"),
    ),
    ValueDetector("a Braintree production access token", _pattern(rb"access_token\$production\$")),
    ValueDetector("a Razorpay live key (rzp_live_…)", _pattern(rb"rzp_live_[0-9A-Za-z]")),
    ValueDetector("a URL pointing at a production host", _production_url),
)


@dataclass(frozen=True)
class Policy:
    """The effective policy for one project (built-in defaults, tightened by layers)."""

    allowed_scopes: tuple[str, ...] = DEFAULT_SCOPES
    max_age: timedelta = timedelta(days=7)
    warn_before: timedelta = timedelta(days=2)
    session_ttl: timedelta = timedelta(minutes=15)
    trust_ttl: timedelta = timedelta(days=30)
    vaults: tuple[str, ...] | None = None
    detectors: tuple[ValueDetector, ...] = BUILTIN_DETECTORS
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def tightened_by(self, block: PolicyBlock, source: str) -> Policy:
        """Apply a layer; callers have already refused layers that loosen (see layering)."""
        changes: dict[str, object] = {}
        sources = dict(self.sources)
        for key in ("max_age", "warn_before", "session_ttl", "trust_ttl"):
            value = getattr(block, key)
            if value is not None:
                changes[key] = min(value, getattr(self, key))
                sources[key] = source
        if block.allowed_scopes is not None:
            changes["allowed_scopes"] = tuple(
                s for s in self.allowed_scopes if s in block.allowed_scopes
            )
            sources["allowed_scopes"] = source
        if block.vaults is not None:
            keep = {v.casefold() for v in block.vaults}
            current = self.vaults if self.vaults is not None else block.vaults
            changes["vaults"] = tuple(v for v in current if v.casefold() in keep)
            sources["vaults"] = source
        if block.deny_values:
            extra = tuple(
                ValueDetector(f"a value matching {p!r} ({source})", _pattern(p.encode()))
                for p in block.deny_values
            )
            changes["detectors"] = self.detectors + extra
            sources["deny_values"] = source
        return replace(self, sources=sources, **changes)  # type: ignore[arg-type]


def policy_for(config: Config) -> Policy:
    return Policy().tightened_by(config.policy, str(config.path))


def says_production(text: str) -> bool:
    """True when a name has `prod`, `production` or `live` as a word: 'Prod-Payments' yes,
    'Products' no."""
    return any(word in PRODUCTION_WORDS for word in _WORD_SPLIT.split(text.lower()))


def static_refusals(spec: SecretSpec, policy: Policy) -> list[Refusal]:
    """What can be refused before anything is fetched: the scope and the names in the ref."""
    fix = PRODUCTION_FIX.format(name=spec.name)
    refusals = []
    if says_production(spec.scope):
        refusals.append(Refusal(spec.name, f"its scope {spec.scope!r} is production", fix))
    elif spec.scope not in policy.allowed_scopes:
        allowed = ", ".join(policy.allowed_scopes) or "none"
        refusals.append(
            Refusal(
                spec.name,
                f"its scope {spec.scope!r} is not served (allowed: {allowed})",
                f"give {spec.name} one of the allowed scopes, with a credential of that scope",
            )
        )
    if isinstance(spec.ref, OpRef) and says_production(spec.ref.vault):
        refusals.append(
            Refusal(spec.name, f"1Password vault {spec.ref.vault!r} says production", fix)
        )
    return refusals


def metadata_refusals(spec: SecretSpec, meta: Metadata | None, policy: Policy) -> list[Refusal]:
    """Refusals from what the provider says about the reference (no value needed)."""
    if meta is None:
        return []
    fix = PRODUCTION_FIX.format(name=spec.name)
    refusals = []
    if meta.vault_name and says_production(meta.vault_name):
        refusals.append(
            Refusal(spec.name, f"1Password vault {meta.vault_name!r} says production", fix)
        )
    for tag in meta.tags:
        if says_production(tag):
            refusals.append(Refusal(spec.name, f"its 1Password item is tagged {tag!r}", fix))
    if policy.vaults is not None and not _vault_allowed(meta, policy.vaults):
        refusals.append(
            Refusal(
                spec.name,
                f"1Password vault {meta.vault_name or meta.vault_id!r} is not an allowed vault",
                f"allowed vaults: {', '.join(policy.vaults)}; move the item or ask your team",
            )
        )
    return refusals


def _vault_allowed(meta: Metadata, allowed: Iterable[str]) -> bool:
    names = {v.casefold() for v in allowed}
    return bool({(meta.vault_id or "").casefold(), (meta.vault_name or "").casefold()} & names)


def value_refusals(spec: SecretSpec, secret: Secret, policy: Policy) -> list[Refusal]:
    fix = PRODUCTION_FIX.format(name=spec.name)
    return [
        Refusal(spec.name, f"its value looks like {detector.label}", fix)
        for detector in policy.detectors
        if detector.matches(secret.buffer)
    ]
