"""The warm `devsecrets run`: values from the session agent, without click, yaml or keyring.

The console script comes here for `run` when it was given a capability (sessioncap.py).
Whatever this path does not handle — an option it does not know, --help, no config, an agent
that is down, expired or refuses — returns to the caller, which runs the ordinary CLI and
fetches from the providers itself. Once values have arrived, this path runs the child exactly
as the ordinary one does (run.start_child), and never returns.
"""

from __future__ import annotations

import os
import sys

from devsecrets.agent import client
from devsecrets.errors import DevsecretsError
from devsecrets.lookup import find_config
from devsecrets.run import exit_like, start_child
from devsecrets.secret import Secret

Parsed = tuple[list[str], bool, bool, list[str]]  # only, mask, verbose, argv
# Why the agent could not serve, said even without --verbose when the fallback works but is
# slower (other refusals are explained by the ordinary CLI, which refuses the same way).
_SAY_WHY = {
    "unknown_session": "this shell's session has ended (it expired, or `devsecrets lock` ran)",
    "not_running": "the session agent is not running",
}
_NEW_SESSION = "leave the project and come back to start a new session"


def parse(args: list[str]) -> Parsed | None:
    """`run`'s options, the usual spellings only; None sends the case to click."""
    only: list[str] = []
    mask, verbose = True, False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if arg == "--no-mask":
            mask = False
        elif arg in ("-v", "--verbose"):
            verbose = True
        elif arg == "--only" and i + 1 < len(args) and not args[i + 1].startswith("-"):
            i += 1
            only.append(args[i])
        elif arg.startswith("--only=") and len(arg) > len("--only="):
            only.append(arg[len("--only=") :])
        elif arg.startswith("-"):
            return None  # --help, an unknown option: click says what it means
        else:
            break
        i += 1
    argv = args[i:]
    return (only, mask, verbose, argv) if argv else None


def try_run(args: list[str], capability: str) -> None:
    """Run the command with the agent's values and exit; return when the agent cannot serve."""
    parsed = parse(args)
    if parsed is None:
        return
    only, mask, verbose, argv = parsed
    try:
        config = find_config()
    except DevsecretsError:  # no working directory: the ordinary CLI says so
        return
    if config is None:
        return
    try:
        reply, values = client.get_values(capability, argv[0], only, config)
    except client.AgentUnavailable as exc:
        if exc.code in _SAY_WHY:  # the run will be slower, and may prompt: say why
            _warn(f"{_SAY_WHY[exc.code]}; asking the providers — {_NEW_SESSION}")
        elif verbose:
            _warn(f"the session agent cannot serve this run ({exc.message}); asking the providers")
        return
    secrets = {
        name: Secret(value, name) for name, value in zip(reply["names"], values, strict=True)
    }
    for warning in reply.get("warnings") or []:
        _warn(str(warning))
    try:
        outcome = start_child(
            argv,
            secrets,
            project=str(reply.get("project")),
            sources=["the session agent"],
            mask=mask,
            verbose=verbose,
        )
    except DevsecretsError as exc:
        print(exc.render(), file=sys.stderr, flush=True)
        os._exit(exc.exit_code)
    exit_like(outcome)


def _warn(text: str) -> None:
    print(f"devsecrets: {text}", file=sys.stderr, flush=True)
