"""`devsecrets import [FILE]`: move a plaintext dotenv file into the keyring.

1. Parse the file (dotenv.py: values straight into wipeable buffers) and make a plan: each
   key is stored, already in the keyring with the same value, or left alone with a reason —
   a name no environment can hold, `$VARIABLES` (what they expand to depends on the loader:
   not guessed), a production-looking value (never stored), a conflict with the config.
   An empty value (`KEY=`) holds no secret: it is dropped and does not keep the file.
2. Nothing changes before the plan is shown and confirmed (`--yes` for scripts), and the
   new config text has been parsed back.
3. Store each value (store.py: policy check, keyring, ledger, audit log); the ledger dates
   the value from the file's last change, not from now, since it is not a new credential.
4. Add `NAME: keyring:name` lines to `.devsecrets.yml`, appended, comments kept (only for
   values that were stored). A config that was trusted as it was is trusted again (the
   only new lines are the user's own keys, shown above); one that was not, is not.
5. Add the file to `.gitignore`; read every value back from the keyring and compare it, in
   constant time, with the file's; only when all match and nothing was left alone is the
   file overwritten with zeros and removed. Otherwise it stays, and the output says which
   keys were stored.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from devsecrets.config import (
    DEFAULT_SCOPE,
    ENV_NAME,
    RESERVED_NAMES,
    RESERVED_PREFIXES,
    Config,
    SecretSpec,
    find_config,
    parse_config,
)
from devsecrets.configedit import (
    add_secrets,
    keyring_ref,
    new_config,
    project_name,
    write_config,
)
from devsecrets.dotenv import Dotenv, Entry
from devsecrets.errors import DevsecretsError, ProviderError, UsageError
from devsecrets.layering import effective_policy
from devsecrets.lookup import absolute
from devsecrets.plainfile import ignore_in_git, read_plain, remove_plain, tracked_by_git
from devsecrets.policy import Policy, policy_for, value_refusals
from devsecrets.providers.base import Context
from devsecrets.providers.keyring import KeyringProvider, service_name
from devsecrets.refs import KeyringRef
from devsecrets.secret import Secret
from devsecrets.teampolicy import load_team_policy


@dataclass
class Plan:
    path: Path
    config_path: Path
    config: Config | None  # the config as it was, if there was one
    text: str | None  # its text
    project: str
    named: str = ".env"  # the file as the user named it, for commands to paste
    new: list[tuple[Entry, str]] = field(default_factory=list)  # stored, with a new ref
    missing: list[Entry] = field(default_factory=list)  # in the config, not in the keyring
    present: list[Entry] = field(default_factory=list)  # in the keyring, same value
    empty: list[str] = field(default_factory=list)  # `KEY=`: nothing to keep
    left: list[tuple[str, str]] = field(default_factory=list)  # (key, why it stays)

    @property
    def to_store(self) -> list[Entry]:
        return [entry for entry, _ in self.new] + self.missing

    @property
    def quoted(self) -> str:
        """The file as the user named it, quoted for a shell."""
        return shlex.quote(self.named)


def import_dotenv(file: str | None, *, yes: bool, now: datetime | None = None) -> int:
    """The `import` command."""
    named = file or ".env"
    path = Path(absolute(named))
    dotenv, mtime = read_plain(path)
    try:
        if not dotenv.entries:
            raise DevsecretsError(
                f"{path} has no KEY=value lines: there is nothing to import",
                "name the file that holds the values: devsecrets import FILE",
            )
        plan = make_plan(path, dotenv, named)
        show(plan, dotenv)
        if not plan.to_store and not plan.present:
            raise DevsecretsError(
                f"nothing in {path.name} can be imported; it was left as it is",
                "see the reasons above",
            )
        _confirm(plan, yes)
        return carry_out(plan, now or datetime.now(UTC), mtime)
    finally:
        dotenv.wipe()


def make_plan(path: Path, dotenv: Dotenv, named: str = ".env") -> Plan:
    found = find_config(path.parent)
    if found is None:
        config_path = path.parent / ".devsecrets.yml"
        plan = Plan(path, config_path, None, None, project_name(path.parent), named)
    else:
        from devsecrets.configfile import read_config_bytes

        data = read_config_bytes(found)
        config = parse_config(data, found)
        plan = Plan(path, found, config, data.decode(), config.project, named)
    policy = effective_policy(plan.config, load_team_policy())
    taken = {ref.username for ref in _keyring_refs(plan.config)}
    for entry in dotenv.entries:
        if not entry.value:
            plan.empty.append(entry.key)
            continue
        reason = _why_left(entry, plan, policy)
        if reason:
            plan.left.append((entry.key, reason))
            continue
        spec = plan.config.secret(entry.key) if plan.config else None
        if spec is None:
            plan.new.append((entry, keyring_ref(entry.key, taken)))
        elif not isinstance(spec.ref, KeyringRef):
            plan.left.append((entry.key, f"the config takes it from {spec.ref.text}"))
        else:
            _compare_stored(plan, entry, spec)
    return plan


def _why_left(entry: Entry, plan: Plan, policy: Policy) -> str | None:
    if not ENV_NAME.fullmatch(entry.key):
        return "not a name an environment variable can have"
    if entry.key in RESERVED_NAMES or entry.key.startswith(RESERVED_PREFIXES):
        return "a name that changes how programs run: devsecrets does not serve it"
    if entry.uses_variables:
        return "uses $VARIABLES: what they expand to depends on the loader, so it is not guessed"
    secret = Secret(entry.value)
    if secret.has_nul() or not secret.is_utf8():
        return "not UTF-8 text"
    scope = plan.config.scope if plan.config else DEFAULT_SCOPE
    probe = SecretSpec(entry.key, KeyringRef("keyring", entry.key), scope, entry.line)
    refusals = value_refusals(probe, secret, policy)
    if refusals:
        label = refusals[0].reason.removeprefix("its value ")
        return f"{label}: production values are never stored on a development machine"
    return None


def _compare_stored(plan: Plan, entry: Entry, spec: SecretSpec) -> None:
    provider = KeyringProvider(Context(project=plan.project))
    try:
        stored = provider.fetch([spec.ref])[spec.ref]
    except ProviderError as exc:
        if exc.kind != "not_found":
            raise
        plan.missing.append(entry)
        return
    try:
        if stored.equals(Secret(entry.value)):
            plan.present.append(entry)
        else:
            plan.left.append((entry.key, "the keyring holds a different value for it"))
    finally:
        stored.wipe()


def _keyring_refs(config: Config | None) -> list[KeyringRef]:
    return [s.ref for s in (config.secrets if config else ()) if isinstance(s.ref, KeyringRef)]


def show(plan: Plan, dotenv: Dotenv) -> None:
    where = "a new " if plan.config is None else ""
    print(
        f"devsecrets import: {plan.path} → keyring service {service_name(plan.project)}, "
        f"references in {where}{plan.config_path}"
    )
    width = max((len(e.key) for e in dotenv.entries), default=0)
    for entry, ref in plan.new:
        print(f"  store  {entry.key.ljust(width)}  as {ref}")
    for entry in plan.missing:
        print(f"  store  {entry.key.ljust(width)}  (listed in the config, not in the keyring)")
    for entry in plan.present:
        print(f"  done   {entry.key.ljust(width)}  already in the keyring, same value")
    for key in plan.empty:
        print(f"  drop   {key.ljust(width)}  empty: no secret to keep (set it where it is used)")
    for key, why in plan.left:
        print(f"  leave  {key.ljust(width)}  {why}")
    for key in dict.fromkeys(dotenv.duplicates):
        print(f"  note   {key} is set more than once; the last value is the one imported")


def _confirm(plan: Plan, yes: bool) -> None:
    from devsecrets.prompt import confirm, interactive

    if yes:
        return
    if not interactive():
        raise UsageError(
            "import changes the keyring and the config and deletes the file: it asks first",
            "run it in a terminal, or pass --yes",
        )
    end = (
        f"then delete {plan.path.name}"
        if not plan.left
        else f"and keep {plan.path.name} ({len(plan.left)} left as they are)"
    )
    if not confirm(f"Store {len(plan.to_store)} values in the keyring {end}?", default=False):
        raise DevsecretsError("nothing was changed", None)


def carry_out(plan: Plan, now: datetime, mtime: datetime) -> int:
    from devsecrets.store import require_keyring, store

    config = _updated(plan, [(e.key, ref) for e, ref in plan.new])
    policy = policy_for(config)
    if plan.to_store:
        require_keyring(config)
    stored: list[str] = []
    failed: list[tuple[str, str]] = []
    for entry in plan.to_store:
        spec = config.secret(entry.key)
        assert spec is not None
        try:
            store(
                config,
                spec,
                Secret(entry.value),
                policy=policy,
                via="import",
                now=now,
                changed_at=mtime,
            )
            stored.append(entry.key)
        except DevsecretsError as exc:
            failed.append((entry.key, exc.message.splitlines()[0]))
    added = [(e.key, ref) for e, ref in plan.new if e.key in stored]
    if added:
        config = _updated(plan, added)
        write_config(plan.config_path, _text(plan, added))
        _trust(plan, config)
    ignored = ignore_in_git(plan.path)
    if ignored:
        print(f"devsecrets: {ignored}")
    mismatched = _read_back(config, [e for e in plan.to_store if e.key in stored] + plan.present)
    failed += [(key, "read back from the keyring, it differs from the file") for key in mismatched]
    if plan.left or failed:
        return _kept(plan, stored, failed)
    remove_plain(plan.path)
    print(
        f"devsecrets: removed {plan.path}: its {len(stored) + len(plan.present)} values are "
        "in the keyring (read back and compared)"
    )
    if tracked_by_git(plan.path):
        print(
            f"devsecrets: warning: git tracks {plan.path.name}: once committed, its values "
            "stay in the history — rotate them (devsecrets rotate NAME), and `git rm "
            f"--cached {plan.quoted}`"
        )
    return 0


def _text(plan: Plan, entries: list[tuple[str, str]]) -> str:
    if plan.text is None:
        return new_config(plan.project, entries)
    return add_secrets(plan.text, entries, str(plan.config_path))


def _updated(plan: Plan, entries: list[tuple[str, str]]) -> Config:
    """The config as it will be written, parsed back: a generated line that does not parse
    is caught before anything changes."""
    return parse_config(_text(plan, entries).encode(), plan.config_path)


def _trust(plan: Plan, config: Config) -> None:
    from devsecrets.trust import ALLOWED, allow, check

    if plan.config is None or check(plan.config).state == ALLOWED:
        for line in allow(config):
            print(line)
        return
    print(
        f"devsecrets: {plan.config_path} was not trusted before this import, so it is not "
        f"trusted now: review it, then run `{_in_project(plan, 'devsecrets allow')}`"
    )


def _in_project(plan: Plan, command: str) -> str:
    """command, or `(cd DIR && command)` when the working directory is not in the imported
    file's project, whose config the pasted command must find."""
    try:
        here = find_config()
    except DevsecretsError:
        here = None
    if here is not None and here.resolve() == plan.config_path.resolve():
        return command
    return f"(cd {shlex.quote(str(plan.config_path.parent))} && {command})"


def _read_back(config: Config, entries: list[Entry]) -> list[str]:
    provider = KeyringProvider(Context(project=config.project))
    mismatched = []
    for entry in entries:
        spec = config.secret(entry.key)
        assert spec is not None
        try:
            value = provider.fetch([spec.ref])[spec.ref]
        except ProviderError:
            mismatched.append(entry.key)
            continue
        try:
            if not value.equals(Secret(entry.value)):
                mismatched.append(entry.key)
        finally:
            value.wipe()
    return mismatched


def _kept(plan: Plan, stored: list[str], failed: list[tuple[str, str]]) -> int:
    for key, why in failed:
        print(f"  failed {key}  {why}")
    done = ", ".join(stored) or "none"
    raise DevsecretsError(
        f"kept {plan.path}: not every value is in the keyring; stored: {done}",
        f"deal with the keys listed above (`{_in_project(plan, 'devsecrets set NAME')}`, or "
        f"delete them from {plan.path.name}), then run `devsecrets import {plan.quoted}` "
        "again: stored values are recognised, not stored twice",
    )
