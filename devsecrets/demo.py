"""`devsecrets demo`: a guided tour in a throwaway directory.

It needs neither 1Password nor a keyring daemon and touches nothing outside its temporary
directory: state goes to a DEVSECRETS_HOME inside it, and the keyring is an in-memory one
that lives as long as the tour. Every step runs the real code paths (config parsing, policy,
the masking relay, the child's environment).
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devsecrets.errors import DevsecretsError

TOKEN = "sbx_demo_4f1c9a7e2b6d8035"  # noqa: S105 - the demo's made-up sandbox token
CONFIG = """\
version: 1
project: demo-shop
scope: sandbox
secrets:
  PAYMENTS_TOKEN: keyring:payments-token
"""
PROD_CONFIG = """\
version: 1
project: demo-shop
secrets:
  PAYMENTS_TOKEN: keyring:payments-live
"""


class _Say:
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


def _memory_keyring() -> Any:
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


def run_demo() -> int:
    import keyring

    say = _Say()
    keyring.set_keyring(_memory_keyring())
    with tempfile.TemporaryDirectory(prefix="devsecrets-demo-") as tmp:
        os.environ["DEVSECRETS_HOME"] = str(Path(tmp) / "home")
        project = Path(tmp) / "demo-shop"
        project.mkdir()
        _tour(say, project, keyring)
    print("\nThe demo's directory and its in-memory keyring are gone. Next: README.md.")
    return 0


def _tour(say: _Say, project: Path, keyring: Any) -> None:
    from devsecrets.paths import CONFIG_NAME

    say.title("A project lists the secrets it needs: references, never values")
    (project / CONFIG_NAME).write_text(CONFIG)
    print(textwrap.indent(CONFIG, "   | "), end="")

    say.title("The value lives in the OS keyring (here: an in-memory one)")
    keyring.set_password("devsecrets/demo-shop", "payments-token", TOKEN)
    say.text(
        f"Stored under service 'devsecrets/demo-shop', entry 'payments-token': a "
        f"{len(TOKEN)}-character sandbox token."
    )

    say.title("`run` gives it to one command, and masks it in that command's output")
    _run(say, project, ["sh", "-c", 'echo "charging with $PAYMENTS_TOKEN"'])
    _run(say, project, ["sh", "-c", 'echo "the child got ${#PAYMENTS_TOKEN} characters"'])

    say.title("Your shell never has it")
    shown = os.environ.get("PAYMENTS_TOKEN")
    say.text(
        f"In this process after the run: PAYMENTS_TOKEN is {'set' if shown else 'not set'}."
        " Programs you start yourself (an AI agent, a postinstall script) find nothing."
    )

    say.title("Production credentials are refused, not just discouraged")
    (project / CONFIG_NAME).write_text(PROD_CONFIG)
    keyring.set_password("devsecrets/demo-shop", "payments-live", "sk_live_" + "x" * 24)
    print(textwrap.indent(PROD_CONFIG, "   | "), end="")
    _run(say, project, ["sh", "-c", "echo this never runs"])


def _run(say: _Say, project: Path, argv: list[str]) -> None:
    from devsecrets.config import load_config
    from devsecrets.policy import policy_for
    from devsecrets.resolve import resolve
    from devsecrets.run import run_command

    say.command(["devsecrets", "run", "--", *argv])
    try:
        config = load_config(project)
        resolved = resolve(config, config.secrets, policy_for(config))
    except DevsecretsError as exc:
        print(textwrap.indent(exc.render(), "   "), flush=True)
        return
    sys.stdout.write("   ")
    sys.stdout.flush()
    run_command(argv, resolved.secrets, mask=True)
