"""Where plaintext secrets sit on disk: a project tree, the home directory's shell rc files
and the usual credential files. The detectors themselves are in scan.py.

A tree walk skips VCS, dependency and virtualenv directories and never follows a symlink
(a link out of the tree would scan someone else's files, or loop). Files over 1 MiB and
binary files are skipped: a credential is a line in a text file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from devsecrets.scan import Classify, Finding, fingerprint, looks_placeholder, scan_text

MAX_FILE = 1 << 20
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "site-packages",
        ".cache",
        "target",
        "vendor",
    }
)
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
# Secrets these files hold in their own syntax rather than as KEY=VALUE lines; each
# pattern's group 1 is the value.
CREDENTIAL_FILES: dict[str, tuple[bytes, ...]] = {
    ".aws/credentials": (),
    ".netrc": (rb"(?m)\bpassword[ \t]+(\S{6,})",),
    ".npmrc": (rb"_authToken[ \t]*=[ \t]*(\S{16,})", rb"(?m)^[ \t]*_auth[ \t]*=[ \t]*(\S{16,})"),
    ".pypirc": (),
    ".docker/config.json": (
        rb'"auth"[ \t]*:[ \t]*"([^"]{16,})"',
        rb'"identitytoken"[ \t]*:[ \t]*"([^"]{16,})"',
    ),
    ".config/gh/hosts.yml": (rb"(?m)^[ \t]*oauth_token:[ \t]*(\S{16,})",),
    ".git-credentials": (),
}
DOTENV_TEMPLATES = (".example", ".sample", ".template", ".dist")
# On a finding's line or the line above it, in a project's file: a value the team knows is
# not a credential (a test fixture). Listed by the audit, not counted; never for a value
# that looks like a production credential, nor in home-directory files.
ALLOW_MARKER = b"devsecrets:allow"


@dataclass
class TreeScan:
    findings: list[Finding]
    files: int  # text files read
    truncated: bool  # stopped at the file limit: the findings are incomplete
    allowed: list[Finding] = field(default_factory=list)  # marked with ALLOW_MARKER


def scan_tree(root: Path, *, classify: Classify | None = None, limit: int = 0) -> TreeScan:
    """Every text file under root; the generic detector only in dotenv files. `limit` > 0
    stops after that many files (a scan started in a home directory would take minutes)."""
    result = TreeScan([], 0, False)
    for entry in walk(root):
        if limit and result.files >= limit:
            result.truncated = True
            break
        data = _read(entry)
        if data is None or b"\0" in data[:8192]:
            continue
        result.files += 1
        dotenv = is_dotenv(entry.name)
        found = scan_text(data, entry.path, assignments=dotenv, classify=classify)
        if found and ALLOW_MARKER in data:
            marked = _marked_lines(data)
            allowed = [f for f in found if _allowed(f, marked)]
            result.allowed += allowed
            found = [f for f in found if f not in allowed]
        result.findings += found
    return result


def _marked_lines(data: bytes) -> set[int]:
    return {data.count(b"\n", 0, m.start()) + 1 for m in re.finditer(ALLOW_MARKER, data)}


def _allowed(finding: Finding, marked: set[int]) -> bool:
    if finding.production or finding.line is None:
        return False
    return finding.line in marked or finding.line - 1 in marked


def scan_home(home: Path, *, classify: Classify | None = None) -> list[Finding]:
    """Shell rc files and the usual credential files."""
    files: list[tuple[Path, tuple[bytes, ...]]] = [(home / p, ()) for p in RC_FILES]
    files += [(home / p, patterns) for p, patterns in CREDENTIAL_FILES.items()]
    conf_d = home / ".config" / "fish" / "conf.d"
    if conf_d.is_dir():
        files += [(p, ()) for p in sorted(conf_d.glob("*.fish"))]
    findings: list[Finding] = []
    for path, patterns in files:
        data = _read_path(path)
        if data is None:
            continue
        found = scan_text(data, str(path), assignments=True, classify=classify)
        lines = {f.line for f in found}
        findings += found
        findings += [f for f in _file_syntax(path, data, patterns, classify) if f.line not in lines]
    return findings


def _file_syntax(
    path: Path, data: bytes, patterns: tuple[bytes, ...], classify: Classify | None
) -> Iterator[Finding]:
    for pattern in patterns:
        for match in re.finditer(pattern, data):
            value = match.group(1)
            if not looks_placeholder(value):
                yield Finding(
                    str(path),
                    data.count(b"\n", 0, match.start()) + 1,
                    "credential file entry",
                    fingerprint(value, 0),
                    production=classify(value) if classify else None,
                )


def walk(root: Path) -> Iterator[os.DirEntry[str]]:
    """Regular files under root; skips VCS, dependency and virtualenv dirs; no symlinks."""
    stack = [str(root)]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as scanner:
                entries = list(scanner)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                venv = os.path.lexists(os.path.join(entry.path, "pyvenv.cfg"))
                if entry.name not in SKIP_DIRS and not venv:
                    stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                yield entry


def is_dotenv(name: str) -> bool:
    """`.env`, `.env.local`, `prod.env`, `.envrc` (direnv): files made of assignments."""
    return name.startswith(".env") or name.endswith(".env")


def dotenv_files(root: Path) -> list[Path]:
    """Dotenv files that may hold real values (templates such as `.env.example` do not)."""
    return sorted(
        Path(entry.path)
        for entry in walk(root)
        if is_dotenv(entry.name) and not entry.name.endswith(DOTENV_TEMPLATES)
    )


def _read(entry: os.DirEntry[str]) -> bytes | None:
    """The file's bytes (as far as its size said when listed: a file growing meanwhile is
    read in part), or None for a file too large, vanished or unreadable."""
    try:
        size = entry.stat(follow_symlinks=False).st_size
        if size > MAX_FILE:
            return None
        fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_path(path: Path) -> bytes | None:
    """A home file; symlinks followed (dotfiles are often links into a dotfiles repo)."""
    try:
        if path.stat().st_size > MAX_FILE or not path.is_file():
            return None
        return path.read_bytes()
    except OSError:
        return None
