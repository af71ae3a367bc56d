"""`devsecrets hook`: print the shell hook; add or remove its line in the shell's rc file.

The hook scripts live in shell-hooks/ (shipped in the wheel as devsecrets/shell-hooks). The
printed hook ends with a call to __devsecrets_setup carrying absolute paths of this very
installation, as direnv pins its own binary: the interpreter, and the directory holding the
package. The hook starts that interpreter directly (`-I -S`, see hookcall.py) — no PATH
lookup, no pyenv shim, and not the console script, which would add site-packages, `import re`
and click (bench/README.md) to every change of project.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import sys
from pathlib import Path

import devsecrets
from devsecrets.errors import DevsecretsError, UsageError

SHELLS = ("bash", "zsh", "fish")
MARKER = "# devsecrets shell hook; remove with: devsecrets hook --uninstall"
# Run by the hook as `python -I -S -c ENTRY PKGDIR ARGS...`. It leaves by os._exit once its
# output is flushed: the interpreter's teardown would cost ≈ 2 ms of every change of project.
ENTRY = """import os, sys
sys.path[:0] = [sys.argv.pop(1)]
try:
    from devsecrets.hookcall import main
    code = main(sys.argv[1:])
except KeyboardInterrupt:
    sys.exit(130)
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
"""


def hook_command(
    shell: str | None,
    add: bool,
    remove: bool,
    shell_option: str | None,
    dry_run: bool,
    quiet: bool,
) -> str:
    """`devsecrets hook`: the text to print."""
    if add and remove:
        raise UsageError("--install and --uninstall exclude each other", "choose one")
    if not (add or remove):
        if shell is None:
            raise UsageError("which shell?", "devsecrets hook bash (or zsh, fish)")
        return render(shell, quiet=quiet)
    target = shell_option or shell or detect_shell()
    if add:
        return install(target, quiet=quiet, dry_run=dry_run) + "\n"
    return uninstall(target, dry_run=dry_run) + "\n"


def hook_dir() -> Path:
    """The installed package's copy first, then the source checkout's."""
    package = Path(devsecrets.__file__).resolve().parent
    for candidate in (package / "shell-hooks", package.parent / "shell-hooks"):
        if (candidate / "devsecrets.bash").is_file():
            return candidate
    raise DevsecretsError(
        f"the shell hook scripts are missing from {package}",
        "reinstall devsecrets (pip install --force-reinstall devsecrets)",
    )


def render(shell: str, *, quiet: bool = False) -> str:
    """The hook for `shell`, ready for eval (bash, zsh) or source (fish)."""
    script = (hook_dir() / f"devsecrets.{shell}").read_text(encoding="utf-8")
    package_parent = str(Path(devsecrets.__file__).resolve().parent.parent)
    words = [sys.executable, package_parent, ENTRY, *(["--quiet"] if quiet else [])]
    return script + "__devsecrets_setup " + " ".join(quote(shell, w) for w in words) + "\n"


def quote(shell: str, text: str) -> str:
    """One word in single quotes, for `shell`'s own rules."""
    if shell == "fish":  # fish: backslash escapes ' and \ inside single quotes
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + text.replace("'", "'\\''") + "'"


def executable() -> str:
    """The devsecrets console script of this installation, for the rc file line."""
    beside = Path(sys.executable).parent / "devsecrets"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("devsecrets")
    if found:
        return os.path.abspath(found)
    raise DevsecretsError(
        "cannot find the devsecrets command of this installation",
        "install devsecrets with pip or pipx so that `devsecrets` is on your PATH",
    )


def rc_file(shell: str) -> Path:
    home = Path(os.path.expanduser("~"))
    if shell == "bash":
        return home / ".bashrc"
    if shell == "zsh":
        return Path(os.environ.get("ZDOTDIR") or home) / ".zshrc"
    config = os.environ.get("XDG_CONFIG_HOME", "")
    return (Path(config) if os.path.isabs(config) else home / ".config") / "fish" / "config.fish"


def installed_rc_files() -> list[Path]:
    """The rc files (bash, zsh, fish) that hold our marked line."""
    return [rc_file(s) for s in SHELLS if any(line.endswith(MARKER) for line in _lines(s))]


def _lines(shell: str) -> list[str]:
    try:
        return _read_lines(rc_file(shell))
    except DevsecretsError:  # an unreadable rc file holds no hook we could know of
        return []


def rc_line(shell: str, *, quiet: bool = False) -> str:
    """The one line `--install` adds: load the hook if devsecrets is still installed."""
    exe = quote(shell, executable())
    args = f"hook {shell}" + (" --quiet" if quiet else "")
    if shell == "fish":
        return f"if test -x {exe}; {exe} {args} | source; end  {MARKER}"
    return f'if [ -x {exe} ]; then eval "$({exe} {args})"; fi  {MARKER}'


def detect_shell() -> str:
    """The user's shell: $SHELL, else the login shell in the password database ($SHELL is
    unset under cron, CI runners and `env -i`)."""
    candidates = [os.environ.get("SHELL", "")]
    with contextlib.suppress(KeyError):  # a uid with no passwd entry (some containers)
        candidates.append(pwd.getpwuid(os.getuid()).pw_shell)
    for candidate in candidates:
        if os.path.basename(candidate) in SHELLS:
            return os.path.basename(candidate)
    raise UsageError(
        "cannot tell your shell: neither SHELL nor your login shell is bash, zsh or fish"
        f" ({', '.join(repr(c) for c in candidates)})",
        "name it: devsecrets hook --install --shell bash (or zsh, fish)",
    )


def install(shell: str, *, quiet: bool = False, dry_run: bool = False) -> str:
    """Add the marked line to the rc file, or replace ours if it differs. Idempotent."""
    path = rc_file(shell)
    lines = _read_lines(path)
    line = rc_line(shell, quiet=quiet)
    ours = [i for i, text in enumerate(lines) if text.endswith(MARKER)]
    if [lines[i] for i in ours] == [line]:
        return f"devsecrets: the hook is already in {path}"
    if ours:  # a line from another installation: replaced where it stands
        first = ours[0]
        lines = [line if i == first else text for i, text in enumerate(lines) if i not in ours[1:]]
    else:
        lines.append(line)
    verb = "would add" if dry_run else "added"
    if not dry_run:
        _write_lines(path, lines)
    return f"devsecrets: {verb} to {path}:\n  {line}\nIt takes effect in new shells."


def uninstall(shell: str, *, dry_run: bool = False) -> str:
    """Remove our marked line(s), nothing else."""
    path = rc_file(shell)
    lines = _read_lines(path)
    kept = [text for text in lines if not text.endswith(MARKER)]
    if len(kept) == len(lines):
        return f"devsecrets: no devsecrets hook line in {path}"
    if not dry_run:
        _write_lines(path, kept)
    verb = "would remove" if dry_run else "removed"
    return f"devsecrets: {verb} the hook line from {path}; open a new shell to be rid of it"


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise DevsecretsError(f"cannot read {path}: {exc}", "check the file") from None


def _write_lines(path: Path, lines: list[str]) -> None:
    """Write-and-rename, keeping the file's mode (rc files are often symlinks into a dotfiles
    repository: the link's target is what gets replaced)."""
    target = path.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o7777 if target.exists() else 0o644
    temporary = target.with_name(f".{target.name}.devsecrets.{os.getpid()}")
    try:
        temporary.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        temporary.chmod(mode)
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise DevsecretsError(f"cannot write {target}: {exc.strerror}", "check its mode") from None
