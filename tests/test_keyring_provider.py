"""The keyring provider against the file backend, and the backends it must refuse."""

from __future__ import annotations

import keyring
import keyring.core
import pytest
from conftest import Sandbox
from keyring.backends import fail

from devsecrets.errors import ProviderError
from devsecrets.providers.base import Context
from devsecrets.providers.keyring import KeyringProvider
from devsecrets.refs import KeyringRef, parse_ref
from devsecrets.secret import Secret


def provider() -> KeyringProvider:
    return KeyringProvider(Context(project="payments-api"))


def test_round_trip_under_the_project_service() -> None:
    ref = parse_ref("keyring:database-url", "DATABASE_URL")
    provider().store(ref, Secret(bytearray("pg://ü:x@localhost/db".encode())))
    assert (
        keyring.get_password("devsecrets/payments-api", "database-url") == "pg://ü:x@localhost/db"
    )
    got = provider().fetch([ref])[ref]
    assert bytes(got.buffer) == "pg://ü:x@localhost/db".encode()


def test_bare_keyring_uses_the_secret_name() -> None:
    keyring.set_password("devsecrets/payments-api", "API_TOKEN", "t0ken")
    ref = parse_ref("keyring", "API_TOKEN")
    assert bytes(provider().fetch([ref])[ref].buffer) == b"t0ken"


def test_missing_entry_says_how_to_store_it() -> None:
    ref = parse_ref("keyring:nope", "NOPE")
    with pytest.raises(ProviderError) as info:
        provider().fetch([ref])
    assert info.value.kind == "not_found"
    assert "devsecrets/payments-api" in info.value.message
    assert "devsecrets set NAME" in (info.value.fix or "")
    assert info.value.named_fix == (
        "store it: `devsecrets set {name}` (reads the value from a hidden prompt or a pipe)"
    )


def test_fail_backend_says_what_to_install() -> None:
    keyring.set_keyring(fail.Keyring())
    with pytest.raises(ProviderError) as info:
        provider().fetch([KeyringRef(text="keyring", username="A")])
    assert info.value.kind == "no_backend"
    assert "gnome-keyring" in (info.value.fix or "")
    check = provider().check()
    assert not check.ok and "gnome-keyring" in check.fix


def test_low_priority_plaintext_backends_are_refused() -> None:
    from keyring.backend import KeyringBackend

    class Plaintext(KeyringBackend):
        priority = 0.5  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> str | None:
            return "from-a-plain-file"

        def set_password(self, service: str, username: str, password: str) -> None:
            raise AssertionError

        def delete_password(self, service: str, username: str) -> None:
            raise AssertionError

    keyring.set_keyring(Plaintext())
    with pytest.raises(ProviderError, match="no keyring that can store secrets safely"):
        provider().fetch([KeyringRef(text="keyring", username="A")])


def test_locked_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEYRING_LOCKED", "1")
    with pytest.raises(ProviderError) as info:
        provider().fetch([KeyringRef(text="keyring", username="A")])
    assert info.value.kind == "locked"


@pytest.mark.parametrize("named", ["nonexistent.Backend", "keyring.backends.fail.Nope", ""])
def test_a_backend_that_does_not_load_names_the_variable(
    named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)  # loaded afresh, as in a CLI
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", named)
    with pytest.raises(ProviderError) as info:
        provider().fetch([KeyringRef(text="keyring", username="A")])
    assert info.value.kind == "bad_backend"
    assert f"PYTHON_KEYRING_BACKEND{'=' + named if named else ' (empty)'} names a" in (
        info.value.message
    )
    assert "unset PYTHON_KEYRING_BACKEND" in (info.value.fix or "")
    check = provider().check()
    assert not check.ok and check.kind == "bad_backend" and "PYTHON_KEYRING_BACKEND" in check.fix


def test_check_reads_so_a_locked_keyring_fails_it(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    assert provider().check().ok
    monkeypatch.setenv("FAKE_KEYRING_LOCKED", "1")
    check = provider().check()
    assert not check.ok and check.detail == "the keyring is locked" and "unlock it" in check.fix
    monkeypatch.delenv("FAKE_KEYRING_LOCKED")
    assert not sandbox.keyring_file.exists()  # the probe writes nothing
