"""Secret references: `op://vault/item[/section]/field[?query]` and `keyring[:name]`.

The 1Password grammar follows the CLI's own rules (three or four `/`-separated segments,
letters, digits, `-`, `_`, `.` and spaces; query `attribute`/`attr` and `ssh-format`).
Anything the CLI would reject is rejected here first, with the fix, so a typo is reported
against the line of `.devsecrets.yml` instead of as an `op` error at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OP_SEGMENT_CHARS = re.compile(r"[A-Za-z0-9 ._-]+")
_OP_ATTRIBUTES = frozenset({"type", "value", "id", "purpose", "otp", "totp"})
_FILE_ATTRIBUTES = frozenset({"content", "size", "name"})
_KEYRING_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")


class RefError(ValueError):
    """A malformed reference; `fix` says how to write it."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


@dataclass(frozen=True)
class Ref:
    """A reference as written in the config; `provider` names the provider that serves it."""

    text: str

    @property
    def provider(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class OpRef(Ref):
    vault: str
    item: str
    section: str | None
    field: str
    query: tuple[tuple[str, str], ...] = ()

    @property
    def provider(self) -> str:
        return "onepassword"

    @property
    def key(self) -> str:
        """References are case-insensitive in 1Password: one key per distinct secret."""
        return self.text.casefold()


@dataclass(frozen=True)
class KeyringRef(Ref):
    username: str

    @property
    def provider(self) -> str:
        return "keyring"


@dataclass(frozen=True)
class PluginRef(Ref):
    """A reference for a third-party provider (`scheme:…`), parsed by that provider."""

    scheme: str

    @property
    def provider(self) -> str:
        return self.scheme


def parse_ref(text: str, secret_name: str) -> Ref:
    """Parse one reference; `secret_name` is the default keyring username."""
    if text.startswith("op://"):
        return parse_op_ref(text)
    if text == "keyring":
        return KeyringRef(text=text, username=secret_name)
    if text.startswith("keyring:"):
        return _parse_keyring_ref(text)
    scheme = text.split(":", 1)[0] if ":" in text else ""
    if scheme and re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme) and _is_plugin_scheme(scheme):
        return PluginRef(text=text, scheme=scheme)
    fix = "write op://vault/item/field (1Password) or keyring:name (OS keyring)"
    if text.lower().startswith(("op:", "op/", "keyring")):  # a mistyped reference: show it
        raise RefError(f"{text!r} is not a secret reference", fix)
    # Anything else may be the value itself, pasted by mistake: never echo it.
    raise RefError(
        f"is not a secret reference but text ({len(text)} characters, not shown)",
        f"{fix}; if it is a secret value, delete it from the file, rotate it, and store the "
        "new one with `devsecrets set NAME`",
    )


def parse_op_ref(text: str) -> OpRef:
    if "$" in text:
        raise RefError(
            f"{text!r} uses a variable",
            "write the vault and item names: a variable could point the reference at another "
            "vault, and .devsecrets.yml must say exactly what it reads",
        )
    body, query = _split_query(text[len("op://") :], text)
    segments = body.split("/")
    if len(segments) > 4:
        raise RefError(
            f"{text!r}: too many '/'",
            "references match op://<vault>/<item>[/<section>]/<field>; a name containing '/' "
            "must be written as its ID (copy it from `op item get ITEM --format json`)",
        )
    if len(segments) < 3:
        raise RefError(
            f"{text!r} needs a vault, an item and a field",
            "write op://<vault>/<item>[/<section>]/<field>",
        )
    for segment in segments:
        _check_op_segment(segment, text)
    vault, item, *middle, field = segments
    return OpRef(
        text=text,
        vault=vault,
        item=item,
        section=middle[0] if middle else None,
        field=field,
        query=query,
    )


def _split_query(rest: str, text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    if "#" in rest:
        raise RefError(f"{text!r} has a fragment ('#')", "remove the '#…' part")
    if "?" not in rest:
        return rest, ()
    body, raw = rest.split("?", 1)
    pairs: list[tuple[str, str]] = []
    for part in raw.split("&"):
        key, sep, value = part.partition("=")
        if not sep or not value:
            raise RefError(f"{text!r}: query {part!r} has no value", "write ?attribute=<name>")
        pairs.append(_check_query(key, value, text))
    return body, tuple(pairs)


def _check_query(key: str, value: str, text: str) -> tuple[str, str]:
    if key in ("attribute", "attr"):
        if value not in _OP_ATTRIBUTES | _FILE_ATTRIBUTES:
            allowed = ", ".join(sorted(_OP_ATTRIBUTES | _FILE_ATTRIBUTES))
            raise RefError(f"{text!r}: unknown attribute {value!r}", f"use one of: {allowed}")
        return ("attribute", value)
    if key == "ssh-format":
        if value != "openssh":
            raise RefError(f"{text!r}: unknown ssh-format {value!r}", "use ?ssh-format=openssh")
        return (key, value)
    raise RefError(
        f"{text!r}: unknown query parameter {key!r}", "use ?attribute=<name> or ?ssh-format=openssh"
    )


def _check_op_segment(segment: str, text: str) -> None:
    if not segment:
        raise RefError(f"{text!r} has an empty segment", "remove the doubled or trailing '/'")
    if segment != segment.strip():
        raise RefError(
            f"{text!r}: segment {segment!r} starts or ends with a space", "remove the space"
        )
    if not _OP_SEGMENT_CHARS.fullmatch(segment):
        bad = next(c for c in segment if not _OP_SEGMENT_CHARS.fullmatch(c))
        raise RefError(
            f"{text!r}: invalid character in secret reference: {bad!r}",
            "1Password references allow letters, digits, '-', '_', '.' and spaces; refer to "
            "anything else by its ID (from `op item get ITEM --format json`)",
        )


def _parse_keyring_ref(text: str) -> KeyringRef:
    name = text[len("keyring:") :]
    if not _KEYRING_NAME.fullmatch(name):
        raise RefError(
            f"{text!r} is not a valid keyring reference",
            "write keyring:<name> with letters, digits and . _ @ + - (at most 128), "
            "or plain `keyring` to use the secret's own name",
        )
    return KeyringRef(text=text, username=name)


def _is_plugin_scheme(scheme: str) -> bool:
    from devsecrets.providers import plugin_schemes

    return scheme in plugin_schemes()
