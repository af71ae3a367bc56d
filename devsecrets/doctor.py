"""`devsecrets doctor`: everything that can explain "it doesn't work", one line each.

Versions and platform; the paths in use; each provider's own `check()` (the 1Password CLI
present and signed in, a keyring backend that loads, can store secrets and answers — a
locked one does not); the shell hook; the session agent; the project's config, trust and
team policy. Nothing here reads a value (the keyring's probe reads an entry never written)
or writes anything.

What a child process cannot see is said, not guessed: the hook keeps its state in
unexported shell variables, invisible to any program the shell starts — `doctor` included.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devsecrets import __version__, paths
from devsecrets.agentstate import session_agent_state
from devsecrets.errors import EXIT_FINDINGS, DevsecretsError

OK, FAIL, INFO = "ok", "fail", "info"
MARK = {OK: "✓", FAIL: "✗", INFO: "·"}
HOOK_PROBE = {
    "bash": "declare -F __devsecrets_hook",
    "zsh": "whence -w __devsecrets_hook",
    "fish": "functions -q __devsecrets_hook; and echo loaded",
}


@dataclass(frozen=True)
class Line:
    status: str
    topic: str
    detail: str
    fix: str = ""

    def render(self) -> str:
        text = f"{MARK[self.status]} {self.topic}: {self.detail}"
        return text + (f"\n    fix: {self.fix}" if self.fix else "")

    def as_json(self) -> dict[str, str]:
        return {"status": self.status, "topic": self.topic, "detail": self.detail, "fix": self.fix}


def doctor_command(*, as_json: bool) -> int:
    """Print each line as it is known (a provider check can wait on 1Password's prompt)."""
    lines = []
    for line in diagnose():
        lines.append(line)
        if not as_json:
            print(line.render(), flush=True)
    if as_json:
        print(json.dumps([line.as_json() for line in lines], indent=2))
    return EXIT_FINDINGS if any(line.status == FAIL for line in lines) else 0


def diagnose() -> Iterator[Line]:
    yield from _versions()
    yield from _paths()
    yield from _providers(_needed_providers())
    yield from _hook()
    agent = session_agent_state()
    yield Line(OK if agent.running and agent.hardened else INFO, "session agent", agent.detail)
    yield from _project()


def _versions() -> Iterator[Line]:
    python = platform.python_version()
    yield Line(OK, "devsecrets", f"{__version__} (Python {python}, {sys.executable})")
    system = platform.system()
    if system not in ("Linux", "Darwin"):
        yield Line(FAIL, "platform", f"{system} is not supported", "use Linux or macOS (or WSL)")


def _paths() -> Iterator[Line]:
    home = os.environ.get("DEVSECRETS_HOME")
    if home:
        yield Line(INFO, "DEVSECRETS_HOME", f"{home}: every state file is under it")
    yield Line(INFO, "config dir", f"{paths.config_dir()} (team policy)")
    yield Line(INFO, "data dir", f"{paths.data_dir()} (trust records)")
    yield Line(INFO, "state dir", f"{paths.state_dir()} (rotation ledger, audit.log)")
    yield Line(INFO, "runtime dir", f"{paths.runtime_dir()} (the session agent's socket)")


def _needed_providers() -> set[str] | None:
    """The providers the project here uses; None outside a (readable) project."""
    from devsecrets.config import load_config

    try:
        return {spec.ref.provider for spec in load_config().secrets}
    except DevsecretsError:
        return None


def _providers(needed: set[str] | None) -> Iterator[Line]:
    """A provider that cannot run fails only when the project here needs it."""
    from devsecrets.providers import all_provider_names, get_provider
    from devsecrets.providers.base import Check, Context

    for name in all_provider_names():
        try:
            check = get_provider(name, Context(project="doctor")).check()
        except DevsecretsError as exc:
            check = Check(False, exc.message, exc.fix or "")
        detail = check.detail
        if name == "onepassword" and check.ok:
            from devsecrets.providers.onepassword import op_path

            detail += f" ({op_path()})"
        if check.ok:
            status = OK
        elif (needed is not None and name in needed) or check.kind == "bad_backend":
            status = FAIL  # bad_backend: a keyring the user named does not load; fix it anywhere
        elif needed is not None:  # a provider this project does not use: its first line
            status, detail = INFO, detail.splitlines()[0] + " — not needed by this project"
        else:
            status = INFO
        yield Line(status, f"provider {name}", detail, check.fix)
    for variable in ("OP_SERVICE_ACCOUNT_TOKEN", "OP_CONNECT_TOKEN"):
        if os.environ.get(variable):
            yield Line(
                INFO,
                variable,
                "set: op acts as that account, and every program you start can too",
                "prefer the 1Password app's CLI integration (each use is approved)",
            )
    backend = os.environ.get("PYTHON_KEYRING_BACKEND")
    if backend:
        yield Line(INFO, "PYTHON_KEYRING_BACKEND", f"{backend} (chosen by this variable)")


def _hook() -> Iterator[Line]:
    from devsecrets.hooks import MARKER, SHELLS, rc_file, rc_line

    found = False
    for shell in SHELLS:
        path = rc_file(shell)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        ours = [line for line in lines if line.endswith(MARKER)]
        if not ours:
            continue
        found = True
        try:
            current = rc_line(shell, quiet="--quiet" in ours[0])
        except DevsecretsError:
            current = ""
        if ours[0] == current:
            yield Line(OK, f"{shell} hook", f"installed in {path}")
        else:
            yield Line(
                FAIL,
                f"{shell} hook",
                f"the line in {path} loads another devsecrets installation",
                f"devsecrets hook --install --shell {shell}",
            )
    if not found:
        yield Line(INFO, "shell hook", "not installed in any rc file", "devsecrets hook --install")
    parent = _parent_shell()
    probe = HOOK_PROBE.get(parent or "", "declare -F __devsecrets_hook")
    yield Line(
        INFO,
        "hook in this shell",
        "cannot be seen from here: the hook's state is unexported by design, so no program "
        f"started from the shell ({parent or 'it'}) sees it; type `{probe}` to check",
    )


def _parent_shell() -> str | None:
    """The name of the process that started devsecrets (Linux: /proc), if it is a shell."""
    try:
        name = Path(f"/proc/{os.getppid()}/comm").read_text().strip().lstrip("-")
    except OSError:
        return None
    return name if name in HOOK_PROBE else None


def _project() -> Iterator[Line]:
    from devsecrets.config import find_config, load_config
    from devsecrets.layering import effective_policy
    from devsecrets.teampolicy import load_team_policy

    team_file, explicit = paths.team_policy_file()
    try:
        team = load_team_policy()
        effective_policy(None, team)  # a team policy that loosens the defaults fails here
    except DevsecretsError as exc:
        yield Line(FAIL, "team policy", exc.message, exc.fix or "")
    else:
        named = " (named by DEVSECRETS_POLICY)" if explicit else ""
        yield (
            Line(OK, "team policy", f"{team_file}{named}")
            if team
            else Line(INFO, "team policy", f"none at {team_file}: built-in defaults apply")
        )
    try:
        found = find_config()
    except DevsecretsError as exc:  # the working directory was deleted
        yield Line(FAIL, "project", exc.message, exc.fix or "")
        return
    if found is None:
        yield Line(INFO, "project", "no .devsecrets.yml in this directory or above")
        return
    try:
        config = load_config()
        from devsecrets.policy import policy_for

        policy_for(config)
    except DevsecretsError as exc:
        yield Line(FAIL, "project config", exc.message, exc.fix or "")
        return
    from devsecrets.trust import ALLOWED, check

    counts: dict[str, int] = {}
    for spec in config.secrets:
        counts[spec.ref.provider] = counts.get(spec.ref.provider, 0) + 1
    sources = ", ".join(f"{n} from {p}" for p, n in sorted(counts.items())) or "no secrets"
    yield Line(OK, "project", f"{config.project} ({config.path}): {sources}")
    verdict = check(config)
    yield Line(OK if verdict.state == ALLOWED else FAIL, "trust", verdict.describe())
