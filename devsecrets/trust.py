"""Trust: a config is used only after its owner allowed exactly its bytes.

`devsecrets allow` records, per config file (keyed by its real path): the SHA-256 of the bytes
that were parsed, when, the trust TTL then in force, and a summary of its secrets as
{name: reference} — never a value, the config holds none — so that a changed config can be
shown as a diff. `devsecrets deny` records a refusal. `run` and the shell hook refuse
anything but ALLOWED. States: ALLOWED, NOT_ALLOWED (never seen), DENIED, CHANGED (bytes differ
from the allowed ones), EXPIRED (allowed longer ago than the policy's trust_ttl).

The files themselves: trustfile.py. Like it, this module imports only cheap modules at the
top, because the shell hook's Python call (hookcall.py) uses `decide`.
"""

from __future__ import annotations

import os
import time

from devsecrets.errors import DevsecretsError
from devsecrets.trustfile import Record, read_record, record_paths, remove, write

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: `import typing` costs ≈ 14 ms
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from devsecrets.config import Config

ALLOWED = "allowed"
NOT_ALLOWED = "not_allowed"
DENIED = "denied"
CHANGED = "changed"
EXPIRED = "expired"
ALLOW_FIX = "review it, then run `devsecrets allow`"


class UntrustedError(DevsecretsError):
    """The config is not allowed as it is; `state` says why."""

    def __init__(self, message: str, fix: str, state: str) -> None:
        super().__init__(message, fix)
        self.state = state


# ---------------------------------------------------------------- deciding


def decide(allow: Record | None, denied: bool, digest: str, now: float, ttl: float) -> str:
    """The one rule, shared by `run` (current policy TTL) and the hook (TTL recorded)."""
    if denied:
        return DENIED
    if allow is None:
        return NOT_ALLOWED
    if allow.digest != digest:
        return CHANGED
    if now >= allow.at + ttl:
        return EXPIRED
    return ALLOWED


def _trust_ttl(config: Config) -> int:
    """The one place the trust TTL comes from (team policy layering lands in policy_for)."""
    from devsecrets.policy import policy_for

    return int(policy_for(config).trust_ttl.total_seconds())


class Verdict:
    """The trust state of a parsed config, with the records it was decided from."""

    __slots__ = ("allow", "deny", "real_path", "state", "ttl")

    def __init__(self, config: Config, now: float) -> None:
        self.real_path = os.path.realpath(config.path)
        allow_path, deny_path = record_paths(self.real_path)
        self.allow = read_record(allow_path, summary=True)
        self.deny = read_record(deny_path)
        self.ttl = _trust_ttl(config)
        self.state = decide(self.allow, self.deny is not None, config.digest, now, self.ttl)

    def as_json(self) -> dict[str, object]:
        allowed = self.allow
        return {
            "state": self.state,
            "allowed_at": _iso(allowed.at) if allowed else None,
            "expires_at": _iso(allowed.at + self.ttl) if allowed else None,
        }

    def describe(self) -> str:
        """One line for `status`."""
        allowed = self.allow
        if self.state == DENIED:
            return "denied — `devsecrets allow` trusts it again"
        if self.state == ALLOWED and allowed:
            return f"allowed until {_date(allowed.at + self.ttl)}"
        if self.state == EXPIRED and allowed:
            return f"expired on {_date(allowed.at + self.ttl)} — {ALLOW_FIX}"
        if self.state == CHANGED and allowed:
            return f"changed since it was allowed on {_date(allowed.at)} — {ALLOW_FIX}"
        return f"not allowed — {ALLOW_FIX}"


def check(config: Config, *, now: float | None = None) -> Verdict:
    """Decide from `config.digest`, the hash of the very bytes that were parsed: the file is
    not read again, so it cannot be swapped between the check and the use."""
    return Verdict(config, time.time() if now is None else now)


def require_trusted(config: Config, *, now: float | None = None) -> None:
    """Raise UntrustedError (exit 125) unless the config is ALLOWED."""
    verdict = check(config, now=now)
    if verdict.state == ALLOWED:
        return
    where = str(config.path)
    if verdict.state == DENIED:
        message = f"{where} is denied (devsecrets deny, {_day(verdict.deny)})"
        fix = "if you trust it now: review it, then run `devsecrets allow`"
    elif verdict.state == CHANGED:
        allowed = verdict.allow.secrets if verdict.allow else {}
        changes = "\n".join(describe_changes(allowed, summarize(config)))
        message = f"{where} changed since you allowed it ({_day(verdict.allow)})"
        message += f":\n{changes}" if changes else " (secrets and references are the same)"
        fix = ALLOW_FIX
    elif verdict.state == EXPIRED:
        from datetime import timedelta

        from devsecrets.durations import format_duration

        ttl = format_duration(timedelta(seconds=verdict.ttl))
        message = f"{where}: trust expired (allowed {_day(verdict.allow)}; trust_ttl {ttl})"
        fix = ALLOW_FIX
    else:
        names = ", ".join(s.name for s in config.secrets) or "no secrets"
        message = f"{where} is not trusted yet; it asks for: {names}"
        fix = ALLOW_FIX
    raise UntrustedError(message, fix, verdict.state)


# ---------------------------------------------------------------- allow and deny


def summarize(config: Config) -> dict[str, str]:
    """{name: reference text}, and the `rotate:` command when there is one (it runs code):
    what trusting this config hands out and runs. Never a value."""
    return {spec.name: spec.ref.text + _rotate_text(spec.rotate) for spec in config.secrets}


def _rotate_text(rotate: str | tuple[str, ...] | None) -> str:
    if rotate is None:
        return ""
    if isinstance(rotate, str):
        return f"  (rotate: {rotate})"
    import shlex

    return f"  (rotate: [{', '.join(shlex.quote(word) for word in rotate)}])"


def allow(config: Config, *, now: float | None = None) -> list[str]:
    """Trust exactly these bytes; return the lines to show (the secrets, or what changed)."""
    when = time.time() if now is None else now
    verdict = check(config, now=when)
    record = Record("allow", verdict.real_path, when)
    record.digest = config.digest
    record.ttl = verdict.ttl
    record.project = config.project
    record.scope = config.scope
    record.secrets = summarize(config)
    allow_path, deny_path = record_paths(verdict.real_path)
    write(allow_path, record)
    remove(deny_path)
    until = _date(record.expires_at)
    head = f"devsecrets: allowed {config.path} ({config.project}, {config.scope}) until {until}"
    previous = verdict.allow
    if previous is None or verdict.state == DENIED:
        width = max((len(name) for name in record.secrets), default=0)
        listed = [f"  {name.ljust(width)}  {ref}" for name, ref in record.secrets.items()]
        return [head, *(listed or ["  (no secrets)"])]
    changes = describe_changes(previous.secrets, record.secrets)
    if not changes:
        return [head, f"  no change in secrets since you allowed it ({_day(previous)})"]
    return [head, f"  changes since you allowed it ({_day(previous)}):", *changes]


def deny(config_path: str, *, now: float | None = None) -> str:
    """Refuse this config file until it is allowed again; needs no parse (a broken or hostile
    file must be deniable)."""
    real_path = os.path.realpath(config_path)
    allow_path, deny_path = record_paths(real_path)
    write(deny_path, Record("deny", real_path, time.time() if now is None else now))
    remove(allow_path)
    return f"devsecrets: denied {config_path}: `run` and the shell hook refuse it"


def describe_changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """`+ NAME ref`, `- NAME ref`, `~ NAME old -> new`, sorted by name."""
    return list(_changes(old, new))


def _changes(old: dict[str, str], new: dict[str, str]) -> Iterator[str]:
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            yield f"  + {name}  {new[name]}"
        elif name not in new:
            yield f"  - {name}  {old[name]}"
        elif old[name] != new[name]:
            yield f"  ~ {name}  {old[name]} -> {new[name]}"


def _day(record: Record | None) -> str:
    return f"on {_date(record.at)}" if record else "never"


def _date(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(timestamp))


def _iso(timestamp: float) -> str:
    """For JSON, as status.py writes its times: UTC, whole seconds, `+00:00`."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(timestamp))


# ---------------------------------------------------------------- the commands


def allow_at(path: str | None, *, now: float | None = None) -> list[str]:
    """`devsecrets allow [PATH]`."""
    from devsecrets.config import parse_config
    from devsecrets.configfile import read_config_bytes

    file = locate(path)
    return allow(parse_config(read_config_bytes(file), file), now=now)


def deny_at(path: str | None, *, now: float | None = None) -> str:
    """`devsecrets deny [PATH]`."""
    return deny(str(locate(path)), now=now)


def locate(path: str | None) -> Path:
    """PATH as allow/deny take it: a config file, a project directory (its nearest config),
    or nothing (the nearest config above the working directory)."""
    from pathlib import Path

    from devsecrets.config import find_config, start_dir
    from devsecrets.errors import ConfigError
    from devsecrets.lookup import absolute

    if path is not None and not os.path.isdir(path):
        if not os.path.lexists(path):
            raise ConfigError(
                "no such file or directory", "name a project or its config", file=path
            )
        return Path(absolute(path))
    start = Path(absolute(path)) if path is not None else start_dir()
    found = find_config(start)
    if found is None:
        raise ConfigError(
            "no .devsecrets.yml in this directory or above",
            "cd into the project, or name it: devsecrets allow DIR",
            file=str(start),
        )
    return found
