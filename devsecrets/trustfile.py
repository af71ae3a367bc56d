"""Trust record files: where they live, their format, atomic writes. Decisions: trust.py.

One allow record and at most one deny record per config file, named by the SHA-256 of the
file's real path. Small text files, mode 0600 in a 0700 directory, replaced atomically:

    devsecrets trust 1
    kind allow
    path "/home/ada/src/shop/.devsecrets.yml"
    digest 9f86d081884c7d65…
    at 1733300000.5
    ttl 2592000
    project shop
    scope staging
    secret STRIPE_API_KEY "op://Staging/stripe/credential"

Not JSON, though quoted values are JSON strings: the shell hook reads a record on every change
of project, `import json` alone costs ≈ 8 ms of its ≈ 24 ms budget, and the hook needs no
quoted value. For the same reason only cheap standard modules are imported at the top.
"""

from __future__ import annotations

import os
import sys

# CPython's built-in SHA-256: hashlib loads OpenSSL, ≈ 4 ms of the hook's budget.
try:
    from _sha2 import sha256 as _sha256  # type: ignore[import-not-found,unused-ignore]  # 3.12+
except ImportError:
    try:
        from _sha256 import sha256 as _sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:
        from hashlib import sha256 as _sha256  # type: ignore[assignment,no-redef,unused-ignore]

HEADER = "devsecrets trust 1"


class Record:
    """One allow or deny record. `path` and `secrets` are decoded only when read with
    summary=True; the hook needs neither."""

    __slots__ = ("at", "count", "digest", "kind", "path", "project", "scope", "secrets", "ttl")

    def __init__(self, kind: str, path: str, at: float) -> None:
        self.kind = kind
        self.path = path
        self.at = at
        self.digest = ""
        self.ttl = 0
        self.project = ""
        self.scope = ""
        self.count = 0
        self.secrets: dict[str, str] = {}

    @property
    def expires_at(self) -> float:
        return self.at + self.ttl


def trust_dir() -> str:
    """`paths.data_dir() / "trust"`, computed the way platformdirs does (XDG variables win
    when absolute) without importing platformdirs or pathlib: ≈ 25 ms the hook cannot spend.
    tests/test_trust.py keeps the two equal."""
    home = os.environ.get("DEVSECRETS_HOME")
    if home:
        return os.path.join(home, "data", "trust")
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if os.path.isabs(xdg):
        base = xdg
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Application Support")
    else:
        base = os.path.expanduser("~/.local/share")
    return os.path.join(base, "devsecrets", "trust")


def sha256_hex(data: bytes) -> str:
    """hashlib.sha256(data).hexdigest(), without loading OpenSSL when CPython has its own."""
    return str(_sha256(data).hexdigest())


def record_paths(real_path: str) -> tuple[str, str]:
    """The allow and deny record files of the config at `real_path`."""
    key = sha256_hex(os.fsencode(real_path))
    directory = trust_dir()
    return os.path.join(directory, key + ".allow"), os.path.join(directory, key + ".deny")


def read_record(path: str, *, summary: bool = False) -> Record | None:
    """The record at `path`; None when missing, unreadable, malformed, or writable by others
    (a record anyone could write would let anyone grant trust)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None
        text = os.read(fd, 1 << 20).decode("utf-8", "replace")
    finally:
        os.close(fd)
    try:
        return _parse(text, summary)
    except (ValueError, KeyError):
        return None


def _parse(text: str, summary: bool) -> Record:
    lines = text.splitlines()
    if not lines or lines[0] != HEADER:
        raise ValueError("not a trust record")
    fields: dict[str, str] = {}
    secrets: list[str] = []
    for line in lines[1:]:
        key, _, value = line.partition(" ")
        if key == "secret":
            secrets.append(value)
        else:
            fields[key] = value
    record = Record(fields["kind"], "", float(fields["at"]))
    record.digest = fields.get("digest", "")
    record.ttl = int(fields.get("ttl", "0"))
    record.project = fields.get("project", "")
    record.scope = fields.get("scope", "")
    record.count = len(secrets)
    if summary:
        import json

        record.path = json.loads(fields["path"])
        for entry in secrets:
            name, _, ref = entry.partition(" ")
            record.secrets[name] = json.loads(ref)
    return record


def _format(record: Record) -> str:
    import json

    lines = [HEADER, f"kind {record.kind}", f"path {json.dumps(record.path)}"]
    if record.kind == "allow":
        lines += [f"digest {record.digest}", f"at {record.at!r}", f"ttl {record.ttl}"]
        lines += [f"project {record.project}", f"scope {record.scope}"]
        lines += [f"secret {name} {json.dumps(ref)}" for name, ref in record.secrets.items()]
    else:
        lines.append(f"at {record.at!r}")
    return "\n".join(lines) + "\n"


def write(path: str, record: Record) -> None:
    """Write-and-rename: a reader (another shell's hook) sees the old record or the new one."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    temporary = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(_format(record))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        remove(temporary)
        raise


def remove(path: str) -> None:
    import contextlib  # writers only: the hook reads

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
