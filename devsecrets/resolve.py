"""From a config to `{NAME: Secret}`: select, check policy, fetch, check again.

Order matters for what is never fetched: anything the config itself says is production (its
scope, its vault name), and a keyring secret whose ledger record says it is stale or of
unknown age, is refused before any provider runs — the other secrets' metadata (never their
values) is then read only to complete the list. Otherwise metadata and values are fetched
concurrently — one `op inject` and the `op item list` calls overlap, so a run costs about
one 1Password round trip — and checked together (production tags and values, 1Password
ages); on any refusal every fetched value is wiped and all refusals are reported at once.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from devsecrets import proc
from devsecrets.config import Config, SecretSpec
from devsecrets.errors import DevsecretsError, ProviderError, RefusedError
from devsecrets.ledger import Record
from devsecrets.policy import (
    Policy,
    Refusal,
    metadata_refusals,
    static_refusals,
    value_refusals,
)
from devsecrets.providers import get_provider
from devsecrets.providers.base import Context, Metadata
from devsecrets.refs import Ref
from devsecrets.rotation import Assessment, age_of, assess, assess_all, scope_refusal
from devsecrets.secret import Secret, wipe_all


@dataclass
class Resolved:
    secrets: dict[str, Secret]
    metadata: dict[str, Metadata]  # by secret name
    assessments: dict[str, Assessment] = field(default_factory=dict)  # by secret name

    def wipe(self) -> None:
        wipe_all(self.secrets)


def select(config: Config, only: Sequence[str], command: str | None) -> list[SecretSpec]:
    """The secrets one run receives: all (or those named by --only) that `command` may get."""
    for name in only:
        if config.secret(name) is None:
            known = [s.name for s in config.secrets]
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise DevsecretsError(
                f"--only {name}: no such secret in {config.path}",
                f"{hint}secrets here: {', '.join(known) or 'none'}",
            )
    wanted = [s for s in config.secrets if not only or s.name in only]
    if command is None:
        return wanted
    for spec in wanted:
        if spec.name in only and not spec.allowed_for(command):
            raise DevsecretsError(
                f"{spec.name} is only given to {', '.join(spec.commands or ())}, not to "
                f"{command!r}",
                f"run one of those commands, or add {command!r} to secrets.{spec.name}.commands",
            )
    return [s for s in wanted if s.allowed_for(command)]


def resolve(
    config: Config,
    specs: Sequence[SecretSpec],
    policy: Policy,
    *,
    records: Mapping[str, Record],
    now: datetime,
) -> Resolved:
    """Values for `specs`, or a RefusedError listing every refusal; `records` are the
    project's ledger records (keyring secrets' ages) and `now` the clock."""
    refusals = [r for spec in specs for r in _early_refusals(spec, policy, records, now)]
    if refusals:
        # Complete the list from metadata (no value is read), so that one run shows
        # everything to fix; a provider that cannot answer now will speak on the next run.
        refused = {r.name for r in refusals}
        rest = [s for s in specs if s.name not in refused]
        with contextlib.suppress(ProviderError):
            metadata = fetch(config, rest, values=False)[1] if rest else {}
            refusals += _metadata_refusals(rest, metadata, policy, records, now)
        raise RefusedError([r.as_tuple() for r in refusals])
    values, metadata = fetch(config, specs)
    secrets = {spec.name: values[spec.ref] for spec in specs}
    by_name = {s.name: metadata[s.ref] for s in specs if s.ref in metadata}
    try:
        _check_values(secrets)
        refusals = _metadata_refusals(specs, metadata, policy, records, now)
        refusals += [r for spec in specs for r in value_refusals(spec, secrets[spec.name], policy)]
        if refusals:
            raise RefusedError([r.as_tuple() for r in refusals])
    except BaseException:
        wipe_all(values)
        raise
    assessments = assess_all(specs, policy, by_name, records, now)
    return Resolved(secrets, by_name, assessments)


def fetch(
    config: Config, specs: Sequence[SecretSpec], *, values: bool = True
) -> tuple[dict[Ref, Secret], dict[Ref, Metadata]]:
    """Values and metadata for every spec, all providers and both kinds concurrently."""
    by_provider: dict[str, list[Ref]] = {}
    for spec in specs:
        by_provider.setdefault(spec.ref.provider, []).append(spec.ref)
    context = Context(project=config.project)
    jobs: list[tuple[str, Future[dict[Ref, Secret]] | Future[dict[Ref, Metadata]]]] = []
    with proc.worker_pool(max(1, 2 * len(by_provider))) as pool:
        for name, refs in by_provider.items():
            provider = get_provider(name, context)
            if values:
                jobs.append(("values", pool.submit(provider.fetch, refs)))
            jobs.append(("metadata", pool.submit(provider.metadata, refs)))
    fetched: dict[Ref, Secret] = {}
    metadata: dict[Ref, Metadata] = {}
    errors = []
    for kind, job in jobs:
        try:
            result = job.result()
        except ProviderError as exc:
            errors.append(exc)
            continue
        (fetched if kind == "values" else metadata).update(result)  # type: ignore[arg-type]
    if errors:
        wipe_all(fetched)
        raise _name_secrets(errors[0], specs)
    return fetched, metadata


def _name_secrets(error: ProviderError, specs: Sequence[SecretSpec]) -> ProviderError:
    """Prefix a provider error with the secret names that use the reference it names, and
    fill in a fix that names the secret."""
    text = (error.ref_text or "").casefold()
    names = [
        s.name
        for s in specs
        if (error.ref is not None and s.ref == error.ref)
        or (text and s.ref.text.casefold() == text)
    ]
    if names:
        error.message = f"{', '.join(names)}: {error.message}"
        error.args = (error.message,)
        if error.named_fix and len(names) == 1:
            error.fix = error.named_fix.format(name=names[0])
    return error


def _check_values(secrets: dict[str, Secret]) -> None:
    for name, secret in secrets.items():
        if secret.has_nul():
            raise ProviderError(
                f"{name}: the value contains a NUL byte, which no environment variable can hold",
                f"store {name} as text (base64-encode binary values)",
                kind="invalid_value",
            )
        if not secret.is_utf8():
            raise ProviderError(
                f"{name}: the value is not valid UTF-8",
                f"store {name} as UTF-8 text (base64-encode binary values)",
                kind="invalid_value",
            )


def _early_refusals(
    spec: SecretSpec, policy: Policy, records: Mapping[str, Record], now: datetime
) -> list[Refusal]:
    """What the config and the ledger alone refuse, before any provider runs. Age is only
    judged for secrets the policy serves at all: "rotate it" is no advice for production."""
    refusals = static_refusals(spec, policy)
    if not refusals and spec.ref.provider == "keyring":  # its age is in the ledger
        record = records.get(spec.name)
        age = assess(spec, policy, age_of(spec, None, record), now).refusal()
        refusals += [r for r in (age, scope_refusal(spec, record)) if r is not None]
    return refusals


def _metadata_refusals(
    specs: Sequence[SecretSpec],
    metadata: Mapping[Ref, Metadata],
    policy: Policy,
    records: Mapping[str, Record],
    now: datetime,
) -> list[Refusal]:
    """Refusals from what providers say without values: vault, tags, age."""
    refusals = []
    for spec in specs:
        meta, record = metadata.get(spec.ref), records.get(spec.name)
        policy_refusals = metadata_refusals(spec, meta, policy)
        refusals += policy_refusals
        if not policy_refusals:
            age = assess(spec, policy, age_of(spec, meta, record), now).refusal()
            refusals += [r for r in (age, scope_refusal(spec, record)) if r is not None]
    return refusals
