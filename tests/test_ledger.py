"""The rotation ledger, the audit log and the fingerprint key: private files, atomic and
concurrent writes, crashes, corruption, and no value anywhere."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from devsecrets import auditlog
from devsecrets.auditlog import Event
from devsecrets.fingerprint import KEY_ENTRY, KEY_SERVICE, FingerprintKey, NoKey, load_key
from devsecrets.ledger import LedgerError, Record, ledger_path, read_records, write_record
from devsecrets.secret import Secret

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
_FORK = multiprocessing.get_context("fork")


def record(ref: str = "keyring", when: datetime = NOW) -> Record:
    return Record(ref, when, "staging", "set", "k:abc")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_round_trip_and_permissions() -> None:
    write_record("shop", "DB", record("keyring:db"))
    write_record("shop", "API", Record("keyring", NOW, "sandbox", "rotate-command"))
    write_record("other", "DB", record())
    assert read_records("shop") == {
        "DB": record("keyring:db"),
        "API": Record("keyring", NOW, "sandbox", "rotate-command"),
    }
    assert read_records("nobody") == {}
    assert mode(ledger_path()) == 0o600
    assert mode(ledger_path().parent) == 0o700
    assert json.loads(ledger_path().read_text())["projects"]["shop"]["DB"]["rotated_at"] == (
        "2026-12-04T12:00:00Z"
    )


def test_a_loose_state_directory_is_tightened() -> None:
    ledger_path().parent.mkdir(parents=True, mode=0o755)
    ledger_path().parent.chmod(0o755)
    write_record("shop", "DB", record())
    assert mode(ledger_path().parent) == 0o700


def _writer(barrier: object, index: int) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    write_record("shop", f"SECRET_{index}", record(when=NOW + timedelta(seconds=index)))


def test_twenty_concurrent_writers_lose_no_record() -> None:
    write_record("shop", "EXISTING", record())
    barrier = _FORK.Barrier(20)
    workers = [_FORK.Process(target=_writer, args=(barrier, i)) for i in range(20)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    records = read_records("shop")
    assert sorted(records) == sorted(["EXISTING", *(f"SECRET_{i}" for i in range(20))])
    assert records["SECRET_7"].rotated_at == NOW + timedelta(seconds=7)
    leftovers = [p.name for p in ledger_path().parent.iterdir() if ".tmp." in p.name]
    assert leftovers == []


def _crash_before_rename() -> None:
    # The writer dies the hard way between writing its temp file and renaming it.
    os.replace = lambda *_: os.kill(os.getpid(), signal.SIGKILL)
    write_record("shop", "NEW", record())


def test_a_crash_between_write_and_rename_keeps_the_previous_ledger() -> None:
    write_record("shop", "DB", record())
    before = ledger_path().read_bytes()
    child = _FORK.Process(target=_crash_before_rename)
    child.start()
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    assert ledger_path().read_bytes() == before
    (temp,) = [p for p in ledger_path().parent.iterdir() if ".tmp." in p.name]
    assert b'"NEW"' in temp.read_bytes()  # it did get as far as writing
    assert read_records("shop") == {"DB": record()}
    write_record("shop", "LATER", record())  # the next writer cleans up the leftover
    assert not temp.exists()
    assert sorted(read_records("shop")) == ["DB", "LATER"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"version": 1, "projects": {', "is not valid JSON (line 1)"),
        (b"\xff\xfe", "is not valid JSON"),
        (b"[]", "does not have the ledger's shape"),
        (b'{"version": 9, "projects": {}}', "has version 9"),
        (b'{"version": 1, "projects": {"p": {"A": {"ref": "keyring"}}}}', "malformed record p/A"),
        (
            b'{"version": 1, "projects": {"p": {"A": {"ref": "k", "rotated_at": "yesterday", '
            b'"scope": "dev", "via": "set"}}}}',
            "malformed record p/A",
        ),
    ],
)
def test_a_corrupt_ledger_is_an_error_and_is_not_reset(content: bytes, problem: str) -> None:
    ledger_path().parent.mkdir(parents=True, mode=0o700)
    ledger_path().write_bytes(content)
    for action in (lambda: read_records("p"), lambda: write_record("p", "B", record())):
        with pytest.raises(LedgerError) as info:
            action()
        assert problem in info.value.message and str(ledger_path()) in info.value.message
        assert "does not reset it" in (info.value.fix or "")
        assert f"mv {ledger_path()} {ledger_path()}.broken" in (info.value.fix or "")
    assert ledger_path().read_bytes() == content


def test_audit_log_lines() -> None:
    events = [Event("DB", "served", "fresh"), Event("API", "refused", "stale")]
    auditlog.append(
        events,
        action="run",
        project="shop",
        config="/p/.devsecrets.yml",
        now=NOW,
        command="/usr/bin/make",
    )
    auditlog.append([], action="run", project="shop", config="/p", now=NOW)
    lines = [json.loads(line) for line in auditlog.audit_path().read_text().splitlines()]
    assert lines == [
        {"time": "2026-12-04T12:00:00Z", "action": "run", "project": "shop",
         "config": "/p/.devsecrets.yml", "command": "make", "secret": "DB",
         "decision": "served", "reason": "fresh"},
        {"time": "2026-12-04T12:00:00Z", "action": "run", "project": "shop",
         "config": "/p/.devsecrets.yml", "command": "make", "secret": "API",
         "decision": "refused", "reason": "stale"},
    ]  # fmt: skip
    assert mode(auditlog.audit_path()) == 0o600


def test_fingerprint_key_is_created_once_in_the_keyring() -> None:
    assert isinstance(load_key(create=False), NoKey)
    key = load_key(create=True)
    assert isinstance(key, FingerprintKey)
    assert load_key(create=False) == key
    assert keyring.get_password(KEY_SERVICE, KEY_ENTRY) is not None
    value = Secret(bytearray(b"tok-123"))
    fingerprint = key.fingerprint(value)
    assert fingerprint.startswith(key.id + ":") and b"tok-123" not in fingerprint.encode()
    assert key.compare(value, fingerprint) == "same"
    assert key.compare(Secret(bytearray(b"tok-124")), fingerprint) == "changed"
    assert key.compare(value, "otherkey:" + fingerprint.split(":")[1]) == "other-key"


def test_fingerprints_differ_between_installs() -> None:
    value = Secret(bytearray(b"tok-123"))
    first = FingerprintKey(b"k" * 32, "a").fingerprint(value)
    second = FingerprintKey(b"j" * 32, "a").fingerprint(value)
    assert first != second


def test_without_a_safe_keyring_there_is_no_key_and_no_file() -> None:
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    missing = load_key(create=True)
    assert isinstance(missing, NoKey)
    assert "no keyring that can store secrets safely" in missing.reason
    assert not ledger_path().parent.exists() or not any(ledger_path().parent.iterdir())


def test_a_key_that_is_not_ours_is_reported() -> None:
    keyring.set_password(KEY_SERVICE, KEY_ENTRY, "not base64!")
    key = load_key(create=True)
    assert isinstance(key, NoKey) and "not a devsecrets key" in key.reason
