"""The steps of `devsecrets demo` (demo.py sets up the sandbox they run in)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devsecrets.demo import Say
from devsecrets.errors import DevsecretsError
from devsecrets.paths import CONFIG_NAME

TOKEN = "sbx_demo_4f1c9a7e2b6d8035"  # noqa: S105 - the demo's made-up sandbox tokens
NEW_TOKEN = "sbx_demo_rotated_91b2c7d4e0a6"  # noqa: S105
LIVE_VALUE = "sk_live_" + "x" * 24
CONFIG = """\
version: 1
project: demo-shop
scope: sandbox
secrets:
  PAYMENTS_TOKEN:
    from: keyring:payments-token
    commands: [sh]             # only `sh` receives it (this tour runs sh -c …)
"""
PROD_LINES = """\
  LIVE_PAYMENTS:
    from: keyring:payments-live
    scope: production
"""
DOTENV = (
    "STRIPE_API_KEY=sk_test_51DemoShop7Kq2vX9mR4tL8wZ\n"
    "DATABASE_URL=postgres://shop:Xu8vR2mQ7sLp@localhost:5432/shop\n"
)


def tour(say: Say, project: Path) -> None:
    _config_and_trust(say, project)
    _store_and_run(say, project)
    _rotation(say, project)
    _production(say, project)
    _audit_and_import(say, project)


def _config_and_trust(say: Say, project: Path) -> None:
    say.title("A project lists the secrets it needs: references, never values")
    (project / CONFIG_NAME).write_text(CONFIG)
    say.file(CONFIG)
    say.title("You read it, then allow it: nothing is served from a config you did not")
    _allow(say, project)
    say.text(
        "devsecrets remembers the file's exact bytes: if anyone changes it, `run` and the "
        "shell hook refuse it until you allow it again, and say what changed."
    )


def _store_and_run(say: Say, project: Path) -> None:
    say.title("The value lives in the OS keyring (here: an in-memory one)")
    say.command(["devsecrets", "set", "PAYMENTS_TOKEN"])
    say.output(lambda: _store(project, "PAYMENTS_TOKEN", TOKEN, via="set"))
    say.text(
        f"A {len(TOKEN)}-character sandbox token, typed at a hidden prompt. The rotation "
        "ledger notes when (never what): after 7 days `run` refuses it until it is rotated."
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


def _rotation(say: Say, project: Path) -> None:
    from devsecrets.ledger import Record, write_record

    say.title("Eight days later: a stale token is refused until it is rotated")
    last_week = datetime.now(UTC) - timedelta(days=8)
    write_record(
        "demo-shop",
        "PAYMENTS_TOKEN",
        Record("keyring:payments-token", last_week, "sandbox", "set"),
    )
    say.text("(the ledger now says the token was stored eight days ago)")
    _run(say, project, ["sh", "-c", 'echo "charging with $PAYMENTS_TOKEN"'])
    say.command(["devsecrets", "rotate", "PAYMENTS_TOKEN"])
    say.output(lambda: _store(project, "PAYMENTS_TOKEN", NEW_TOKEN, via="rotate"))
    _run(say, project, ["sh", "-c", 'echo "the child got ${#PAYMENTS_TOKEN} characters"'])


def _production(say: Say, project: Path) -> None:
    say.title("Production credentials are refused, not just discouraged")
    say.text("Someone adds a production reference to the config:")
    (project / CONFIG_NAME).write_text(CONFIG + PROD_LINES)
    say.file(PROD_LINES)
    _allow(say, project)
    _run(say, project, ["sh", "-c", 'echo "charging with $PAYMENTS_TOKEN"'])
    say.text("And pasting a live Stripe key where a sandbox token belongs:")
    say.command(["devsecrets", "set", "PAYMENTS_TOKEN"])
    say.output(lambda: _store(project, "PAYMENTS_TOKEN", LIVE_VALUE, via="set"))
    import keyring

    stored = keyring.get_password("devsecrets/demo-shop", "payments-token")
    say.text(f"The keyring still holds the sandbox token: {stored == NEW_TOKEN}.")
    (project / CONFIG_NAME).write_text(CONFIG)
    _allow(say, project, show=False)


def _audit_and_import(say: Say, project: Path) -> None:
    from devsecrets.importenv import import_dotenv

    say.title("`audit` finds plaintext secrets: here, a .env file someone left")
    (project / ".env").write_text(DOTENV)
    say.file(".env: " + " ".join(line.split("=")[0] + "=…" for line in DOTENV.splitlines()) + "\n")
    _audit(say, project, details=True)
    say.title("`import` moves it into the keyring, and removes the file")
    say.command(["devsecrets", "import", ".env", "--yes"])
    say.output(lambda: import_dotenv(str(project / ".env"), yes=True))
    _audit(say, project, details=False)
    say.text(
        "Question 1 is back to 0. Question 2 counts the imported secrets: every command "
        "`run` starts would get them — a `commands:` list under each narrows that."
    )


def _audit(say: Say, project: Path, *, details: bool) -> None:
    from devsecrets.audit import run_audit
    from devsecrets.auditview import render_text

    say.command(["devsecrets", "audit"])
    lines = render_text(run_audit(str(project), env={}))
    first = next(i for i, line in enumerate(lines) if line.startswith("1. "))
    second = next(i for i, line in enumerate(lines) if line.startswith("2. "))
    shown = lines[first:second] if details else []
    for line in [*shown, lines[-1]]:
        print(f"   {line}" if line else "", flush=True)


def _allow(say: Say, project: Path, *, show: bool = True) -> None:
    from devsecrets.trust import allow_at

    if show:
        say.command(["devsecrets", "allow"])
        say.output(lambda: print("\n".join(allow_at(str(project)))))
    else:
        allow_at(str(project))


def _store(project: Path, name: str, value: str, *, via: str) -> None:
    from devsecrets.config import load_config
    from devsecrets.policy import policy_for
    from devsecrets.secret import Secret
    from devsecrets.store import store

    config = load_config(project)
    spec = config.secret(name)
    assert spec is not None
    secret = Secret(bytearray(value.encode()))
    try:
        store(config, spec, secret, policy=policy_for(config), via=via, now=datetime.now(UTC))
    finally:
        secret.wipe()


def _run(say: Say, project: Path, argv: list[str]) -> None:
    """`devsecrets run -- ARGV` in the project, as the command does it."""
    from devsecrets.config import load_config
    from devsecrets.resolve import select
    from devsecrets.run import run_command
    from devsecrets.serve import serve
    from devsecrets.trust import require_trusted

    say.command(["devsecrets", "run", "--", *argv])
    try:
        config = load_config(project)
        require_trusted(config)
        secrets = serve(config, select(config, (), argv[0]), command=argv[0])
    except DevsecretsError as exc:
        refusal = exc.render()
        say.output(lambda: print(refusal))
        return
    sys.stdout.write("   ")
    sys.stdout.flush()
    run_command(argv, secrets, mask=True)
