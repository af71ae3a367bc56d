"""The 1Password provider: drives the `op` CLI.

All values of one run come from one `op inject` call on a template framed by a random nonce
(so values containing newlines, braces or `=` parse unambiguously, and N secrets cost one
round trip instead of N). Metadata comes from `op item list --format json`, which carries no
values; an item or vault op does not have is reported for its reference alone. Every call
has a hard timeout, stdin from /dev/null unless we feed the template, and at most
`MAX_CONCURRENT` op processes run at once (the desktop app times out under more).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from collections.abc import Sequence
from datetime import datetime

from devsecrets import proc
from devsecrets.errors import ProviderError
from devsecrets.providers.base import Check, Metadata, Provider
from devsecrets.refs import OpRef, Ref
from devsecrets.secret import Secret, zero

MAX_CONCURRENT = 5
_slots = threading.BoundedSemaphore(MAX_CONCURRENT)
_ERROR_LINE = re.compile(r"^\[ERROR\] (?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )?(.*)$", re.M)
_SECRET_IN_ERROR = re.compile(r"could not read secret (?:'(op://[^']*)'|(op://[^:]*):)")
_FRACTION = re.compile(r"(\.\d{6})\d+")

# (stderr substring, kind); the first match wins, so specific texts come first.
_TAXONOMY = [
    ("authorization prompt dismissed", "prompt_dismissed"),
    ("authorization timeout", "auth_timeout"),
    ("connecting to desktop app", "app_unreachable"),
    ("context deadline exceeded", "auth_timeout"),
    ("not currently signed in", "signed_out"),
    ("account is not signed in", "signed_out"),
    ("could not find session token", "signed_out"),
    ("no accounts configured", "no_accounts"),
    ("no account found for filter", "unknown_account"),
    ("session expired", "signed_out"),
    ("not authenticated yet", "signed_out"),
    ("(429)", "rate_limited"),
    ("too many requests", "rate_limited"),
    ("rate-limited", "rate_limited"),
    ("more than one item matches", "ambiguous"),
    ("invalid secret reference", "invalid_reference"),
    ("invalid character in secret reference", "invalid_reference"),
    ("too many '/'", "invalid_reference"),
    ("parsing error", "invalid_reference"),
    ("isn't an item", "not_found"),
    ("isn't a vault", "not_found"),
    ("does not have a field", "not_found"),
    ("(403)", "not_found"),
    ("(404)", "not_found"),
]
# Cases finer than the provider kind they are reported as (own message and fix).
_KIND_OF = {"no_accounts": "signed_out", "unknown_account": "signed_out"}
_ACCOUNT_FILTER = re.compile(r"no account found for filter ?(\S*)", re.IGNORECASE)
_FIXES = {
    "no_accounts": "add your account to the 1Password CLI: turn on Settings → Developer → "
    "'Integrate with 1Password CLI' in the 1Password desktop app (the CLI then uses the "
    "app's accounts), or run `op account add`; then retry",
    "unknown_account": "name an account the CLI knows in OP_ACCOUNT (`op account list` "
    "shows them; its URL, email or ID), or unset OP_ACCOUNT to use the default one",
    "signed_out": "sign in to 1Password: turn on Settings → Developer → 'Integrate with "
    "1Password CLI' in the desktop app, or run `eval $(op signin)`; then retry",
    "auth_timeout": "unlock 1Password and approve its prompt, then retry (set "
    "DEVSECRETS_OP_TIMEOUT=SECONDS if unlocking takes longer)",
    "prompt_dismissed": "retry and approve the 1Password prompt",
    "app_unreachable": "start the 1Password desktop app and check Settings → Developer → "
    "'Integrate with 1Password CLI'",
    "not_found": "check the vault, item and field in .devsecrets.yml (`op item get ITEM "
    "--vault VAULT` lists fields); 1Password answers 'not found' also when you lack access",
    "ambiguous": "several items share that name: write the item's ID (listed above) in the "
    "reference",
    "rate_limited": "wait for the limit to reset (`op service-account ratelimit` shows when)",
    "invalid_reference": "fix the reference in .devsecrets.yml",
    "unknown": "run `op read '<reference>'` yourself to see the full error",
}
_MESSAGES = {
    "no_accounts": "the 1Password CLI has no account configured",
    "unknown_account": "the 1Password CLI has no account matching {account!r}",
    "signed_out": "the 1Password CLI is not signed in",
    "auth_timeout": "1Password did not authorize the request in time",
    "prompt_dismissed": "the 1Password authorization prompt was dismissed",
    "app_unreachable": "the 1Password CLI cannot reach the desktop app",
    "not_found": "1Password has no such secret (or you have no access to it)",
    "ambiguous": "the reference matches more than one 1Password item",
    "rate_limited": "1Password rate-limited this account",
    "invalid_reference": "1Password rejected the reference",
    "unknown": "the 1Password CLI failed",
}


def op_timeout() -> float:
    try:
        return max(1.0, float(os.environ.get("DEVSECRETS_OP_TIMEOUT", "30")))
    except ValueError:
        return 30.0


def op_path() -> str:
    """`op` from the absolute directories on PATH only: a relative entry (`.`, an empty one,
    `node_modules/.bin`) would let the project at hand plant an `op` of its own, which would
    be handed every value of the run. FileNotFoundError when there is none."""
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory, "op")
        if os.path.isabs(directory) and os.path.isfile(candidate):
            return candidate  # not executable: PermissionError from the exec says so
    raise FileNotFoundError("op")


class OnePasswordProvider(Provider):
    name = "onepassword"

    def check(self) -> Check:
        try:
            version = self._op(["--version"]).strip()
            self._op(["vault", "list", "--format", "json"])
        except ProviderError as exc:
            return Check(False, exc.message, exc.fix or "")
        return Check(True, f"op {version}, signed in")

    def fetch(self, refs: Sequence[Ref]) -> dict[Ref, Secret]:
        unique = _unique(refs)
        if not unique:
            return {}
        nonce = secrets.token_hex(16)
        template = "".join(
            f"{nonce}:{i}:{{{{ {ref.text} }}}}:{nonce}\n" for i, ref in enumerate(unique)
        )
        result = self._call(["inject", "--in-file", "/dev/stdin"], stdin=template.encode())
        try:
            values = _unframe(result.stdout, nonce, len(unique))
        finally:
            result.wipe()
        by_key = {ref.key: Secret(value) for ref, value in zip(unique, values, strict=True)}
        return {ref: by_key[ref.key] for ref in refs if isinstance(ref, OpRef)}

    def metadata(self, refs: Sequence[Ref]) -> dict[Ref, Metadata]:
        """One `op item list` per vault. An item or vault op does not have (or has twice)
        is that reference's `unknown`; any other failure fails the whole call."""
        by_vault: dict[str, list[OpRef]] = {}
        for ref in _unique(refs):
            by_vault.setdefault(ref.vault.casefold(), []).append(ref)
        with proc.worker_pool(MAX_CONCURRENT) as pool:
            listings = list(
                pool.map(self._list_items, [group[0].vault for group in by_vault.values()])
            )
        found: dict[str, Metadata] = {}
        for group, items in zip(by_vault.values(), listings, strict=True):
            for ref in group:
                found[ref.key] = (
                    Metadata(unknown=items) if isinstance(items, str) else _match_item(ref, items)
                )
        return {ref: found[ref.key] for ref in refs if isinstance(ref, OpRef)}

    def _list_items(self, vault: str) -> list[dict[str, object]] | str:
        """The vault's items, or why the vault itself cannot be listed."""
        try:
            text = self._op(["item", "list", "--vault", vault, "--format", "json"])
        except ProviderError as exc:
            problem = _vault_problem(exc, vault)
            if problem is None:
                raise
            return problem
        try:
            items = json.loads(text) if text.strip() else []
        except json.JSONDecodeError:
            raise ProviderError(
                "`op item list` printed something that is not JSON", _FIXES["unknown"]
            ) from None
        if not isinstance(items, list):
            raise ProviderError("`op item list` printed an unexpected shape", _FIXES["unknown"])
        return [item for item in items if isinstance(item, dict)]

    def _op(self, args: list[str]) -> str:
        """Run op for text output that carries no secret values."""
        result = self._call(args)
        try:
            return result.stdout.decode("utf-8", "replace")
        finally:
            result.wipe()

    def _call(self, args: list[str], *, stdin: bytes | None = None) -> proc.Completed:
        timeout = op_timeout()
        with _slots:
            try:
                result = proc.run([op_path(), *args], timeout=timeout, stdin=stdin)
            except FileNotFoundError:
                raise ProviderError(
                    "the 1Password CLI (op) is not installed or not on PATH",
                    "install it (https://developer.1password.com/docs/cli/get-started/) or "
                    "use keyring: references",
                    kind="not_installed",
                ) from None
            except PermissionError:
                raise ProviderError(
                    "the 1Password CLI (op) on PATH cannot be executed",
                    "check its permissions: `ls -l $(command -v op)`",
                    kind="not_installed",
                ) from None
            except proc.Timeout:
                raise ProviderError(
                    f"1Password did not answer within {timeout:g} s (is an unlock or approval "
                    "prompt waiting?)",
                    _FIXES["auth_timeout"],
                    kind="auth_timeout",
                ) from None
        errors = _ERROR_LINE.findall(result.stderr)
        if result.returncode != 0 or errors:
            result.wipe()
            raise _classify(result.stderr, errors)
        return result


def _unique(refs: Sequence[Ref]) -> list[OpRef]:
    seen: dict[str, OpRef] = {}
    for ref in refs:
        if isinstance(ref, OpRef):
            seen.setdefault(ref.key, ref)
    return list(seen.values())


def _unframe(out: bytearray, nonce: str, count: int) -> list[bytearray]:
    """Cut `count` values out of the injected template, checking every frame."""
    values: list[bytearray] = []
    pos = 0
    end_marker = f":{nonce}\n".encode()
    for i in range(count):
        start = f"{nonce}:{i}:".encode()
        if out[pos : pos + len(start)] != start:
            break
        end = out.find(end_marker, pos + len(start))
        if end < 0:
            break
        values.append(out[pos + len(start) : end])
        pos = end + len(end_marker)
    if len(values) == count and out[pos:].strip(b"\n") == b"":
        return values
    for value in values:
        zero(value)
    raise ProviderError(
        "`op inject` returned output that does not match the request", _FIXES["unknown"]
    )


def _classify(stderr: str, errors: list[str]) -> ProviderError:
    lowered = stderr.casefold()
    kind = next((k for needle, k in _TAXONOMY if needle.casefold() in lowered), "unknown")
    account = _ACCOUNT_FILTER.search(stderr)
    if kind == "unknown_account" and not (account and account.group(1)):
        kind = "no_accounts"  # the filter is empty when no account is configured at all
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    said = errors[0].strip() if errors else (lines[0] if lines else "")
    if said.endswith(":"):  # an empty cause: op explained itself above the [ERROR] line
        said = next((line for line in lines if not _ERROR_LINE.match(line)), said)
    message = _MESSAGES[kind].format(account=account.group(1) if account else "")
    failed = _SECRET_IN_ERROR.search(stderr)
    ref_text = (failed.group(1) or failed.group(2)) if failed else None
    if ref_text:
        message += f" for {ref_text}"
    if said:
        message += f"\n  op said: {said[:300]}"
    if kind == "ambiguous":
        message += "".join(f"\n    {line}" for line in lines if line.startswith("*"))
    error = ProviderError(message, _FIXES[kind], kind=_KIND_OF.get(kind, kind))
    error.ref_text = ref_text
    return error


def _vault_problem(error: ProviderError, vault: str) -> str | None:
    """Why op cannot list this one vault (it has none by that name, or several), or None
    when the failure is not about the vault (signed out, timed out, …)."""
    said = error.message.casefold()
    if error.kind == "not_found" and "isn't a vault" in said:
        return f"1Password has no vault {vault!r} (or you have no access to it)"
    if "more than one vault matches" in said:
        return f"more than one 1Password vault matches {vault!r}: write the vault's ID"
    return None


def _match_item(ref: OpRef, items: list[dict[str, object]]) -> Metadata:
    wanted = ref.item.casefold()
    matches = [
        item
        for item in items
        if str(item.get("id", "")).casefold() == wanted
        or str(item.get("title", "")).casefold() == wanted
    ]
    if not matches:
        return Metadata(unknown=f"1Password has no item {ref.item!r} in vault {ref.vault!r}")
    if len(matches) > 1:
        ids = ", ".join(str(item.get("id")) for item in matches)
        return Metadata(
            unknown=f"{len(matches)} items in vault {ref.vault!r} match {ref.item!r}: {ids} "
            "(write the item's ID in the reference)"
        )
    return _metadata(matches[0])


def _metadata(item: dict[str, object]) -> Metadata:
    vault = item.get("vault")
    vault = vault if isinstance(vault, dict) else {}
    tags = item.get("tags")
    return Metadata(
        vault_id=_text(vault.get("id")),
        vault_name=_text(vault.get("name")),
        item_id=_text(item.get("id")),
        item_title=_text(item.get("title")),
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        updated_at=parse_timestamp(item.get("updated_at")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def parse_timestamp(value: object) -> datetime | None:
    """RFC 3339 with `Z`, or a local offset with fractional seconds (both seen from op)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.replace("Z", "+00:00")))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
