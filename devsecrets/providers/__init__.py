"""Provider registry: the built-ins, plus third parties through the entry-point group
`devsecrets.providers` (name = the reference scheme, value = a `Provider` subclass)."""

from __future__ import annotations

import importlib
from functools import cache

from devsecrets.errors import DevsecretsError
from devsecrets.providers.base import Context, Provider

ENTRY_POINT_GROUP = "devsecrets.providers"
BUILTIN = {
    "onepassword": "devsecrets.providers.onepassword:OnePasswordProvider",
    "keyring": "devsecrets.providers.keyring:KeyringProvider",
}


@cache
def plugin_schemes() -> frozenset[str]:
    """Schemes registered by installed third-party providers."""
    from importlib.metadata import entry_points

    return frozenset(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def provider_class(name: str) -> type[Provider]:
    if name in BUILTIN:
        module, _, attr = BUILTIN[name].partition(":")
        cls: type[Provider] = getattr(importlib.import_module(module), attr)
        return cls
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        loaded = ep.load()
        if isinstance(loaded, type) and issubclass(loaded, Provider):
            return loaded
    raise DevsecretsError(
        f"no provider named {name!r} is installed", "install the package that provides it"
    )


def get_provider(name: str, context: Context) -> Provider:
    return provider_class(name)(context)


def all_provider_names() -> list[str]:
    return [*BUILTIN, *sorted(plugin_schemes())]
