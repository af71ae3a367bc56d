"""Find plaintext long-lived secrets in files and environments, without ever showing one.

Specific detectors (AWS, GitHub, OpenAI, Slack, Stripe, private keys, URLs with a password)
run on every text file of a tree; the generic "high-entropy value assigned to a secret-ish
name" detector runs only where assignments are the point: `.env*` files, shell rc files,
credential files and the environment. A finding carries the kind, where it is and a
fingerprint (the format's public prefix, the length and 8 hex digits of SHA-256) — never
the value.

This module looks at bytes; scanfiles.py finds the files (a project tree, the home
directory's rc and credential files). A caller may pass `classify`, which names the
production credential a value looks like (the policy's value detectors), so that a finding
can say "production" while the value is still in hand — it is never kept.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace

# Names the production credential a value looks like, or None.
Classify = Callable[[bytes], str | None]
# (kind, regex, length of the format's public prefix, literal anchors): a detector's regex
# runs only on data that holds one of its anchors. One pass of a regex of all anchors finds
# which are present (≈ 4 times faster than a substring test per anchor, each of which reads
# the whole file), which keeps a 10,000-file tree under a second (bench/audit_speed.py).
_SPECIFIC = [
    (
        "AWS access key",
        rb"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z2-7]{16}(?![A-Z0-9])",
        4,
        (b"AKIA", b"ASIA"),
    ),
    (
        "GitHub token",
        rb"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b",
        4,
        (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"),
    ),
    ("OpenAI key", rb"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}\b", 3, (b"sk-",)),
    ("Slack token", rb"\bxox[abposr]-[A-Za-z0-9-]{10,}\b", 5, (b"xox",)),
    (
        "Slack token",
        rb"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}",
        31,
        (b"hooks.slack.com",),
    ),
    ("Stripe key", rb"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b", 8, (b"k_live_", b"k_test_")),
    ("private key", rb"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----", 0, (b"PRIVATE KEY-----",)),
    (
        "URL with password",
        rb"://[^\s:/@'\"]+:([^\s@/'\"]+)@[^\s/'\"]+",  # a literal start: fast
        0,
        (b"://",),
    ),
]
_DETECTORS = [
    (kind, re.compile(pattern), prefix, anchors) for kind, pattern, prefix, anchors in _SPECIFIC
]
_ANCHORS = re.compile(b"|".join(re.escape(a) for *_, anchors in _SPECIFIC for a in anchors))
_SCHEME_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_ASSIGNMENT = re.compile(
    rb"(?im)^[ \t]*(?:export[ \t]+|set[ \t]+-gx[ \t]+)?"
    rb"([A-Za-z_0-9]*(?:secret|token|passw(?:or)?d|api[_-]?key|access[_-]?key|auth|"
    rb"credential|private[_-]?key)[A-Za-z0-9_]*)[ \t]*[:=][ \t]*['\"]?([^\s'\"#]{16,})"
)
_SECRET_NAME = re.compile(
    r"(?i)secret|token|passw(?:or)?d|api[_-]?key|access[_-]?key|auth|credential|private[_-]?key"
)
_UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX_HASH = re.compile(rb"[0-9a-f]{40}|[0-9a-f]{64}")
_PLACEHOLDER = re.compile(
    rb"(?i)example|changeme|change_me|placeholder|your[_-]|xxxx|\*\*\*|<[^>]*>|\$\{|\$[A-Z_]|"
    rb"dummy|redacted|^op://|^keyring:"
)
_PLACEHOLDER_PASSWORDS = frozenset({b"password", b"pass", b"secret", b"pw", b"passwd", b"x"})


@dataclass(frozen=True)
class Finding:
    location: str
    line: int | None
    kind: str
    fingerprint: str
    name: str | None = None
    production: str | None = None  # the production credential the value looks like

    def where(self) -> str:
        return f"{self.location}:{self.line}" if self.line else self.location

    def as_json(self) -> dict[str, object]:
        return {
            "location": self.location,
            "line": self.line,
            "kind": self.kind,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "production": self.production,
        }


# Keyed, so that a short or guessable value cannot be found from its label by hashing
# guesses offline. Per process by default (labels match within one report); the audit uses
# the install's fingerprint key when there is one (fingerprint.py), so they match across runs.
_label_key = secrets.token_bytes(32)


def use_label_key(key: bytes) -> None:
    global _label_key
    _label_key = key


def fingerprint(value: bytes | bytearray, prefix_len: int) -> str:
    """The format's public prefix, the length and a short keyed hash: enough to match the
    same value in two places, not to use or guess it."""
    prefix = bytes(value[:prefix_len]).decode("ascii", "replace") if prefix_len else ""
    digest = hmac.new(_label_key, value, hashlib.sha256).hexdigest()[:8]
    return (
        f"{prefix}…({len(value)} chars, hmac:{digest})"
        if prefix
        else f"{len(value)} chars, hmac:{digest}"
    )


def scan_text(
    data: bytes, location: str, *, assignments: bool, classify: Classify | None = None
) -> list[Finding]:
    """Findings in one file's (or value's) bytes; `assignments` adds the generic detector."""
    findings = list(_specific(data, location, classify))
    if assignments:
        lines = {f.line for f in findings}
        findings += [f for f in _assignments(data, location, classify) if f.line not in lines]
    return findings


def _specific(data: bytes, location: str, classify: Classify | None) -> Iterator[Finding]:
    present = set(_ANCHORS.findall(data))
    if not present:
        return
    for kind, pattern, prefix, anchors in _DETECTORS:
        if present.isdisjoint(anchors):
            continue
        for match in pattern.finditer(data):
            value = match.group(1) if kind == "URL with password" else match.group(0)
            if kind == "URL with password" and _placeholder_password(value):
                continue
            if kind != "private key" and b"EXAMPLE" in match.group(0).upper():
                continue
            yield Finding(
                location,
                _line(data, match.start()),
                kind,
                fingerprint(value, prefix),
                production=classify(_whole(data, match)) if classify else None,
            )


def _whole(data: bytes, match: re.Match[bytes]) -> bytes:
    """The match, and for a URL its scheme (the regex starts at `://` to stay fast)."""
    start = match.start()
    if data.startswith(b"://", start):
        while start > 0 and match.start() - start < 32 and data[start - 1] in _SCHEME_CHARS:
            start -= 1
    return data[start : match.end()]


def _placeholder_password(value: bytes) -> bool:
    return value.lower() in _PLACEHOLDER_PASSWORDS or _PLACEHOLDER.search(value) is not None


def _assignments(data: bytes, location: str, classify: Classify | None) -> Iterator[Finding]:
    for match in _ASSIGNMENT.finditer(data):
        value = match.group(2)
        if looks_secret(value):
            yield Finding(
                location,
                _line(data, match.start()),
                "high-entropy secret",
                fingerprint(value, 0),
                match.group(1).decode(),
                classify(value) if classify else None,
            )


def looks_placeholder(value: bytes) -> bool:
    """`your-token-here`, `${DB_PASSWORD}`, `<token>`, `changeme`, a reference…"""
    return _PLACEHOLDER.search(value) is not None


def looks_secret(value: bytes) -> bool:
    """A generic value that is probably a credential rather than an id, hash or placeholder."""
    if len(value) < 16 or _PLACEHOLDER.search(value) or _UUID.fullmatch(value):
        return False
    if _HEX_HASH.fullmatch(value) or value.isdigit():
        return False
    if value.count(b"/") > 2 or (value.startswith(b"/") and b"/" in value[1:]):
        return False  # a path, not a token
    return _entropy(value) >= 3.5


def _entropy(value: bytes) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def scan_environment(env: Mapping[str, str], *, classify: Classify | None = None) -> list[Finding]:
    """Exported variables: the specific detectors on every value, the generic one on values
    whose name says secret, token, password, key…"""
    findings = []
    for name, value in env.items():
        raw = value.encode(errors="replace")
        hits = [
            replace(f, line=None, name=name)
            for f in scan_text(raw, "environment", assignments=False, classify=classify)
        ]
        if not hits and _SECRET_NAME.search(name) and looks_secret(raw):
            production = classify(raw) if classify else None
            mark = fingerprint(raw, 0)
            hits = [Finding("environment", None, "high-entropy secret", mark, name, production)]
        findings += hits
    return findings
