"""Pure policy decisions: which secrets may be served, and why not. No I/O here.

The seed rule is "staging-only": a secret is served only when its scope is allowed (dev,
test, sandbox, staging by default) and nothing about it says production — not its 1Password
vault name, not an item tag, not the shape of its value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from devsecrets.config import POLICY_KEYS, Config, PolicyBlock, SecretSpec
from devsecrets.providers.base import Metadata
from devsecrets.refs import OpRef
from devsecrets.secret import Secret

DEFAULT_SCOPES = ("dev", "test", "sandbox", "staging")
BUILTIN = "built-in default"
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
    production: bool = False  # refused because something about it says production

    def as_tuple(self) -> tuple[str, str, str]:
        return (self.name, self.reason, self.fix)


@dataclass(frozen=True)
class ValueDetector:
    """Recognises a production credential by the shape of its value."""

    label: str
    matches: Callable[[bytearray], bool]
    source: str = BUILTIN


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
class VaultPin:
    """One layer's list of allowed 1Password vaults (ids or names). A vault must be in every
    layer's list: a project cannot widen its team's list, and ids and names can mix."""

    names: tuple[str, ...]
    source: str

    def allows(self, meta: Metadata) -> bool:
        wanted = {name.casefold() for name in self.names}
        return bool({(meta.vault_id or "").casefold(), (meta.vault_name or "").casefold()} & wanted)


@dataclass(frozen=True)
class Policy:
    """The effective policy for one project: built-in defaults, tightened layer by layer.

    `sources` says, per key, which file (and line) set the value; keys absent from it hold
    the built-in default. Build one with `policy_for(config)`, which checks that no layer
    loosens the one above it before calling `tightened_by`.
    """

    allowed_scopes: tuple[str, ...] = DEFAULT_SCOPES
    max_age: timedelta = timedelta(days=7)
    warn_before: timedelta = timedelta(days=2)
    session_ttl: timedelta = timedelta(minutes=15)
    trust_ttl: timedelta = timedelta(days=30)
    vaults: tuple[VaultPin, ...] = ()
    detectors: tuple[ValueDetector, ...] = BUILTIN_DETECTORS
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def source(self, key: str) -> str:
        return self.sources.get(key, BUILTIN)

    def tightened_by(
        self, block: PolicyBlock, file: str, *, may_raise: Mapping[str, timedelta] | None = None
    ) -> Policy:
        """Apply one layer read from `file`. Callers refuse loosening layers with an error
        first (see layering.py); this clamps anyway, so no caller can loosen by mistake.
        `may_raise` lists the ceilings up to which this layer may lengthen a duration."""
        changes: dict[str, object] = {}
        sources = dict(self.sources)

        def where(key: str) -> str:
            line = block.lines.get(key)
            return f"{file}:{line}" if line else file

        for key in ("max_age", "session_ttl", "trust_ttl"):
            value, current = getattr(block, key), getattr(self, key)
            if value is not None:
                ceiling = max(current, (may_raise or {}).get(key, current))
                changes[key], sources[key] = min(value, ceiling), where(key)
        if block.warn_before is not None:  # a longer warning is the stricter one
            changes["warn_before"] = max(block.warn_before, self.warn_before)
            sources["warn_before"] = where("warn_before")
        if block.allowed_scopes is not None:
            allowed = tuple(s for s in block.allowed_scopes if s in self.allowed_scopes)
            changes["allowed_scopes"], sources["allowed_scopes"] = allowed, where("allowed_scopes")
        if block.vaults is not None:
            changes["vaults"] = (*self.vaults, VaultPin(block.vaults, where("vaults")))
            sources["vaults"] = where("vaults")
        if block.deny_values:
            source = where("deny_values")
            extra = tuple(
                ValueDetector(f"a value matching {p!r}", _pattern(p.encode()), source)
                for p in block.deny_values
            )
            changes["detectors"] = self.detectors + extra
            sources["deny_values"] = source
        return replace(self, sources=sources, **changes)  # type: ignore[arg-type]

    def max_age_for(self, spec: SecretSpec) -> timedelta:
        """A secret's own `max_age` when it has one (layering made sure it is not longer)."""
        return min(spec.max_age, self.max_age) if spec.max_age else self.max_age

    def warn_window(self, max_age: timedelta) -> timedelta:
        """How long before the due date a secret is "due soon". At most half its max_age, so
        a short-lived secret is not in warning from the moment it is rotated."""
        return min(self.warn_before, max_age / 2)


# The keys of a policy layer, in the order `devsecrets policy` shows them.
SETTINGS = tuple(POLICY_KEYS)


def policy_for(config: Config) -> Policy:
    """The effective policy for a project: the one function every caller uses.

    It reads the team policy file (the only I/O behind a policy decision) and layers built-in
    defaults, team policy, project `policy:` and per-secret settings, refusing any layer that
    loosens the one above it (a ConfigError naming both files).
    """
    from devsecrets.layering import effective_policy
    from devsecrets.teampolicy import load_team_policy

    return effective_policy(config, load_team_policy())


def says_production(text: str) -> bool:
    """True when a name has `prod`, `production` or `live` as a word: 'Prod-Payments' yes,
    'Products' no."""
    return any(word in PRODUCTION_WORDS for word in _WORD_SPLIT.split(text.lower()))


def static_refusals(spec: SecretSpec, policy: Policy) -> list[Refusal]:
    """What can be refused before anything is fetched: the scope and the names in the ref."""
    fix = PRODUCTION_FIX.format(name=spec.name)
    refusals = []
    if says_production(spec.scope):
        refusals.append(
            Refusal(spec.name, f"its scope {spec.scope!r} is production", fix, production=True)
        )
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
            Refusal(spec.name, f"1Password vault {spec.ref.vault!r} says production", fix, True)
        )
    return refusals


def metadata_refusals(spec: SecretSpec, meta: Metadata | None, policy: Policy) -> list[Refusal]:
    """Refusals from what the provider says about the reference (no value needed). When it
    could say nothing (`meta.unknown`), the unknown age refuses it (rotation.py)."""
    if meta is None or meta.unknown:
        return []
    fix = PRODUCTION_FIX.format(name=spec.name)
    refusals = []
    if meta.vault_name and says_production(meta.vault_name):
        refusals.append(
            Refusal(spec.name, f"1Password vault {meta.vault_name!r} says production", fix, True)
        )
    for tag in meta.tags:
        if says_production(tag):
            refusals.append(
                Refusal(spec.name, f"its 1Password item is tagged {tag!r}", fix, production=True)
            )
    for pin in policy.vaults:
        if not pin.allows(meta):
            vault = meta.vault_name or meta.vault_id or "?"
            refusals.append(
                Refusal(
                    spec.name,
                    f"1Password vault {vault!r} is not one of the vaults allowed by {pin.source}",
                    f"allowed vaults: {', '.join(pin.names)}; move the item there or ask your "
                    "team to allow the vault",
                )
            )
    return refusals


def value_refusals(spec: SecretSpec, secret: Secret, policy: Policy) -> list[Refusal]:
    fix = PRODUCTION_FIX.format(name=spec.name)
    return [
        Refusal(spec.name, f"its value looks like {detector.label}{_from(detector)}", fix, True)
        for detector in policy.detectors
        if detector.matches(secret.buffer)
    ]


def _from(detector: ValueDetector) -> str:
    return "" if detector.source == BUILTIN else f" (deny_values in {detector.source})"
