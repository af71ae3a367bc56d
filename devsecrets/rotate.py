"""`devsecrets rotate NAME` and `rotate --due`: replace a secret's value, one at a time.

- a keyring secret with a `rotate:` command: the command (a string: a command line run by
  `/bin/sh -c`; a list: the argv itself, no shell) runs in the project root with stdin from
  /dev/null and a timeout; its stdout is the new value (captured in a wipeable buffer,
  never logged) and is stored like `set` stores a typed one;
- any other keyring secret: the new value is read like `set` reads it;
- a 1Password secret: devsecrets never writes to a vault, so it says which vault, item and
  field to change, then re-reads the item's `updated_at` to confirm it changed.
"""

from __future__ import annotations

import os
import shlex
import sys
from datetime import UTC, datetime

from devsecrets import proc
from devsecrets.auditlog import Event
from devsecrets.config import Config, SecretSpec, load_config
from devsecrets.errors import DevsecretsError
from devsecrets.ledger import Record, write_record
from devsecrets.policy import Policy, policy_for
from devsecrets.prompt import read_value
from devsecrets.providers.base import Metadata
from devsecrets.refs import OpRef
from devsecrets.rotation import OK, age_of, assess, when
from devsecrets.secret import Secret
from devsecrets.store import (
    audit,
    check_scope,
    find_spec,
    keyring_spec,
    require_keyring,
    say,
    store,
)

ROTATE_TIMEOUT = 120.0


def rotate_secret(name: str, *, now: datetime | None = None) -> int:
    """The `rotate NAME` command."""
    config = load_config()
    policy = policy_for(config)
    rotate_one(config, find_spec(config, name), policy, now=now or datetime.now(UTC))
    return 0


def rotate_due(*, now: datetime | None = None) -> int:
    """The `rotate --due` command: every secret that is stale, due soon or of unknown age."""
    from devsecrets.status import survey

    config = load_config()
    policy = policy_for(config)
    now = now or datetime.now(UTC)
    rows = survey(config, now=now).rows
    for row in rows:
        if row.refusals:
            say(f"{row.name}: skipped, it is refused for another reason: {row.refusals[0].reason}")
    due = [config.secret(r.name) for r in rows if not r.refusals and r.state != OK]
    specs = [spec for spec in due if spec is not None]
    if not specs:
        say("nothing is due for rotation")
        return 0
    typed = [s.name for s in specs if not isinstance(s.ref, OpRef) and not s.rotate]
    if typed and not os.isatty(sys.stdin.fileno()):
        raise DevsecretsError(
            f"{', '.join(typed)} need a value typed at a prompt, and stdin is not a terminal",
            "run `devsecrets rotate --due` in a terminal, or pipe each value to "
            "`devsecrets rotate NAME`",
        )
    failed = 0
    for spec in specs:
        say(f"rotating {spec.name}")
        try:
            rotate_one(config, spec, policy, now=now)
        except DevsecretsError as exc:
            print(exc.render(), file=sys.stderr, flush=True)
            failed += 1
    if failed:
        say(f"{failed} of {len(specs)} rotations failed (see above)")
    return 125 if failed else 0


def rotate_one(config: Config, spec: SecretSpec, policy: Policy, *, now: datetime) -> None:
    check_scope(spec, policy, None)  # nothing is rotated for a secret `run` would refuse
    if isinstance(spec.ref, OpRef):
        guide_1password(config, spec, policy, now=now)
        return
    keyring_spec(config, spec.name, "rotate")
    require_keyring(config)
    if spec.rotate:
        secret, via = value_from_command(config, spec), "rotate-command"
    else:
        secret, via = read_value(spec.name), "rotate"
    try:
        store(config, spec, secret, policy=policy, via=via, now=now)
    finally:
        secret.wipe()


def guide_1password(config: Config, spec: SecretSpec, policy: Policy, *, now: datetime) -> None:
    """Say where to rotate a 1Password secret; confirm from `updated_at` afterwards.

    On a terminal it waits for Enter and then requires a newer `updated_at`; otherwise
    (scripts, CI) it confirms when the item is already fresh.
    """
    assert isinstance(spec.ref, OpRef)
    before = item_metadata(config, spec)
    vault = _named(before.vault_name, before.vault_id) or spec.ref.vault
    item = _named(before.item_title, before.item_id) or spec.ref.item
    field = f"{spec.ref.section}/{spec.ref.field}" if spec.ref.section else spec.ref.field
    changed = f"last updated {when(before.updated_at)}" if before.updated_at else "never dated"
    if spec.rotate:
        say(f"{spec.name}: its rotate: command is not run: devsecrets never writes to 1Password")
    say(
        f"{spec.name} comes from 1Password: vault {vault}, item {item}, field {field!r} "
        f"({changed}).\n  Rotate it there: issue a new {spec.scope} credential where it "
        "comes from, and paste it into that field in the 1Password app."
    )
    if os.isatty(sys.stdin.fileno()):
        sys.stderr.write("Press Enter when it is done (Ctrl-C to stop): ")
        sys.stderr.flush()
        sys.stdin.readline()
        after = item_metadata(config, spec)
        confirmed = (
            after.updated_at is not None
            and before.updated_at is not None
            and after.updated_at > before.updated_at
        )
    else:
        after = before
        confirmed = assess(spec, policy, age_of(spec, after, None), now).state == OK
    if not confirmed or after.updated_at is None:
        shown = when(after.updated_at) if after.updated_at else "no date"
        raise DevsecretsError(
            f"1Password still shows {spec.name} last updated {shown}: not rotated",
            f"change the field in 1Password, then run `devsecrets rotate {spec.name}` again",
        )
    write_record(
        config.project, spec.name, Record(spec.ref.text, after.updated_at, spec.scope, "1password")
    )
    audit(config, [Event(spec.name, "rotated", "in 1Password")], now, action="rotate")
    due = after.updated_at + policy.max_age_for(spec)
    say(
        f"confirmed: 1Password shows {spec.name} updated {when(after.updated_at)}; next "
        f"rotation due {when(due)}"
    )


def item_metadata(config: Config, spec: SecretSpec) -> Metadata:
    """What 1Password says about the secret's item; an error when it has no such item."""
    from devsecrets.resolve import fetch

    found = fetch(config, [spec], values=False)[1].get(spec.ref) or Metadata()
    if found.unknown:
        raise DevsecretsError(
            f"{spec.name}: {found.unknown}",
            f"check the vault and item of {spec.name} in {config.path} (`op item list "
            "--vault VAULT` lists the items; 1Password answers 'not found' also when you lack "
            "access)",
        )
    return found


def _named(name: str | None, ident: str | None) -> str | None:
    if name and ident:
        return f"{name!r} (id {ident})"
    return repr(name or ident) if name or ident else None


def value_from_command(config: Config, spec: SecretSpec) -> Secret:
    """Run the secret's `rotate:` command in the project root; its stdout is the value."""
    argv, shown = _command(spec.rotate or ())
    try:
        result = proc.run(argv, timeout=ROTATE_TIMEOUT, cwd=config.root)
    except (FileNotFoundError, PermissionError) as exc:
        raise DevsecretsError(
            f"{spec.name}: the rotate command {shown!r} cannot be run: {exc.strerror}",
            f"fix `rotate:` of {spec.name} in {config.path} (paths are relative to the "
            "project root)",
        ) from None
    except proc.Timeout:
        raise DevsecretsError(
            f"{spec.name}: the rotate command {shown!r} did not finish within "
            f"{ROTATE_TIMEOUT:g} s; it was stopped and nothing was stored",
            "run it yourself to see where it waits (it gets no stdin)",
        ) from None
    if result.returncode != 0:
        result.wipe()
        said = next((line for line in result.stderr.splitlines() if line.strip()), "")
        raise DevsecretsError(
            f"{spec.name}: the rotate command {shown!r} exited with status "
            f"{result.returncode}; nothing was stored"
            + (f"\n  it said: {said[:300]}" if said else ""),
            "fix the command, or run `devsecrets set " + spec.name + "` to type a value",
        )
    return _trimmed(result, spec.name, shown)


def _command(rotate: str | tuple[str, ...]) -> tuple[list[str], str]:
    """The argv that runs a `rotate:` value, and the command as the config wrote it."""
    if isinstance(rotate, str):
        return ["/bin/sh", "-c", rotate], rotate
    return list(rotate), shlex.join(rotate)


def _trimmed(result: proc.Completed, name: str, shown: str) -> Secret:
    """The command's stdout without its final newline, copied once, the original wiped."""
    out = result.stdout
    end = len(out) - 1 if out.endswith(b"\n") else len(out)
    end = end - 1 if end and out[end - 1] == 0x0D else end
    try:
        if end == 0:
            raise DevsecretsError(
                f"{name}: the rotate command {shown!r} printed nothing; nothing was stored",
                "it must print the new value on stdout",
            )
        return Secret(bytearray(memoryview(out)[:end]))
    finally:
        result.wipe()
