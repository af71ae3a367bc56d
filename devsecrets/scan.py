"""Find plaintext long-lived secrets in files and environments, without ever showing one.

Specific detectors (AWS, GitHub, OpenAI, Slack, Stripe, private keys, URLs with a password)
run on every text file of a tree; the generic "high-entropy value assigned to a secret-ish
name" detector runs only where assignments are the point: `.env*` files, shell rc files,
credential files and the environment. A finding carries the kind, where it is and a
fingerprint (the format's public prefix, the length and 8 hex digits of SHA-256) — never
the value.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

MAX_FILE = 1 << 20
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        ".venv",
        "venv",
        "env",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "site-packages",
        "dist",
        "build",
        ".cache",
        "target",
        "vendor",
    }
)
# (kind, regex, length of the format's public prefix, literal anchors): a detector's regex
# runs only on data that holds one of its anchors (a memchr-speed substring test), which
# keeps a 10,000-file tree well under a second.
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
    ("URL with password", rb"://[^\s:/@'\"]+:([^\s@/'\"]+)@[^\s/'\"]+", 0, (b"://",)),
]
_DETECTORS = [
    (kind, re.compile(pattern), prefix, anchors) for kind, pattern, prefix, anchors in _SPECIFIC
]
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
RC_FILES = (
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
    ".config/fish/config.fish",
)
CREDENTIAL_FILES = (
    ".aws/credentials",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".docker/config.json",
    ".config/gh/hosts.yml",
    ".git-credentials",
)


@dataclass(frozen=True)
class Finding:
    location: str
    line: int | None
    kind: str
    fingerprint: str
    name: str | None = None

    def where(self) -> str:
        return f"{self.location}:{self.line}" if self.line else self.location

    def as_json(self) -> dict[str, object]:
        return {
            "location": self.location,
            "line": self.line,
            "kind": self.kind,
            "name": self.name,
            "fingerprint": self.fingerprint,
        }


def fingerprint(value: bytes | bytearray, prefix_len: int) -> str:
    """The format's public prefix, the length and a short hash: enough to match, not to use."""
    prefix = bytes(value[:prefix_len]).decode("ascii", "replace") if prefix_len else ""
    digest = hashlib.sha256(value).hexdigest()[:8]
    return (
        f"{prefix}…({len(value)} chars, sha256:{digest})"
        if prefix
        else f"{len(value)} chars, sha256:{digest}"
    )


def scan_text(data: bytes, location: str, *, assignments: bool) -> list[Finding]:
    """Findings in one file's (or value's) bytes."""
    findings = [f for f in _specific(data, location)]
    if assignments:
        seen = {(f.line, f.fingerprint) for f in findings}
        findings += [
            f
            for f in _assignments(data, location)
            if (f.line, f.fingerprint) not in seen and not _overlaps(f, findings)
        ]
    return findings


def _overlaps(finding: Finding, others: list[Finding]) -> bool:
    return any(o.line == finding.line for o in others)


def _specific(data: bytes, location: str) -> Iterator[Finding]:
    for kind, pattern, prefix, anchors in _DETECTORS:
        if not any(anchor in data for anchor in anchors):
            continue
        for match in pattern.finditer(data):
            value = match.group(1) if kind == "URL with password" else match.group(0)
            if kind == "URL with password" and _placeholder_password(value):
                continue
            if kind != "private key" and b"EXAMPLE" in match.group(0).upper():
                continue
            yield Finding(location, _line(data, match.start()), kind, fingerprint(value, prefix))


def _placeholder_password(value: bytes) -> bool:
    return value.lower() in _PLACEHOLDER_PASSWORDS or _PLACEHOLDER.search(value) is not None


def _assignments(data: bytes, location: str) -> Iterator[Finding]:
    for match in _ASSIGNMENT.finditer(data):
        value = match.group(2)
        if looks_secret(value):
            yield Finding(
                location,
                _line(data, match.start()),
                "high-entropy secret",
                fingerprint(value, 0),
                match.group(1).decode(),
            )


def looks_secret(value: bytes) -> bool:
    """A generic value that is probably a credential rather than an id, hash or placeholder."""
    if len(value) < 16 or _PLACEHOLDER.search(value) or _UUID.fullmatch(value):
        return False
    if _HEX_HASH.fullmatch(value) or value.isdigit():
        return False
    if b"/" in value and value.count(b"/") > 2:  # a path, not a token
        return False
    return _entropy(value) >= 3.5


def _entropy(value: bytes) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def scan_environment(env: Mapping[str, str]) -> list[Finding]:
    findings = []
    for name, value in env.items():
        raw = value.encode(errors="replace")
        hits = [replace_location(f, name) for f in scan_text(raw, "environment", assignments=False)]
        if not hits and _SECRET_NAME.search(name) and looks_secret(raw):
            hits = [Finding("environment", None, "high-entropy secret", fingerprint(raw, 0), name)]
        findings += hits
    return findings


def replace_location(finding: Finding, name: str) -> Finding:
    return Finding(finding.location, None, finding.kind, finding.fingerprint, name)


def scan_home(home: Path) -> list[Finding]:
    """Shell rc files and the usual credential files."""
    findings: list[Finding] = []
    paths = [home / p for p in (*RC_FILES, *CREDENTIAL_FILES)]
    conf_d = home / ".config" / "fish" / "conf.d"
    if conf_d.is_dir():
        paths += sorted(conf_d.glob("*.fish"))
    for path in paths:
        data = _read(path)
        if data is not None:
            findings += scan_text(data, str(path), assignments=True)
            findings += _credential_file(path, data)
    return findings


def _credential_file(path: Path, data: bytes) -> list[Finding]:
    """Secrets not written as KEY=VALUE: .netrc `password`, npm `_authToken`, docker `auth`."""
    patterns = [
        rb"(?m)\bpassword[ \t]+(\S{6,})",
        rb"_authToken=(\S{16,})",
        rb'"auth"[ \t]*:[ \t]*"([^"]{16,})"',
        rb"(?m)^[ \t]*oauth_token:[ \t]*(\S{16,})",
    ]
    findings = []
    for pattern in patterns:
        for match in re.finditer(pattern, data):
            value = match.group(1)
            if not _PLACEHOLDER.search(value):
                findings.append(
                    Finding(
                        str(path),
                        _line(data, match.start()),
                        "credential file entry",
                        fingerprint(value, 0),
                    )
                )
    return findings


def walk(root: Path) -> Iterator[Path]:
    """Regular files under root; skips VCS, dependency and virtualenv dirs; no symlinks."""
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIP_DIRS and not (Path(entry.path) / "pyvenv.cfg").exists():
                    stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                yield Path(entry.path)


def is_dotenv(path: Path) -> bool:
    return path.name.startswith(".env") or path.name.endswith(".env")


def scan_tree(root: Path) -> list[Finding]:
    findings: list[Finding] = []
    for path in walk(root):
        data = _read(path)
        if data is not None and b"\0" not in data[:8192]:
            findings += scan_text(data, str(path), assignments=is_dotenv(path))
    return findings


def dotenv_files(root: Path) -> list[Path]:
    return sorted(p for p in walk(root) if is_dotenv(p) and not p.name.endswith(".example"))


def _read(path: Path) -> bytes | None:
    try:
        if path.stat().st_size > MAX_FILE:
            return None
        return path.read_bytes()
    except OSError:
        return None


def kinds(findings: Iterable[Finding]) -> Counter[str]:
    return Counter(f.kind for f in findings)
