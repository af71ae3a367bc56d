"""Keyed fingerprints: notice a value that changed outside devsecrets without storing it.

HMAC-SHA256 with a random per-install key kept in the OS keyring (service `devsecrets`,
entry `fingerprint-key`). A plain hash in the ledger would let anyone who reads the file
test guesses of a short value offline; the key lives where the values do. Without a safe
keyring there is no key: fingerprints are skipped (and the caller says so) rather than the
key being written to a file next to the ledger.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from devsecrets.errors import ProviderError
from devsecrets.secret import Secret

KEY_SERVICE = "devsecrets"
KEY_ENTRY = "fingerprint-key"


@dataclass(frozen=True)
class FingerprintKey:
    key: bytes
    id: str  # recorded with each fingerprint, so a replaced key is told from a changed value

    def fingerprint(self, secret: Secret) -> str:
        digest = hmac.new(self.key, secret.view(), hashlib.sha256).hexdigest()
        return f"{self.id}:{digest}"

    def compare(self, secret: Secret, recorded: str) -> str:
        """ "same", "changed", or "other-key" (made with a key this install no longer has)."""
        key_id, _, _ = recorded.partition(":")
        if key_id != self.id:
            return "other-key"
        same = hmac.compare_digest(self.fingerprint(secret), recorded)
        return "same" if same else "changed"


@dataclass(frozen=True)
class NoKey:
    """Why there is no key: said once, then fingerprints are skipped."""

    reason: str


def load_key(*, create: bool) -> FingerprintKey | NoKey:
    """The install's key from the keyring, created on first use when `create`."""
    from devsecrets.providers.keyring import read_entry, write_entry

    try:
        text = read_entry(KEY_SERVICE, KEY_ENTRY)
        if text is None and create:
            write_entry(KEY_SERVICE, KEY_ENTRY, base64.b64encode(secrets.token_bytes(32)).decode())
            # Read back: when two first runs race, both then use whichever key was kept.
            text = read_entry(KEY_SERVICE, KEY_ENTRY)
    except ProviderError as exc:
        return NoKey(f"no fingerprints: {exc.message}")
    if text is None:
        return NoKey("no fingerprint key yet")
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        return NoKey(f"the keyring entry {KEY_SERVICE}/{KEY_ENTRY} is not a devsecrets key")
    if len(key) < 16:
        return NoKey(f"the keyring entry {KEY_SERVICE}/{KEY_ENTRY} is too short to be a key")
    key_id = hmac.new(key, b"devsecrets fingerprint key id", hashlib.sha256).hexdigest()[:12]
    return FingerprintKey(key, key_id)
