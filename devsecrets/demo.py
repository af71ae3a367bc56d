"""`devsecrets demo`: a guided tour in a throwaway directory.

It needs neither 1Password nor a keyring daemon and touches nothing outside its temporary
directory: state goes to a DEVSECRETS_HOME inside it, HOME points inside it too (the audit
reads no real rc file), and the keyring is an in-memory one that lives as long as the tour.
Every step runs the real code paths (config parsing, trust, policy, the ledger, the masking
relay, the child's environment, audit, import); the steps themselves are in demotour.py.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from devsecrets.errors import DevsecretsError


class Say:
    """The tour's voice: numbered steps, wrapped text, commands as a user would type them."""

    def __init__(self) -> None:
        self.step = 0
        bold = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        self.on, self.off = ("\033[1m", "\033[0m") if bold else ("", "")

    def title(self, text: str) -> None:
        self.step += 1
        print(f"\n{self.on}{self.step}. {text}{self.off}", flush=True)

    def text(self, text: str) -> None:
        print(textwrap.indent(textwrap.fill(text, 88), "   "), flush=True)

    def command(self, argv: Sequence[str]) -> None:
        print(f"   $ {shlex.join(argv)}", flush=True)

    def file(self, text: str) -> None:
        print(textwrap.indent(text, "   | "), end="", flush=True)

    def output(self, action: Callable[[], object]) -> None:
        """Run `action` as a command would, its stdout and stderr shown indented; a named
        failure is shown as the user would see it."""
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            try:
                action()
            except DevsecretsError as exc:
                print(exc.render())
        print(textwrap.indent(captured.getvalue(), "   "), end="", flush=True)


def memory_keyring() -> Any:
    from keyring.backend import KeyringBackend

    entries: dict[tuple[str, str], str] = {}

    class DemoKeyring(KeyringBackend):
        """Holds the demo's entries in this process only."""

        priority = 1

        def get_password(self, service: str, username: str) -> str | None:
            return entries.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            entries[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            entries.pop((service, username), None)

    return DemoKeyring()  # type: ignore[no-untyped-call]  # keyring's __init__ is untyped


@contextlib.contextmanager
def sandbox() -> Iterator[Path]:
    """A temporary directory holding the demo's HOME, DEVSECRETS_HOME and project."""
    import keyring

    saved = {name: os.environ.get(name) for name in ("HOME", "DEVSECRETS_HOME")}
    keyring.set_keyring(memory_keyring())
    with tempfile.TemporaryDirectory(prefix="devsecrets-demo-") as tmp:
        root = Path(tmp)
        (root / "home").mkdir()
        os.environ["HOME"] = str(root / "home")
        os.environ["DEVSECRETS_HOME"] = str(root / "state")
        try:
            yield root
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def run_demo() -> int:
    from devsecrets.demotour import tour

    with sandbox() as root:
        project = root / "demo-shop"
        project.mkdir()
        tour(Say(), project)
    print("\nThe demo's directory and its in-memory keyring are gone. Next: README.md.")
    return 0
