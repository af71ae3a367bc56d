"""`devsecrets run`: start one command with secrets in its environment and nowhere else.

Three ways to start the child, chosen by what the output needs:
- nothing to mask (`--no-mask`, or no value long enough to mask): `execvpe` — the command
  replaces devsecrets, behaves exactly as if run directly, and devsecrets' own copies of the
  values vanish with its address space;
- stdout is a terminal: the child runs on a pty, so colours, prompts, REPLs and `isatty()`
  keep working while the output is masked (see relay.py);
- otherwise: pipes, masked.
The values reach the child's environment only in the forked child, just before exec: the
parent never builds the `NAME=value` strings that CPython could not wipe.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import sys
from collections.abc import Mapping, Sequence

from devsecrets.errors import EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, DevsecretsError
from devsecrets.mask import MIN_MASK_LENGTH
from devsecrets.secret import Secret, wipe_all
from devsecrets.sessioncap import SESSION_ENV, SESSION_FD_ENV

# Credentials of the brokers themselves: the child must not be able to fetch anything more.
STRIPPED_NAMES = frozenset(
    {b"OP_SERVICE_ACCOUNT_TOKEN", b"OP_CONNECT_TOKEN"}
    | {SESSION_ENV.encode(), SESSION_FD_ENV.encode()}
)
STRIPPED_PREFIXES = (b"OP_SESSION",)
# Signals Python ignores or that we ignore while relaying; the child must start with defaults.
RESET_SIGNALS = (
    signal.SIGPIPE,
    signal.SIGXFSZ,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGTTOU,
    signal.SIGTTIN,
    signal.SIGTSTP,
    signal.SIGCHLD,
    signal.SIGWINCH,
    signal.SIGCONT,
)


class ExecFailed(DevsecretsError):
    def __init__(self, command: str, err: int) -> None:
        if err == errno.ENOENT:
            super().__init__(f"{command}: command not found", "check the name and your PATH")
            self.exit_code = EXIT_NOT_FOUND
        else:
            super().__init__(
                f"{command}: cannot execute: {os.strerror(err)}",
                f"check that {command} is an executable file (chmod +x)",
            )
            self.exit_code = EXIT_NOT_EXECUTABLE


class Outcome:
    """How the child ended: an exit code, or the signal that killed it. (A plain class: a
    dataclass or NamedTuple would cost the warm `run` path ≈ 8 or 2.5 ms of imports.)"""

    __slots__ = ("code", "signal")

    def __init__(self, code: int, signal: int | None = None) -> None:
        self.code = code
        self.signal = signal

    def __repr__(self) -> str:
        return f"Outcome(code={self.code}, signal={self.signal})"

    @classmethod
    def from_wait_status(cls, status: int) -> Outcome:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            return cls(128 + sig, sig)
        return cls(os.waitstatus_to_exitcode(status))


def child_environment(base: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """The parent's environment minus the brokers' own credentials and session capability."""
    return {
        key: value
        for key, value in base.items()
        if key not in STRIPPED_NAMES and not key.startswith(STRIPPED_PREFIXES)
    }


def shadowed_names(secrets: Mapping[str, Secret], base: Mapping[bytes, bytes]) -> list[str]:
    """Secrets that are also exported in the calling shell: a leak worth telling about."""
    return [name for name in secrets if name.encode() in base]


def exec_environment(
    base: Mapping[bytes, bytes], secrets: Mapping[str, Secret]
) -> dict[bytes, bytes]:
    """Only ever called in the forked child (or right before exec): builds the values' copies."""
    env = dict(base)
    for name, secret in secrets.items():
        env[name.encode()] = bytes(secret.buffer)
    return env


def prepare_child() -> None:
    """In the child, before exec: default signal handling, and no core dump (its memory and
    environment hold the values) unless the command raises the limit again itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if soft != 0:
        resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    for sig in RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def exec_command(
    argv: Sequence[str], env: Mapping[bytes, bytes], secrets: Mapping[str, Secret]
) -> None:
    """Replace devsecrets by the command. Returns only by raising ExecFailed."""
    sys.stdout.flush()
    sys.stderr.flush()
    prepare_child()
    try:
        os.execvpe(argv[0], list(argv), exec_environment(env, secrets))
    except OSError as exc:
        wipe_all(dict(secrets))
        raise ExecFailed(argv[0], exc.errno or errno.ENOEXEC) from None


def run_command(argv: Sequence[str], secrets: dict[str, Secret], *, mask: bool = True) -> Outcome:
    """Run argv with the secrets; wipe them when it ends; return how it ended."""
    env = child_environment(os.environb)
    maskable = [s for s in secrets.values() if len(s) >= MIN_MASK_LENGTH]
    if not mask or not maskable:
        exec_command(argv, env, secrets)
    from devsecrets.relay import relay_child

    try:
        return relay_child(argv, env, secrets, pty_mode=os.isatty(1))
    finally:
        wipe_all(secrets)


def exit_like(outcome: Outcome) -> None:
    """Leave devsecrets the way the child left: same code, or killed by the same signal, so a
    calling shell sees WIFSIGNALED (and, for SIGINT, stops its script) as without us."""
    sys.stdout.flush()
    sys.stderr.flush()
    if outcome.signal is not None and outcome.signal not in (signal.SIGSTOP, signal.SIGTSTP):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(outcome.signal, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [outcome.signal])
        os.kill(os.getpid(), outcome.signal)
    os._exit(outcome.code)


def run_in_project(
    argv: Sequence[str], *, only: Sequence[str] = (), mask: bool = True, verbose: bool = False
) -> Outcome:
    """The `run` command: config → trust → selection → policy → fetch → child."""
    from devsecrets.project import load_project, resolve_project
    from devsecrets.resolve import select

    config = load_project()
    specs = select(config, only, argv[0])
    secrets = resolve_project(config, specs, command=argv[0])
    sources = sorted({spec.ref.provider for spec in specs})
    return start_child(
        argv, secrets, project=config.project, sources=sources, mask=mask, verbose=verbose
    )


def start_child(
    argv: Sequence[str],
    secrets: dict[str, Secret],
    *,
    project: str,
    sources: Sequence[str],
    mask: bool,
    verbose: bool,
) -> Outcome:
    """Say what the user should know, then run the child; shared by the warm (agent) path."""
    for name in shadowed_names(secrets, os.environb):
        _warn(
            f"{name} is also exported in your shell; the command gets the devsecrets value "
            f"(remove the export: it is readable by every program you start)"
        )
    if mask:
        for name, secret in secrets.items():
            if len(secret) < MIN_MASK_LENGTH:
                _warn(f"{name} is shorter than {MIN_MASK_LENGTH} bytes and cannot be masked")
    if verbose:
        _warn(_summary(argv[0], project, list(secrets), sources, mask))
    return run_command(argv, secrets, mask=mask)


def _summary(
    command: str, project: str, names: Sequence[str], sources: Sequence[str], mask: bool
) -> str:
    listed = f" ({', '.join(names)})" if names else ""
    where = f" from {', '.join(sources)}" if sources else ""
    masking = "output masked" if mask else "output not masked"
    return f"{project}: running {command} with {len(names)} secrets{listed}{where}; {masking}"


def _warn(text: str) -> None:
    print(f"devsecrets: {text}", file=sys.stderr, flush=True)
