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
    say.command(["devsecrets", "set", "PAYMENTS_TOKEN"])
    _store(project, "PAYMENTS_TOKEN", TOKEN)
    say.text(
        f"Stored under service 'devsecrets/demo-shop', entry 'payments-token': a "
        f"{len(TOKEN)}-character sandbox token, typed at a hidden prompt. The rotation ledger "
        "notes when (never what): after 7 days `run` refuses it until it is rotated."
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
    print(textwrap.indent(PROD_CONFIG, "   | "), end="")
    say.command(["devsecrets", "set", "PAYMENTS_TOKEN"])
    say.text("(pasting a live Stripe key at the prompt)")
    _store(project, "PAYMENTS_TOKEN", "sk_live_" + "x" * 24)
    shown = keyring.get_password("devsecrets/demo-shop", "payments-live")
    say.text(f"Stored in the keyring: {'yes' if shown else 'nothing'}.")


def _store(project: Path, name: str, value: str) -> None:
    from datetime import UTC, datetime

    from devsecrets.config import load_config
    from devsecrets.policy import policy_for
    from devsecrets.secret import Secret
    from devsecrets.store import store

    config = load_config(project)
    spec = config.secret(name)
    assert spec is not None
    secret = Secret(bytearray(value.encode()))
    try:
        store(config, spec, secret, policy=policy_for(config), via="set", now=datetime.now(UTC))
    except DevsecretsError as exc:
        print(textwrap.indent(exc.render(), "   "), flush=True)
    finally:
        secret.wipe()


def _run(say: _Say, project: Path, argv: list[str]) -> None:
    from devsecrets.config import load_config
    from devsecrets.run import run_command
    from devsecrets.serve import serve

    say.command(["devsecrets", "run", "--", *argv])
    try:
        config = load_config(project)
        secrets = serve(config, config.secrets, command=argv[0])
    except DevsecretsError as exc:
        print(textwrap.indent(exc.render(), "   "), flush=True)
        return
    sys.stdout.write("   ")
    sys.stdout.flush()
    run_command(argv, secrets, mask=True)
