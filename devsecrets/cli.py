"""The command line. The only module that imports click; each command parses its options,
calls one core function and returns an exit code."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

import click

from devsecrets import __version__
from devsecrets.errors import EXIT_FAILURE, DevsecretsError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="devsecrets")
def cli() -> None:
    """Secrets for one command, never for your shell.

    A project lists the secrets it needs in .devsecrets.yml (references such as
    op://vault/item/field or keyring:name, never values). `devsecrets run -- CMD` fetches
    them, refuses anything that says production, and gives them to CMD alone.

    Exit codes: the command's own; 125 devsecrets failed (nothing was started); 126 the
    command cannot be executed; 127 not found; 128+N killed by signal N; 2 usage error.
    """


@cli.command(context_settings={"allow_interspersed_args": False})
@click.option(
    "--only", "only", multiple=True, metavar="NAME", help="Inject only this secret (repeatable)."
)
@click.option("--no-mask", is_flag=True, help="Do not mask secret values in the output.")
@click.option("-v", "--verbose", is_flag=True, help="Say on stderr what is injected (names only).")
@click.argument(
    "command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- CMD [ARGS]..."
)
def run(only: tuple[str, ...], no_mask: bool, verbose: bool, command: tuple[str, ...]) -> int:
    """Run CMD with the project's secrets in its environment only.

    The child gets your environment plus the secrets its command may receive (see
    `commands:` in .devsecrets.yml); your shell gets nothing. Every secret value in its
    output is replaced by <concealed by devsecrets>; when stdout is a terminal the command
    runs on a pty, so colours, prompts and REPLs keep working. Ctrl-C, Ctrl-Z and signals
    reach the command as they would without devsecrets.

    \b
    Examples:
      devsecrets run -- make test
      devsecrets run --only STRIPE_API_KEY -- ./scripts/charge.sh
    """
    from devsecrets.run import exit_like, run_in_project

    exit_like(run_in_project(command, only=only, mask=not no_mask, verbose=verbose))
    return 0  # not reached: exit_like leaves the process


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(as_json: bool) -> int:
    """Show the project's secrets: name, source, scope, last update. Never a value."""
    from devsecrets.status import show_status

    return show_status(as_json=as_json)


@cli.command(name="set", context_settings={"allow_extra_args": True})
@click.argument("name")
@click.option("--scope", metavar="SCOPE", help="The credential's scope (default: the config's).")
@click.pass_context
def set_(ctx: click.Context, name: str, scope: str | None) -> int:
    """Store a keyring secret NAME, read from a hidden prompt or from stdin.

    On a terminal the value is asked twice with echo off; piped in, it is read to EOF
    (one trailing newline dropped). Never from the command line: argv is visible to every
    process and lands in shell history. Production scopes and production-looking values
    are refused; the rotation date is recorded, so `run` serves it for max_age.

    \b
    Examples:
      devsecrets set DATABASE_URL
      pass show staging/db | devsecrets set DATABASE_URL
    """
    from devsecrets.store import refuse_argv_value, set_secret

    if ctx.args:
        refuse_argv_value(name)
    return set_secret(name, scope=scope)


@cli.command(context_settings={"allow_extra_args": True})
@click.argument("name", required=False)
@click.option("--due", is_flag=True, help="Rotate every secret that is due, one by one.")
@click.pass_context
def rotate(ctx: click.Context, name: str | None, due: bool) -> int:
    """Replace secret NAME with a new value, and record the rotation.

    A keyring secret with a `rotate:` command gets that command's stdout, without its
    final newline (run in the project root, no stdin, 2-minute timeout; a non-zero exit
    stores nothing). A string is a command line run by `/bin/sh -c`, so pipes and quotes
    work as in a Makefile; a list is run as that argv, without a shell. Other keyring
    secrets are read like `set` reads them. For a 1Password secret devsecrets says which
    vault, item and field to change, then re-reads the item's last update to confirm.

    \b
    Examples (.devsecrets.yml):
      rotate: ./bin/new-token --env staging | tr -d ' '
      rotate: [./bin/new-token, --note, "two words"]
    """
    from devsecrets.errors import UsageError
    from devsecrets.rotate import rotate_due, rotate_secret
    from devsecrets.store import refuse_argv_value

    if ctx.args and name:
        refuse_argv_value(name)
    if due == bool(name):
        raise UsageError("name one secret, or use --due", "devsecrets rotate NAME | --due")
    return rotate_due() if due else rotate_secret(name or "")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def policy(as_json: bool) -> int:
    """Show the effective policy and which file set each value.

    Built-in defaults (max_age 7d, warn_before 2d, scopes dev/test/sandbox/staging, …) are
    tightened by the team policy ($DEVSECRETS_POLICY, or policy.yml in the user config
    directory), then by the project's `policy:` and each secret's own max_age. A layer
    that loosens the one above it is an error naming both files.
    """
    from devsecrets.policyview import show_policy

    return show_policy(as_json=as_json)


@cli.command()
@click.argument("path", required=False, type=click.Path())
def allow(path: str | None) -> int:
    """Trust a project's .devsecrets.yml as it is now. Review it first.

    Records the file's real path and a SHA-256 of its bytes. `run` and the shell hook refuse
    a config that was never allowed, was denied, changed since (this command then lists what
    changed), or was allowed longer ago than the policy's trust_ttl (30 days by default).
    Shows the secrets and references you are trusting.

    PATH: a project directory or its config file; default: the nearest .devsecrets.yml at or
    above the current directory.
    """
    from devsecrets.trust import allow_at

    for line in allow_at(path):
        click.echo(line)
    return 0


@cli.command()
@click.argument("path", required=False, type=click.Path())
def deny(path: str | None) -> int:
    """Refuse a project's .devsecrets.yml until it is allowed again.

    Works on a file that does not parse. PATH: as for `allow`.
    """
    from devsecrets.trust import deny_at

    click.echo(deny_at(path))
    return 0


@cli.command()
@click.argument("shell", required=False, type=click.Choice(["bash", "zsh", "fish"]))
@click.option("--install", is_flag=True, help="Add the line that loads the hook to your rc file.")
@click.option("--uninstall", is_flag=True, help="Remove that line (and nothing else).")
@click.option(
    "--shell",
    "shell_option",
    type=click.Choice(["bash", "zsh", "fish"]),
    help="The shell whose rc file to edit (default: from $SHELL).",
)
@click.option("--dry-run", is_flag=True, help="Say what --install/--uninstall would change.")
@click.option("--quiet", is_flag=True, help="No status lines (or set DEVSECRETS_HOOK_QUIET=1).")
def hook(
    shell: str | None,
    install: bool,
    uninstall: bool,
    shell_option: str | None,
    dry_run: bool,
    quiet: bool,
) -> int:
    """Print the shell hook, or install it in your shell's rc file.

    When you cd into a project, the hook says whether its config is trusted and how many
    secrets it has, in one line; leaving, it says so. It exports nothing: secrets reach only
    `devsecrets run`. With the directory unchanged a prompt costs microseconds; Python runs
    only when the project changes.

    \b
    Load it by hand:
      bash:  eval "$(devsecrets hook bash)"     (in ~/.bashrc)
      zsh:   eval "$(devsecrets hook zsh)"      (in ~/.zshrc)
      fish:  devsecrets hook fish | source      (in ~/.config/fish/config.fish)
    or let devsecrets add that one marked line:  devsecrets hook --install
    """
    from devsecrets.hooks import hook_command

    click.echo(hook_command(shell, install, uninstall, shell_option, dry_run, quiet), nl=False)
    return 0


@cli.command()
@click.option(
    "--team-policy",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="The team's policy file, installed into the user config directory.",
)
@click.option("--yes", is_flag=True, help="Answer yes to every question (for scripts).")
@click.option(
    "--check", "check_only", is_flag=True, help="Change nothing; exit 1 if anything is missing."
)
def onboard(team_policy: str | None, yes: bool, check_only: bool) -> int:
    """Set up this machine for the project here, step by step; safe to run again.

    Checks Python and devsecrets, the 1Password CLI (signed in) and a keyring that can
    store secrets when the project uses them, the shell hook (asks before adding it), the
    team policy (installed from --team-policy), the project config (shows what it asks
    for, then asks to allow it), and asks at a hidden prompt for each keyring secret this
    machine does not have. Ends with the audit's score card.

    --check changes nothing and exits 1 when a step is missing: for CI or a pre-commit
    hook. --yes answers the yes/no questions; secret values are only ever typed.
    """
    from devsecrets.onboard import onboard as run_onboarding

    return run_onboarding(team_policy, yes=yes, check_only=check_only)


@cli.command(name="import")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--to",
    type=click.Choice(["keyring"]),
    default="keyring",
    show_default=True,
    help="Where the values go (devsecrets never writes to 1Password vaults).",
)
@click.option("--yes", is_flag=True, help="Do not ask before changing anything (for scripts).")
def import_(file: str | None, to: str, yes: bool) -> int:
    """Move a plaintext dotenv FILE (default: .env) into the keyring, then delete it.

    Shows what it will do first: each key is stored, already stored, or left alone with
    the reason ($VARIABLES are not guessed at; production-looking values are never
    stored). Then it stores the values, adds `NAME: keyring:name` lines to .devsecrets.yml
    (appended; comments kept), adds FILE to .gitignore, reads every value back, and only
    when all match and nothing was left alone overwrites and removes FILE. A config that
    was trusted is trusted again (the new lines are your own keys); one that was not stays
    untrusted until you review it and run `devsecrets allow`.
    """
    from devsecrets.importenv import import_dotenv

    del to  # the keyring is the one destination; the option says so in --help
    return import_dotenv(file, yes=yes)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option(
    "--path",
    metavar="DIR",
    type=click.Path(exists=True, file_okay=False),
    help="The project to scan (default: the one around the working directory).",
)
def audit(as_json: bool, path: str | None) -> int:
    """The three-question test for this machine and project; exit 1 when anything is found.

    \b
    1. Memory dump: plaintext long-lived secrets in the environment, shell rc files, the
       usual credential files (~/.aws/credentials, ~/.netrc, …) and the project's files.
    2. Arbitrary code for 60 seconds: what it gets beyond the one child `run` starts —
       broker tokens exported in the shell, secrets given to every command.
    3. Humans and production: references and plaintext values that say production.

    Each finding has a location, a kind and a redacted fingerprint — never the value — and
    the fix. Target: 0 / none / none.
    """
    from devsecrets.auditview import audit_command

    return audit_command(path, as_json=as_json)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def doctor(as_json: bool) -> int:
    """Explain why something does not work: versions, paths, providers, hook, agent, trust.

    Runs each provider's own check (is `op` installed and signed in? can the keyring store
    secrets?), looks for the hook's line in your rc files, reads the project's config,
    trust record and team policy. Never reads a value. Exit 1 when a check failed.
    """
    from devsecrets.doctor import doctor_command

    return doctor_command(as_json=as_json)


@cli.command()
@click.option("--foreground", is_flag=True, help="Run in this terminal, logging to stderr.")
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0.1),
    default=600.0,
    show_default=True,
    metavar="SECONDS",
    help="Exit after holding nothing for this long.",
)
@click.option("--ready-fd", type=int, hidden=True)
def agent(foreground: bool, idle_exit: float, ready_fd: int | None) -> int:
    """Start the session agent (one per user), unless one is running.

    The agent holds a project's values in memory while your shell is in it, so that `run`
    need not ask 1Password or the keyring each time. Other users cannot reach it, and
    programs you start cannot ask it for anything without your shell's session. The shell
    hook starts it on demand; it exits by itself when it holds nothing.
    """
    from devsecrets.agent.commands import agent_command

    return agent_command(foreground=foreground, idle_exit=idle_exit, ready_fd=ready_fd)


@cli.command()
def lock() -> int:
    """Wipe every secret the session agent holds, now."""
    from devsecrets.agent.commands import lock_command

    return lock_command()


@cli.command()
def demo() -> int:
    """A guided tour in a throwaway directory; needs neither 1Password nor a keyring."""
    from devsecrets.demo import run_demo

    return run_demo()


class _Terminated(BaseException):
    """SIGTERM or SIGHUP (the terminal closed): unwind like Ctrl-C, so every `finally` runs
    (a terminal's echo restored, values wiped) and every `op` started is killed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated(signum)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: map every named failure to its exit code, no traceback."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:  # kept when ignored (nohup)
            signal.signal(sig, _terminate)
    try:
        code = cli.main(args=argv, prog_name="devsecrets", standalone_mode=False)
    except _Terminated as exc:
        from devsecrets import proc

        proc.stop_all()
        signal.signal(exc.signum, signal.SIG_DFL)  # and leave as killed by it
        os.kill(os.getpid(), exc.signum)
        code = 128 + exc.signum
    except click.exceptions.Abort:
        click.echo("", err=True)
        code = 130
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except DevsecretsError as exc:
        click.echo(exc.render(), err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:
        if os.environ.get("DEVSECRETS_DEBUG"):
            raise
        click.echo(
            f"devsecrets: internal error ({type(exc).__name__}); run again with "
            "DEVSECRETS_DEBUG=1 to see where, and report it",
            err=True,
        )
        code = EXIT_FAILURE
    sys.exit(code if isinstance(code, int) else 0)
