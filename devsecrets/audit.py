"""`devsecrets audit`: the three questions of the design, answered for this machine and
project, from files, the environment and metadata — never from a value fetched for it.

1. A memory dump or a look at the disk: which plaintext long-lived secrets are there? The
   current environment, shell rc files, the usual credential files, and every text file of
   the project (`.env*` files get the generic "high-entropy assignment" detector too).
2. Arbitrary code for 60 seconds: what can it get beyond the one child it runs in? Broker
   credentials exported in the shell (they open whole vaults), and secrets that `run` gives
   to every command because they have no `commands:` list. Listed for context, not counted:
   what a child of `run` receives by default (names, scopes, ages), the shell hook, the
   session agent.
3. Humans and production: references whose scope, vault or item tags say production, and
   plaintext values shaped like production credentials (the policy's value detectors).

Rendering lives in auditview.py.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from devsecrets.agentstate import AgentState, session_agent_state
from devsecrets.config import Config, find_config, load_config, start_dir
from devsecrets.errors import DevsecretsError
from devsecrets.lookup import absolute
from devsecrets.policy import BUILTIN_DETECTORS, ValueDetector, says_production
from devsecrets.scan import Classify, Finding, fingerprint, scan_environment
from devsecrets.scanfiles import (
    ALLOW_MARKER,
    CREDENTIAL_FILES,
    RC_FILES,
    is_dotenv,
    scan_home,
    scan_tree,
)

# Without a project (and without --path) the working directory is scanned, but not without
# end: started in a home directory it would read every file the user has.
UNBOUNDED_SCAN_LIMIT = 20_000
BROKER_NAMES = ("OP_SERVICE_ACCOUNT_TOKEN", "OP_CONNECT_TOKEN")
BROKER_PREFIXES = ("OP_SESSION_",)
ROTATE = "; it has been in plaintext: rotate it"
CREDENTIAL_FIXES = {
    ".aws/credentials": "use short-lived credentials (`aws configure sso`), or aws-vault, "
    "which keeps keys in the keyring",
    ".netrc": "use a credential helper that keeps passwords in the keyring",
    ".git-credentials": "use a keyring credential helper "
    "(`git config --global credential.helper libsecret`; macOS: osxkeychain)",
    ".npmrc": "remove the token line; pass the token to npm with `devsecrets run`",
    ".pypirc": "remove the password line; twine reads tokens from the keyring (`keyring set "
    "https://upload.pypi.org/legacy/ __token__`)",
    ".docker/config.json": "set a credsStore (docker-credential-secretservice or osxkeychain) "
    "and log in again",
    ".config/gh/hosts.yml": "run `gh auth login` again: gh keeps the token in the keyring",
}


@dataclass(frozen=True)
class Item:
    """One counted answer to question 2 or 3: what is wrong, where, and what fixes it."""

    name: str
    what: str
    fix: str
    finding: Finding | None = None  # the plaintext copy this is about, if any

    def as_json(self) -> dict[str, object]:
        where = self.finding.where() if self.finding else None
        return {"name": self.name, "what": self.what, "fix": self.fix, "where": where}


@dataclass(frozen=True)
class Given:
    """A secret a child of `run` receives by default (question 2's context)."""

    name: str
    scope: str
    age: str
    commands: tuple[str, ...] | None

    def as_json(self) -> dict[str, object]:
        commands = list(self.commands) if self.commands is not None else None
        return {"name": self.name, "scope": self.scope, "age": self.age, "commands": commands}


@dataclass
class Report:
    tree: Path
    home: Path
    config: Config | None = None
    plaintext: list[Finding] = field(default_factory=list)  # question 1
    allowed: list[Finding] = field(default_factory=list)  # marked devsecrets:allow, not counted
    given: list[Given] = field(default_factory=list)  # question 2, context
    beyond_child: list[Item] = field(default_factory=list)  # question 2, counted
    production: list[Item] = field(default_factory=list)  # question 3
    hook: list[Path] = field(default_factory=list)
    agent: AgentState = field(default_factory=session_agent_state)
    files: int = 0
    truncated: bool = False
    notes: list[str] = field(default_factory=list)
    config_error: DevsecretsError | None = None  # a config is there and could not be read

    @property
    def clean(self) -> bool:
        """All three answers at their target — which an unreadable config leaves unknown."""
        if self.config_error is not None:
            return False
        return not (self.plaintext or self.beyond_child or self.production)


def run_audit(
    path: str | None,
    *,
    env: dict[str, str] | None = None,
    home: Path | None = None,
    now: datetime | None = None,
) -> Report:
    """Answer the three questions for the project at `path` (default: the one around the
    working directory, else the working directory itself)."""
    _stable_labels()
    start = Path(absolute(path)) if path else start_dir()
    config_path = find_config(start)
    config, error = _config(config_path)
    root = start if path or config_path is None else config_path.parent
    report = Report(tree=root, home=home or Path.home(), config=config, config_error=error)
    classify = _classifier(config, report.notes)
    environment = dict(os.environ) if env is None else env
    limit = 0 if path or config_path else UNBOUNDED_SCAN_LIMIT
    tree = scan_tree(root, classify=classify, limit=limit)
    report.files, report.truncated, report.allowed = tree.files, tree.truncated, tree.allowed
    found = scan_environment(environment, classify=classify)
    found += _exported_config_secrets(config, environment, found, classify)
    found += scan_home(report.home, classify=classify) + tree.findings
    report.plaintext = _unique(found)
    report.beyond_child = _brokers(environment)
    if config is not None:
        _project_answers(report, config, now or datetime.now(UTC))
    report.production += _production_findings(report.plaintext, report.home)
    from devsecrets.hooks import installed_rc_files

    report.hook = installed_rc_files()
    agent = report.agent
    if agent.available and agent.running and not agent.hardened:
        report.beyond_child.append(
            Item("session agent", "runs without its memory protection", "devsecrets doctor")
        )
    return report


def _stable_labels() -> None:
    """Findings' labels keyed with the install's fingerprint key, when the keyring has one."""
    from devsecrets.fingerprint import FingerprintKey, load_key
    from devsecrets.scan import use_label_key

    key = load_key(create=False)
    if isinstance(key, FingerprintKey):
        use_label_key(key.key)


def _config(found: Path | None) -> tuple[Config | None, DevsecretsError | None]:
    if found is None:
        return None, None
    try:
        return load_config(found.parent), None
    except DevsecretsError as exc:  # still worth answering question 1
        return None, exc


def _classifier(config: Config | None, notes: list[str]) -> Classify:
    """The policy's production detectors (team `deny_values` included) as a classifier."""
    detectors: tuple[ValueDetector, ...] = BUILTIN_DETECTORS
    try:
        from devsecrets.layering import effective_policy
        from devsecrets.teampolicy import load_team_policy

        detectors = effective_policy(config, load_team_policy()).detectors
    except DevsecretsError as exc:
        notes.append(f"built-in production detectors only: {exc.message}")

    def classify(value: bytes) -> str | None:
        buffer = bytearray(value)
        return next((d.label for d in detectors if d.matches(buffer)), None)

    return classify


def _exported_config_secrets(
    config: Config | None, env: dict[str, str], found: list[Finding], classify: Classify
) -> list[Finding]:
    """A secret the project lists, exported in this shell: every program started here has it,
    whatever its value looks like."""
    if config is None:
        return []
    named = {f.name for f in found}
    return [
        Finding(
            "environment",
            None,
            "project secret exported in the shell",
            fingerprint(env[spec.name].encode(errors="replace"), 0),
            spec.name,
            classify(env[spec.name].encode(errors="replace")),
        )
        for spec in config.secrets
        if env.get(spec.name) and spec.name not in named
    ]


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, int | None, str]] = set()
    kept = []
    for finding in sorted(findings, key=lambda f: (f.location != "environment", f.location)):
        key = (finding.location, finding.line, finding.fingerprint)
        if key not in seen:
            seen.add(key)
            kept.append(finding)
    return kept


def _brokers(env: dict[str, str]) -> list[Item]:
    return [
        Item(
            name,
            "is exported: any program you start can read every vault it opens",
            f"remove the export of {name} from your rc files; sign in through the 1Password "
            "app's CLI integration instead (each use is approved)",
        )
        for name in sorted(env)
        if env[name] and (name in BROKER_NAMES or name.startswith(BROKER_PREFIXES))
    ]


def _project_answers(report: Report, config: Config, now: datetime) -> None:
    from devsecrets.durations import humanize
    from devsecrets.status import survey
    from devsecrets.trust import ALLOWED, check

    trusted = check(config).state == ALLOWED
    if not trusted:
        report.notes.append("the project config is not allowed: providers were not asked")
    try:
        result = survey(config, now=now, metadata=trusted, not_asked="the config is not trusted")
    except DevsecretsError as exc:
        report.notes.append(f"the project's secrets were not surveyed: {exc.message}")
        return
    report.notes += [f"provider: {warning}" for warning in result.warnings]
    for row in result.rows:
        production = [r for r in row.refusals if r.production]
        report.production += [Item(row.name, r.reason, r.fix) for r in production]
        if row.refusals:
            continue  # never served: nothing a child could get
        if row.commands is None:
            report.beyond_child.append(
                Item(
                    row.name,
                    "is given to every command `devsecrets run` starts",
                    "list the commands that need each one: `commands: [...]` under it in "
                    ".devsecrets.yml",
                )
            )
        a = row.assessment
        if a is not None and a.served:
            age = humanize(a.age) if a.age is not None else "unknown age"
            report.given.append(Given(row.name, row.scope, age, row.commands))


def _production_findings(findings: list[Finding], home: Path) -> list[Item]:
    items = []
    for f in findings:
        if f.production:
            what = f"plaintext, looks like {f.production}"
        elif f.name and says_production(f.name):
            what = "plaintext, and its name says production"
        else:
            continue
        items.append(Item(f.name or f.kind, what, fix_for(f, home), f))
    return items


def fix_for(finding: Finding, home: Path | None = None) -> str:
    """What removes this plaintext copy."""
    if finding.location == "environment":
        return (
            f"unset {finding.name} and remove its export from your rc files; list it in "
            f".devsecrets.yml and store it with `devsecrets set {finding.name}`" + ROTATE
        )
    path = Path(finding.location)
    home = home or Path.home()
    relative = str(path.relative_to(home)) if path.is_relative_to(home) else None
    if relative in CREDENTIAL_FILES and relative in CREDENTIAL_FIXES:
        return CREDENTIAL_FIXES[relative] + ROTATE
    if relative in RC_FILES or (relative or "").startswith(".config/fish/"):
        return "remove the line; keep the value in the keyring (`devsecrets set NAME`)" + ROTATE
    if is_dotenv(path.name):
        return f"devsecrets import {shlex.quote(finding.location)}" + ROTATE
    fix = "remove it from the file (and from git history if committed)" + ROTATE
    if finding.production is None:
        marker = ALLOW_MARKER.decode()
        fix += f" — or, if it is no credential (a test fixture), put {marker} on its line"
    return fix
