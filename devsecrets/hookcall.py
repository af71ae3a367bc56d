"""The shell hook's one Python call, made when the nearest config (the project) changes.

shell-hooks/devsecrets.{bash,zsh,fish} run it as

    printf %s CAP | DEVSECRETS_SESSION_FD=0 PYTHON -I -S -c CODE PKGDIR SHELL_PID CONFIG \
        PREV_RECORD PREV_STATE PREV_PROJECT [--quiet]

(CODE: hooks.ENTRY). `-I`: PYTHON* variables and the user site are ignored, and the working
directory — a project someone else wrote — is not on sys.path, so nothing in it can stand in
for devsecrets. `-S`: no site-packages scan (≈ 3.5 ms); PKGDIR, the directory holding this
package, is put on sys.path instead. CONFIG is the config the hook found ('' when it left
every project); the PREV_* values are what this call told the hook last time; SHELL_PID is
the interactive shell's own pid ($$, $fish_pid), which the agent binds the session to. CAP,
the session capability the hook holds ('' for none), comes on stdin (sessioncap.py), never
through argv or the environment, which the user's other processes can read in /proc. Every
capability that came this way is still retired before the call ends — left, or renewed when
the session stands — so that one taken from the pipe in the meantime opens nothing.

It prints one status line on stderr, and on stdout `key=value` lines that the hook reads
into unexported variables of its own — it assigns known keys and evaluates nothing:
`state` (a trust state, or `error`), `project`, `record` (the allow-record file whose
existence and age the hook watches between calls), `cap` (the session capability) and
`notice` (the file where the agent will write the fetch's outcome: hookagent.py).

It runs on `cd`, with a budget of direnv loading an .envrc (≈ 24 ms here), so it imports
only cheap standard modules (`python -X importtime` in bench/README.md): no click, yaml,
json, pathlib, typing or dataclasses, and it never parses the YAML — the allow record
carries what the status line shows.
"""

from __future__ import annotations

import os
import sys
import time

from devsecrets import hookagent, sessioncap
from devsecrets.configfile import read_config_bytes
from devsecrets.errors import DevsecretsError
from devsecrets.trust import ALLOWED, CHANGED, DENIED, EXPIRED, NOT_ALLOWED, decide
from devsecrets.trustfile import Record, read_record, record_paths, sha256_hex

ERROR = "error"
REVIEW = "review it, then run devsecrets allow"


def main(argv: list[str]) -> int:
    if len(argv) < 5 or not argv[0].isdigit():  # a hook loaded before an upgrade
        sys.stderr.write("devsecrets: this shell hook is out of date; load it again\n")
        return 2
    shell, config, prev_record, prev_state, prev_project = argv[:5]
    quiet = "--quiet" in argv[5:] or os.environ.get("DEVSECRETS_HOOK_QUIET", "") not in ("", "0")
    held, _ = sessioncap.take()  # (an agent started below must not inherit it either)
    if config:
        fields, line = arrive(config, int(shell), held, prev_record, prev_state)
    else:
        fields, line = {}, left(prev_project, prev_state, held, hookagent.leave(held))
    if quiet:
        fields.pop("notice", None)
    _emit(fields)
    if line and not quiet:
        sys.stderr.write(_printable(line) + "\n")
        sys.stderr.flush()
    return 0


def arrive(
    config: str, shell: int, held: str, prev_record: str, prev_state: str
) -> tuple[dict[str, str], str]:
    """In a project: its trust state, and the agent's session to match it."""
    fields, line, allow, digest = enter(config, time.time())
    unchanged = (fields["record"], fields["state"]) == (prev_record, prev_state)
    if fields["state"] != ALLOWED or allow is None:
        wiped = hookagent.leave(held)  # changed, denied, expired: nothing may be served
        if unchanged and not held:
            return fields, ""  # re-checked, nothing new to say
        lost = wiped and fields["record"] == prev_record  # this project's own session
        return fields, line + ("; session wiped" if lost else "")
    if unchanged and held:
        # Re-checked the same approval: the session stands, under a new capability — the
        # held one passed through a pipe, which another process of the user could have
        # read first (and it can make the hook re-check: `touch` the config), so it must
        # not stay usable.
        renewed = hookagent.renew(held)
        if renewed:
            fields["cap"] = renewed
            return fields, ""
    hookagent.leave(held)  # the agent would drop it on `enter` too; this says so at once
    entered = hookagent.enter(shell, config, digest)
    fields["cap"] = entered.capability
    if entered.state == "fetching":
        fields["notice"] = entered.notice
    return fields, hookagent.line(allow.project, allow.scope, allow.count, entered)


def enter(config: str, now: float) -> tuple[dict[str, str], str, Record | None, str]:
    """The hook's fields and, unless it is allowed, the status line for the config at
    `config` (a logical path); the allow record and the digest of the bytes read."""
    allow_path, deny_path = record_paths(os.path.realpath(config))
    fields = {"record": allow_path, "state": ERROR, "project": ""}
    try:
        data = read_config_bytes(config)
    except DevsecretsError as exc:
        return fields, exc.render(), None, ""
    allow = read_record(allow_path)
    denied = read_record(deny_path) is not None
    digest = sha256_hex(data)
    # The hook cannot parse the YAML (too slow), so it applies the TTL recorded at allow
    # time; `run` applies the current policy's.
    state = decide(allow, denied, digest, now, allow.ttl if allow else 0)
    fields["state"] = state
    where = _display(config)
    if state == ALLOWED and allow:
        fields["project"] = allow.project
        return fields, "", allow, digest  # the line says what the agent does: `arrive`
    messages = {
        NOT_ALLOWED: f"devsecrets: {where} is not trusted — {REVIEW}",
        CHANGED: f"devsecrets: {where} changed since you allowed it — {REVIEW}",
        EXPIRED: f"devsecrets: {where}: trust expired — {REVIEW}",
        DENIED: f"devsecrets: {where} is denied; nothing is served here",
    }
    return fields, messages[state], None, digest


def left(project: str, state: str, held: str, wiped: bool) -> str:
    """The line on leaving every project: what became of the shell's session."""
    if wiped:
        return f"devsecrets: left {project} — session wiped"
    if held:
        return (
            f"devsecrets: left {project} — the session agent did not answer; it wipes the "
            "session when its time is up or this shell exits"
        )
    if state == ALLOWED:  # the agent could not be used on entering
        return f"devsecrets: left {project} — nothing was held"
    return ""


def _emit(fields: dict[str, str]) -> None:
    # A value with a line break would break the line protocol: left out (the hook then
    # watches nothing and asks again at the next change of directory).
    lines = [f"{key}={value}\n" for key, value in fields.items() if "\n" not in value]
    sys.stdout.buffer.write(os.fsencode("".join(lines)))
    sys.stdout.flush()


def _display(path: str) -> str:
    home = os.environ.get("HOME", "").rstrip("/")
    return "~" + path[len(home) :] if home and path.startswith(home + "/") else path


def _printable(text: str) -> str:
    """No terminal control characters: a directory name could carry some."""
    return "".join(c if c.isprintable() or c == "\n" else "?" for c in text)
