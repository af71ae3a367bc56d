"""From a config to `{NAME: Secret}`: select, check policy, fetch, check again.

Order matters for what is never fetched: anything the config itself says is production (its
scope, its vault name) is refused before any provider runs. Metadata and values are then
fetched concurrently — one `op inject` and the `op item list` calls overlap, so a run costs
about one 1Password round trip — and checked together; on any refusal every fetched value is
wiped and all refusals are reported at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from devsecrets.config import Config, SecretSpec
from devsecrets.errors import DevsecretsError, ProviderError, RefusedError
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
from devsecrets.secret import Secret, wipe_all


@dataclass
class Resolved:
    secrets: dict[str, Secret]
    metadata: dict[str, Metadata]

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


def resolve(config: Config, specs: Sequence[SecretSpec], policy: Policy) -> Resolved:
    refusals = [r for spec in specs for r in static_refusals(spec, policy)]
    if refusals:
        raise RefusedError([r.as_tuple() for r in refusals])
    values, metadata = fetch(config, specs)
    secrets = {spec.name: values[spec.ref] for spec in specs}
    try:
        _check_values(secrets)
        refusals = _late_refusals(specs, metadata, secrets, policy)
        if refusals:
            raise RefusedError([r.as_tuple() for r in refusals])
    except BaseException:
        wipe_all(values)
        raise
    return Resolved(secrets, {s.name: metadata[s.ref] for s in specs if s.ref in metadata})


def fetch(
    config: Config, specs: Sequence[SecretSpec], *, values: bool = True
) -> tuple[dict[Ref, Secret], dict[Ref, Metadata]]:
    """Values and metadata for every spec, all providers and both kinds concurrently."""
    by_provider: dict[str, list[Ref]] = {}
    for spec in specs:
        by_provider.setdefault(spec.ref.provider, []).append(spec.ref)
    context = Context(project=config.project)
    jobs: list[tuple[str, Future[dict[Ref, Secret]] | Future[dict[Ref, Metadata]]]] = []
    with ThreadPoolExecutor(max_workers=max(1, 2 * len(by_provider))) as pool:
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
    """Prefix a provider error with the secret names that use the reference it names."""
    if error.ref_text:
        names = [s.name for s in specs if s.ref.text.casefold() == error.ref_text.casefold()]
        if names:
            error.message = f"{', '.join(names)}: {error.message}"
            error.args = (error.message,)
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


def _late_refusals(
    specs: Sequence[SecretSpec],
    metadata: dict[Ref, Metadata],
    secrets: dict[str, Secret],
    policy: Policy,
) -> list[Refusal]:
    refusals = []
    for spec in specs:
        refusals += metadata_refusals(spec, metadata.get(spec.ref), policy)
        refusals += value_refusals(spec, secrets[spec.name], policy)
    return refusals
