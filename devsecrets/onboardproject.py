"""The project steps of `devsecrets onboard`: review and allow the config, store the
keyring secrets it lists that this machine does not have yet, and the final audit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from devsecrets.config import Config, SecretSpec
from devsecrets.errors import DevsecretsError, ProviderError
from devsecrets.onboard import DONE, MISSING, NOTE, Onboarding
from devsecrets.refs import KeyringRef

if TYPE_CHECKING:
    from devsecrets.status import Row


def project_step(run: Onboarding, config: Config) -> bool:
    """Show what the config hands out, allow it if the user agrees; True when trusted."""
    from devsecrets.policy import policy_for
    from devsecrets.trust import (
        ALLOW_FIX,
        ALLOWED,
        CHANGED,
        allow,
        check,
        describe_changes,
        summarize,
    )

    try:
        policy_for(config)  # a project looser than the (new) team policy is refused
    except DevsecretsError as exc:
        run.report(MISSING, "project config", exc.message, exc.fix or "")
        return False
    verdict = check(config)
    if verdict.state == ALLOWED:
        run.report(DONE, "project config", verdict.describe())
        return True
    print(f"  {config.path} ({config.project}, {config.scope}) asks for:")
    listed = summarize(config)
    if verdict.state == CHANGED and verdict.allow is not None:
        lines = describe_changes(verdict.allow.secrets, listed)
    else:
        width = max((len(name) for name in listed), default=0)
        lines = [f"    {name.ljust(width)}  {ref}" for name, ref in listed.items()]
    print("\n".join(lines or ["    (no secrets)"]), flush=True)
    if run.check_only:
        run.report(MISSING, "project config", verdict.describe().split(" — ")[0], ALLOW_FIX)
        return False
    answer = run.ask("Allow this config (review it first: it says what runs get)?", default=False)
    if not answer:
        why = "you said no" if answer is False else "no terminal to ask; or pass --yes"
        run.report(MISSING, "project config", f"not allowed ({why})", ALLOW_FIX)
        return False
    allow(config)
    run.changed.append("project allowed")
    run.report(DONE, "project config", check(config).describe())
    return True


def secrets_step(run: Onboarding, config: Config) -> None:
    """Ask for every keyring secret this machine lacks; then say what `run` would refuse."""
    from devsecrets.policy import policy_for, static_refusals

    policy = policy_for(config)
    reported: set[str] = set()
    if "keyring" in run.down:  # no keyring to look in: said once, with its fix, above
        names = [spec.name for spec in config.secrets if isinstance(spec.ref, KeyringRef)]
        _unchecked(run, "keyring", names)
        reported.update(names)
    for spec in config.secrets:
        if not isinstance(spec.ref, KeyringRef) or static_refusals(spec, policy):
            continue  # 1Password secrets live in vaults; refusals are reported below
        if spec.name in reported:
            continue
        try:
            present = _in_keyring(config, spec)
        except ProviderError as exc:
            run.report(MISSING, "secrets", exc.message, exc.fix or "")
            return
        if not present and not _ask_for(run, config, spec):
            reported.add(spec.name)
    _served(run, config, reported)


def _in_keyring(config: Config, spec: SecretSpec) -> bool:
    from devsecrets.providers.base import Context
    from devsecrets.providers.keyring import KeyringProvider

    try:
        found = KeyringProvider(Context(project=config.project)).fetch([spec.ref])
    except ProviderError as exc:
        if exc.kind == "not_found":
            return False
        raise
    for secret in found.values():
        secret.wipe()
    return True


def _ask_for(run: Onboarding, config: Config, spec: SecretSpec) -> bool:
    """Read and store the value; False when it was not stored (reported with the fix)."""
    from devsecrets.policy import policy_for
    from devsecrets.prompt import interactive, read_value
    from devsecrets.store import store

    topic = f"secret {spec.name}"
    fix = f"devsecrets set {spec.name}"
    if run.check_only or not interactive():
        why = "" if run.check_only else " (no terminal to ask for it)"
        run.report(MISSING, topic, f"not in this machine's keyring{why}", fix)
        return False
    about = f" — {spec.description}" if spec.description else ""
    print(f"  {spec.name} ({spec.scope} credential, {spec.ref.text}){about}", flush=True)
    try:
        secret = read_value(spec.name)
        try:
            store(
                config,
                spec,
                secret,
                policy=policy_for(config),
                via="onboard",
                now=datetime.now(UTC),
            )
        finally:
            secret.wipe()
    except DevsecretsError as exc:
        run.report(MISSING, topic, exc.message.splitlines()[0], exc.fix or fix)
        return False
    run.changed.append(spec.name)
    run.report(DONE, topic, "stored in the keyring")
    return True


def _served(run: Onboarding, config: Config, reported: set[str]) -> None:
    """What `run` would do with each secret now (metadata only, no value); the secrets in
    `reported` already have their ✗ (not in the keyring) and are not reported again, nor
    are the ages a provider with a ✗ of its own above could not give."""
    from devsecrets.rotation import UNKNOWN
    from devsecrets.status import survey

    result = survey(config)
    refused = [row for row in result.rows if row.state not in ("ok", "due_soon")]
    unchecked: dict[str, list[str]] = {}
    for row in refused:
        if row.state == UNKNOWN and row.provider in run.down & result.unavailable.keys():
            unchecked.setdefault(row.provider, []).append(row.name)
        elif row.name not in reported:
            note = (row.notes() or [row.state_text])[0]
            run.report(MISSING, f"secret {row.name}", f"{row.state_text}: {note}", _fix(row))
    ready = len(result.rows) - len(refused)
    if not refused:
        run.report(DONE, "secrets", f"{ready} of {len(result.rows)} ready for `devsecrets run`")
    for provider, names in unchecked.items():
        _unchecked(run, provider, names)
    for provider, warning in result.unavailable.items():
        if provider not in run.down:
            run.report(NOTE, "provider", warning)


def _unchecked(run: Onboarding, provider: str, names: list[str]) -> None:
    """One line for the secrets a provider with its own ✗ above could not check."""
    from devsecrets.status import PROVIDER_LABELS

    what = f"secret {names[0]}" if len(names) == 1 else f"secrets {', '.join(names)}"
    label = PROVIDER_LABELS.get(provider, provider)
    run.report(NOTE, what, f"not checked: {label} is unavailable (its ✗ above)")


def _fix(row: Row) -> str:
    """A refused secret's fix: a policy refusal's own; `set` for a secret devsecrets never
    stored (there is nothing to rotate); else `rotate`."""
    refusal = row.refusals[0] if row.refusals else row.scope_mismatch
    if refusal is not None:
        return refusal.fix
    if row.assessment is not None and row.assessment.never_stored:
        return f"devsecrets set {row.name}"
    if row.assessment is not None and row.assessment.skewed:
        age_refusal = row.assessment.refusal()
        return age_refusal.fix if age_refusal else ""
    return f"devsecrets rotate {row.name}" if row.state in ("stale", "unknown") else ""


def audit_step(run: Onboarding) -> None:
    """The three questions' score card; findings are shown, not counted as missing steps
    (a CI runner's own tokens in its environment would otherwise fail every check)."""
    from devsecrets.audit import run_audit
    from devsecrets.auditview import score

    root = str(run.config.root) if run.config else None
    report = run_audit(root)
    if report.clean:
        run.report(DONE, "audit", "score 0 / none / none")
    elif report.config_error is not None:  # reported as a missing step already
        run.report(NOTE, "audit", f"score {score(report)}; the project config is unreadable")
    else:
        run.report(
            NOTE,
            "audit",
            f"score {score(report)} (target 0 / none / none)",
            "devsecrets audit (shows each finding and its fix)",
        )
