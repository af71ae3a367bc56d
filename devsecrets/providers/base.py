"""The small interface every provider implements.

A provider turns references into `Secret`s (`fetch`), may say what it knows about them
without reading values (`metadata`), says why it cannot run (`check`), and may store values
(`store`). Errors are `ProviderError`s whose `kind` is one of `KINDS`, so callers can react
to "signed out" without parsing messages.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from devsecrets.errors import ProviderError
from devsecrets.refs import Ref
from devsecrets.secret import Secret

KINDS = (
    "not_installed",
    "signed_out",
    "auth_timeout",
    "prompt_dismissed",
    "app_unreachable",
    "not_found",
    "ambiguous",
    "rate_limited",
    "invalid_reference",
    "invalid_value",
    "no_backend",
    "bad_backend",
    "locked",
    "unknown",
)


@dataclass(frozen=True)
class Check:
    """The answer to "can this provider run here?"; `fix` says what to do when it cannot."""

    ok: bool
    detail: str
    fix: str = ""
    kind: str = ""  # when not ok and known: one of KINDS


@dataclass(frozen=True)
class Metadata:
    """What a provider knows about a reference without reading its value.

    `unknown` says why the provider knows nothing about this one reference ("1Password has
    no item 'x' in vault 'Staging'") while it answered for the others; empty otherwise.
    A provider that cannot answer at all (signed out, timed out) raises instead.
    """

    vault_id: str | None = None
    vault_name: str | None = None
    item_id: str | None = None
    item_title: str | None = None
    tags: tuple[str, ...] = ()
    updated_at: datetime | None = None
    unknown: str = ""


@dataclass(frozen=True)
class Context:
    """What providers need to know about the project they serve."""

    project: str
    timeout: float = 30.0


class Provider(ABC):
    name: str = ""

    def __init__(self, context: Context) -> None:
        self.context = context

    @abstractmethod
    def check(self) -> Check:
        """Whether the provider can serve here; never raises."""

    @abstractmethod
    def fetch(self, refs: Sequence[Ref]) -> dict[Ref, Secret]:
        """Values for every reference, or a ProviderError; never a partial result."""

    def metadata(self, refs: Sequence[Ref]) -> dict[Ref, Metadata]:
        """Vault, tags and last update per reference, without reading values; a reference
        the provider cannot find gets a `Metadata` whose `unknown` says why."""
        return {}

    def store(self, ref: Ref, secret: Secret) -> None:
        raise ProviderError(
            f"the {self.name} provider cannot store values",
            "store it where the reference points, with that tool",
            kind="unknown",
        )
