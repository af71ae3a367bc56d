"""The OS keyring provider (macOS Keychain, Secret Service on Linux) through `keyring`.

Entries live under service `devsecrets/<project>` with the secret's keyring name as the
username. Backends that cannot store secrets safely are refused: keyring's fail backend (a
headless Linux without a Secret Service) and anything below priority 1, which includes
keyrings.alt's plaintext file; a backend named by PYTHON_KEYRING_BACKEND (or keyring's
config file) that does not load is a `bad_backend` error naming that setting. `keyring`
hands values over as `str`, which CPython cannot wipe: the value is moved into a bytearray
at once and the `str` dropped (best effort).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from devsecrets.errors import ProviderError
from devsecrets.providers.base import Check, Provider
from devsecrets.refs import KeyringRef, Ref
from devsecrets.secret import Secret

NO_BACKEND_FIX = (
    "on Linux install a Secret Service and log in to a desktop session (Debian/Ubuntu: "
    "`sudo apt install gnome-keyring`; KeePassXC works too); on a headless machine start one "
    "with `dbus-run-session` (see README, 'Headless Linux'); or use op:// references"
)


PROBE_ENTRY = "(devsecrets check: never stored)"  # read by check(), never written


def service_name(project: str) -> str:
    return f"devsecrets/{project}"


class KeyringProvider(Provider):
    name = "keyring"

    @property
    def service(self) -> str:
        return service_name(self.context.project)

    def check(self) -> Check:
        """A backend that loads, is safe, and answers a read (a locked keyring does not).
        The probe reads an entry nobody writes, and never writes one."""
        try:
            backend = _backend()
            _call(lambda: backend.get_password(self.service, PROBE_ENTRY))
        except ProviderError as exc:
            return Check(False, exc.message, exc.fix or "", exc.kind)
        return Check(True, f"keyring backend {_describe(backend)}")

    def fetch(self, refs: Sequence[Ref]) -> dict[Ref, Secret]:
        wanted = [ref for ref in refs if isinstance(ref, KeyringRef)]
        if not wanted:
            return {}
        backend = _backend()
        found: dict[Ref, Secret] = {}
        try:
            for ref in wanted:
                found[ref] = self._get(backend, ref)
        except BaseException:
            for secret in found.values():
                secret.wipe()
            raise
        return found

    def _get(self, backend: Any, ref: KeyringRef) -> Secret:
        value = _call(lambda: backend.get_password(self.service, ref.username))
        if value is None:
            error = ProviderError(
                f"the keyring has no entry {ref.username!r} in service {self.service!r}",
                "store it with `devsecrets set NAME` (NAME as in .devsecrets.yml; it reads "
                "the value from a hidden prompt or a pipe)",
                kind="not_found",
            )
            error.ref = ref
            error.named_fix = (
                "store it: `devsecrets set {name}` (reads the value from a hidden prompt or a pipe)"
            )
            raise error
        return Secret(bytearray(value, "utf-8"))

    def store(self, ref: Ref, secret: Secret) -> None:
        if not isinstance(ref, KeyringRef):
            raise ProviderError(f"{ref.text} is not a keyring reference", "use keyring:name")
        backend = _backend()
        # keyring's API takes str: this decode is the one copy we cannot wipe.
        _call(
            lambda: backend.set_password(
                self.service, ref.username, secret.view().tobytes().decode()
            )
        )

    def delete(self, ref: KeyringRef) -> None:
        backend = _backend()
        _call(lambda: backend.delete_password(self.service, ref.username))


def read_entry(service: str, username: str) -> str | None:
    """One entry of a safe keyring backend (for devsecrets' own entries, not secrets)."""
    backend = _backend()
    value: str | None = _call(lambda: backend.get_password(service, username))
    return value


def write_entry(service: str, username: str, text: str) -> None:
    backend = _backend()
    _call(lambda: backend.set_password(service, username, text))


def _backend() -> Any:
    import keyring
    from keyring.backends import fail

    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # the named backend's import, class or priority failed
        raise _unloadable(exc) from None
    if isinstance(backend, fail.Keyring) or _priority(backend) < 1:
        raise ProviderError(
            "no keyring that can store secrets safely is available "
            f"(backend: {_describe(backend)})",
            NO_BACKEND_FIX,
            kind="no_backend",
        )
    return backend


def _unloadable(exc: Exception) -> ProviderError:
    """keyring could not load the backend named by PYTHON_KEYRING_BACKEND or its config."""
    why = f"{type(exc).__name__}: {exc}"
    named = os.environ.get("PYTHON_KEYRING_BACKEND")
    if named is not None:
        variable = f"PYTHON_KEYRING_BACKEND={named}" if named else "PYTHON_KEYRING_BACKEND (empty)"
        return ProviderError(
            f"{variable} names a keyring backend that cannot be loaded ({why})",
            "unset PYTHON_KEYRING_BACKEND to use the system keyring, or set it to an installed "
            "backend's module.Class (e.g. keyring.backends.SecretService.Keyring on Linux, "
            "keyring.backends.macOS.Keyring on macOS)",
            kind="bad_backend",
        )
    from keyring.util.platform_ import config_root

    config = config_root() / "keyringrc.cfg"
    return ProviderError(
        f"the keyring backend named in {config} cannot be loaded ({why})",
        f"correct or remove `default-keyring` in {config}",
        kind="bad_backend",
    )


def _priority(backend: Any) -> float:
    try:
        return float(backend.priority)
    except Exception:  # a backend whose priority check itself fails is not viable
        return 0.0


def _describe(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _call(action: Any) -> Any:
    from keyring import errors

    try:
        return action()
    except errors.KeyringLocked:
        raise ProviderError(
            "the keyring is locked",
            "unlock it (log in to the desktop session) and retry",
            kind="locked",
        ) from None
    except errors.InitError as exc:
        raise ProviderError(
            f"the keyring could not start: {exc}", NO_BACKEND_FIX, kind="no_backend"
        ) from None
    except errors.PasswordDeleteError:
        raise ProviderError(
            "the keyring has no such entry", "nothing to delete", kind="not_found"
        ) from None
    except errors.KeyringError as exc:
        raise ProviderError(
            f"the keyring failed: {type(exc).__name__}: {exc}",
            "run `devsecrets doctor` to see the keyring backend in use",
        ) from None
