"""`devsecrets set`, and the storing step that `rotate`, onboarding and `import` share.

A value is checked against the policy (the secret's scope before it is even asked for,
production-looking values before anything is stored), stored in the keyring, and recorded
in the ledger — rotation date, scope, keyed fingerprint — and in the audit log. Only
keyring secrets can be stored: devsecrets never writes to a 1Password vault (`op item
edit` would put the value in argv).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from devsecrets import auditlog
from devsecrets.auditlog import Event
from devsecrets.config import Config, SecretSpec, load_config
from devsecrets.errors import DevsecretsError, RefusedError, UsageError
from devsecrets.ledger import Record, read_records, write_record
from devsecrets.policy import Policy, policy_for, static_refusals, value_refusals
from devsecrets.prompt import read_value
from devsecrets.refs import KeyringRef, OpRef
from devsecrets.rotation import when
from devsecrets.secret import Secret

NOTHING_STORED = "nothing was stored"


def set_secret(name: str, *, scope: str | None = None, now: datetime | None = None) -> int:
    """The `set` command: store a keyring secret from a hidden prompt or stdin."""
    config = load_config()
    spec = keyring_spec(config, name, "set")
    policy = policy_for(config)
    check_scope(spec, policy, scope)
    require_keyring(config)
    secret = read_value(name)
    try:
        store(config, spec, secret, policy=policy, via="set", now=now or datetime.now(UTC))
    finally:
        secret.wipe()
    return 0


def require_keyring(config: Config) -> None:
    """Fail before asking for a value that could not be stored."""
    from devsecrets.providers.base import Context
    from devsecrets.providers.keyring import KeyringProvider

    check = KeyringProvider(Context(project=config.project)).check()
    if not check.ok:
        raise DevsecretsError(f"{check.detail}; nothing was stored", check.fix)


def refuse_argv_value(name: str) -> None:
    """A value typed after NAME is already exposed; say so instead of storing it."""
    raise UsageError(
        "a value on the command line is visible to every process (ps) and stays in your "
        "shell history; nothing was stored",
        f"treat that value as leaked: revoke it, then run `devsecrets set {name}` and type "
        "the new one at the hidden prompt, or pipe it in",
    )


def keyring_spec(config: Config, name: str, command: str) -> SecretSpec:
    spec = find_spec(config, name)
    if isinstance(spec.ref, OpRef):
        raise DevsecretsError(
            f"{name} comes from 1Password ({spec.ref.text}); devsecrets does not write to vaults",
            f"change it in 1Password; `devsecrets rotate {name}` shows where"
            if command == "set"
            else "change it in 1Password",
        )
    if not isinstance(spec.ref, KeyringRef):
        raise DevsecretsError(
            f"{name} comes from the {spec.ref.provider} provider, which devsecrets cannot write to",
            "store it with that provider's own tool",
        )
    return spec


def find_spec(config: Config, name: str) -> SecretSpec:
    spec = config.secret(name)
    if spec is None:
        known = ", ".join(s.name for s in config.secrets) or "none"
        raise DevsecretsError(
            f"{config.path} has no secret named {name}",
            f"secrets here: {known}; to add one, write `{name}: keyring` under `secrets:`",
        )
    return spec


def check_scope(spec: SecretSpec, policy: Policy, scope: str | None) -> None:
    """Refuse before asking for a value: a production scope, or another scope than the
    config's (the credential must be the kind the project says it uses)."""
    if scope is not None:
        scope = scope.strip().lower()
    if scope is not None and scope != spec.scope:
        probe = SecretSpec(spec.name, spec.ref, scope, spec.line)
        refusals = static_refusals(probe, policy)
        if refusals:
            raise RefusedError([r.as_tuple() for r in refusals], outcome=NOTHING_STORED)
        raise DevsecretsError(
            f"the config says {spec.name} is a {spec.scope!r} credential, not {scope!r}; "
            "nothing was stored",
            f"store a {spec.scope} credential, or change `scope:` of {spec.name} in "
            f"{spec_where(spec)} first",
        )
    refusals = static_refusals(spec, policy)
    if refusals:
        raise RefusedError([r.as_tuple() for r in refusals], outcome=NOTHING_STORED)


def spec_where(spec: SecretSpec) -> str:
    return f".devsecrets.yml (line {spec.line})"


def store(
    config: Config,
    spec: SecretSpec,
    secret: Secret,
    *,
    policy: Policy,
    via: str,
    now: datetime,
    changed_at: datetime | None = None,
) -> None:
    """Check `secret` against the policy, store it, record it in the ledger and audit log.

    Also what onboarding and `import` call, so every stored value has a rotation date.
    `changed_at`: when the value itself was last changed, if before now — `import` passes
    the dotenv file's last change, since a value moved from a file is not a fresh one.
    """
    from devsecrets.fingerprint import NoKey, load_key
    from devsecrets.providers.base import Context
    from devsecrets.providers.keyring import KeyringProvider

    check_value(spec, secret, policy)
    read_records(config.project)  # a broken ledger fails here, before the keyring changes
    provider = KeyringProvider(Context(project=config.project))
    provider.store(spec.ref, secret)
    key = load_key(create=True)
    if isinstance(key, NoKey):
        say(f"{spec.name}: {key.reason}; changes made outside devsecrets will go unnoticed")
    fingerprint = None if isinstance(key, NoKey) else key.fingerprint(secret)
    rotated_at = min(changed_at or now, now)
    write_record(
        config.project,
        spec.name,
        Record(spec.ref.text, rotated_at, spec.scope, via, fingerprint),
    )
    due = rotated_at + policy.max_age_for(spec)
    rotation = via.startswith("rotate")
    event = Event(spec.name, "rotated" if rotation else "stored", f"via {via}")
    audit(config, [event], now, action="rotate" if rotation else via)
    where = f"stored {spec.name} in the keyring (service {provider.service})"
    if due <= now:
        say(
            f"{where}; the value dates from {when(rotated_at)} or earlier, so it is already "
            f"due: rotate it with `devsecrets rotate {spec.name}`"
        )
    else:
        say(f"{where}; next rotation due {when(due)}")


def check_value(spec: SecretSpec, secret: Secret, policy: Policy) -> None:
    if secret.has_nul() or not secret.is_utf8():
        raise DevsecretsError(
            f"the value for {spec.name} is not UTF-8 text without NUL bytes; nothing was stored",
            "store text (base64-encode binary values)",
        )
    refusals = value_refusals(spec, secret, policy)
    if refusals:
        raise RefusedError([r.as_tuple() for r in refusals], outcome=NOTHING_STORED)


def audit(config: Config, events: list[Event], now: datetime, *, action: str) -> None:
    try:
        auditlog.append(
            events, action=action, project=config.project, config=str(config.path), now=now
        )
    except DevsecretsError as exc:
        say(f"{exc.message} ({exc.fix})")


def say(text: str) -> None:
    print(f"devsecrets: {text}", file=sys.stderr, flush=True)
