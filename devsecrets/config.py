"""`.devsecrets.yml`: find it, refuse it when others could have written it, parse it.

The file lists names and references, never values. `Config.digest` is the SHA-256 of exactly
the bytes that were parsed, so the trust check (which hashes) and the parser never see two
different versions of the file.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import yaml

from devsecrets import lookup
from devsecrets.configfile import read_config_bytes
from devsecrets.durations import FIX as DURATION_FIX
from devsecrets.durations import parse_duration
from devsecrets.errors import ConfigError
from devsecrets.refs import Ref, RefError, parse_ref
from devsecrets.yamldoc import Document, join, line_of

DEFAULT_SCOPE = "staging"
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SCOPE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# Names that would change how the child runs rather than give it a credential, and names
# that belong to the brokers themselves (the child must never receive those).
RESERVED_NAMES = frozenset(
    [
        "PATH",
        "HOME",
        "SHELL",
        "USER",
        "LOGNAME",
        "PWD",
        "OLDPWD",
        "IFS",
        "TERM",
        "TMPDIR",
        "BASH_ENV",
        "ENV",
        "PS1",
        "PS4",
        "PROMPT_COMMAND",
        "ZDOTDIR",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "NODE_OPTIONS",
        "NODE_PATH",
        "PERL5OPT",
        "PERL5LIB",
        "PERLLIB",
        "RUBYOPT",
        "RUBYLIB",
        "JAVA_TOOL_OPTIONS",
        "JDK_JAVA_OPTIONS",
        "_JAVA_OPTIONS",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_EXEC_PATH",
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "OP_SERVICE_ACCOUNT_TOKEN",
        "OP_CONNECT_TOKEN",
        "OP_CONNECT_HOST",
    ]
)
RESERVED_PREFIXES = ("LD_", "DYLD_", "DEVSECRETS_", "OP_SESSION", "BASH_FUNC_", "GIT_CONFIG")

TOP_KEYS = ["version", "project", "scope", "secrets", "policy"]
SECRET_KEYS = ["from", "scope", "max_age", "commands", "rotate", "description"]
POLICY_KEYS = [
    "max_age",
    "warn_before",
    "allowed_scopes",
    "session_ttl",
    "trust_ttl",
    "vaults",
    "deny_values",
]


@dataclass(frozen=True)
class SecretSpec:
    """One entry of `secrets:`. `scope` is effective: its own, else the project's, else staging."""

    name: str
    ref: Ref
    scope: str
    line: int
    max_age: timedelta | None = None
    commands: tuple[str, ...] | None = None
    rotate: str | tuple[str, ...] | None = None  # a shell command line, or an argv
    description: str | None = None

    def allowed_for(self, command: str) -> bool:
        """Whether the `commands:` list (if any) lets this secret reach `command`."""
        return self.commands is None or os.path.basename(command) in self.commands


@dataclass(frozen=True)
class PolicyBlock:
    """A `policy:` mapping (project config or team policy file); None means "not set here"."""

    max_age: timedelta | None = None
    warn_before: timedelta | None = None
    allowed_scopes: tuple[str, ...] | None = None
    session_ttl: timedelta | None = None
    trust_ttl: timedelta | None = None
    vaults: tuple[str, ...] | None = None
    deny_values: tuple[str, ...] | None = None
    lines: dict[str, int] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Config:
    path: Path
    project: str
    scope: str
    secrets: tuple[SecretSpec, ...]
    policy: PolicyBlock
    digest: str

    @property
    def root(self) -> Path:
        return self.path.parent

    def secret(self, name: str) -> SecretSpec | None:
        return next((s for s in self.secrets if s.name == name), None)


# ---------------------------------------------------------------- finding and reading


def start_dir() -> Path:
    """The logical working directory (as the shell sees it, symlinks kept), like the hook."""
    return Path(lookup.start_dir())


def find_config(start: Path | None = None) -> Path | None:
    """The nearest `.devsecrets.yml` at or above `start` (lookup.py: also the warm path's)."""
    found = lookup.find_config(str(start) if start else None)
    return Path(found) if found else None


def load_config(start: Path | None = None) -> Config:
    path = find_config(start)
    if path is None:
        raise ConfigError(
            "no .devsecrets.yml in this directory or above",
            "cd into a project, or create .devsecrets.yml (see examples/ or "
            "`devsecrets import` to convert a .env file)",
            file=str(start or start_dir()),
        )
    return parse_config(read_config_bytes(path), path)


# ---------------------------------------------------------------- parsing


def parse_config(data: bytes, path: Path) -> Config:
    name = str(path)
    text = _decode(data, name)
    doc = Document(text, name)
    if doc.root is None:
        raise ConfigError(
            "is empty",
            "start with `version: 1` and a `secrets:` mapping of NAME: reference (see examples/)",
            file=name,
        )
    top = doc.known_keys(doc.mapping(doc.root, "", "the project config"), doc.root, "", TOP_KEYS)
    _check_version(doc, top.get("version"))
    project = _project(doc, top.get("project"), path)
    scope = _scope(doc, top["scope"], "scope") if "scope" in top else DEFAULT_SCOPE
    if "secrets" not in top:
        raise ConfigError(
            "has no `secrets:` mapping",
            "add `secrets:` with one `NAME: reference` per line",
            file=name,
            line=line_of(doc.root),
        )
    secrets = _secrets(doc, top["secrets"], scope)
    policy = parse_policy_block(doc, top["policy"], "policy") if "policy" in top else PolicyBlock()
    digest = hashlib.sha256(data).hexdigest()
    return Config(path, project, scope, secrets, policy, digest)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            "is not valid UTF-8", "save the file as UTF-8", file=name, line=line
        ) from None


def _check_version(doc: Document, node: yaml.Node | None) -> None:
    if node is None:
        return
    version = doc.integer(node, "version", "write `version: 1`")
    if version != 1:
        doc.fail(
            node,
            "version",
            f"version {version} is not supported (this devsecrets reads version 1)",
            "upgrade devsecrets, or write `version: 1`",
        )


def _project(doc: Document, node: yaml.Node | None, path: Path) -> str:
    fix = "use letters, digits, '.', '_' and '-' (at most 64), e.g. `project: payments-api`"
    if node is None:
        default = os.path.basename(os.path.dirname(os.path.realpath(path)))  # as trust does
        if not PROJECT_NAME.fullmatch(default):
            raise ConfigError(
                f"the directory name {default!r} cannot be the project name",
                "add `project: <name>`; " + fix,
                file=doc.file,
            )
        return default
    value = doc.string(node, "project", fix)
    if not PROJECT_NAME.fullmatch(value):
        doc.fail(node, "project", f"{value!r} is not a valid project name", fix)
    return value


def _scope(doc: Document, node: yaml.Node, keypath: str) -> str:
    fix = "write a scope such as dev, test, sandbox or staging"
    value = doc.string(node, keypath, fix).strip().lower()
    if not SCOPE_NAME.fullmatch(value):
        doc.fail(node, keypath, f"{value!r} is not a scope name", fix)
    return value


def _secrets(doc: Document, node: yaml.Node, default_scope: str) -> tuple[SecretSpec, ...]:
    fix = "write one `NAME: reference` per line under `secrets:`"
    specs = []
    for name, value in doc.mapping(node, "secrets", fix):
        keypath = join("secrets", name)
        _check_env_name(doc, node, name, keypath)
        if isinstance(value, yaml.MappingNode):
            specs.append(_long_form(doc, name, value, keypath, default_scope))
        else:
            ref = _ref(doc, value, keypath, name)
            specs.append(SecretSpec(name, ref, default_scope, line_of(value)))
    return tuple(specs)


def _check_env_name(doc: Document, node: yaml.Node, name: str, keypath: str) -> None:
    key_node = next(k for k, _ in node.value if k.value == name)
    if not ENV_NAME.fullmatch(name):
        doc.fail(
            key_node,
            keypath,
            f"{name!r} is not a valid environment variable name",
            "use letters, digits and '_', not starting with a digit, e.g. STRIPE_API_KEY",
        )
    if name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES):
        doc.fail(
            key_node,
            keypath,
            f"{name} is reserved: it changes how programs run (or belongs to a broker)",
            "give the secret its own name, e.g. MYAPP_TOKEN",
        )


def _long_form(
    doc: Document, name: str, node: yaml.Node, keypath: str, default_scope: str
) -> SecretSpec:
    pairs = doc.mapping(node, keypath, "the secret's `from:` and options")
    keys = doc.known_keys(pairs, node, keypath, SECRET_KEYS)
    if "from" not in keys:
        doc.fail(node, keypath, "has no `from:`", "add `from: op://vault/item/field` or keyring")
    ref = _ref(doc, keys["from"], join(keypath, "from"), name)
    scope = _scope(doc, keys["scope"], join(keypath, "scope")) if "scope" in keys else None
    return SecretSpec(
        name=name,
        ref=ref,
        scope=scope or default_scope,
        line=line_of(node),
        max_age=_duration(doc, keys.get("max_age"), join(keypath, "max_age")),
        commands=_commands(doc, keys.get("commands"), join(keypath, "commands")),
        rotate=_rotate(doc, keys.get("rotate"), join(keypath, "rotate")),
        description=(
            doc.string(keys["description"], join(keypath, "description"), "write a short text")
            if "description" in keys
            else None
        ),
    )


def _ref(doc: Document, node: yaml.Node, keypath: str, name: str) -> Ref:
    fix = "write op://vault/item/field (1Password) or keyring:name (OS keyring)"
    text = doc.string(node, keypath, fix)
    try:
        return parse_ref(text, name)
    except RefError as exc:
        doc.fail(node, keypath, str(exc), exc.fix)


def _duration(doc: Document, node: yaml.Node | None, keypath: str) -> timedelta | None:
    if node is None:
        return None
    text = doc.string(node, keypath, DURATION_FIX)
    try:
        return parse_duration(text)
    except ValueError as exc:
        doc.fail(node, keypath, str(exc), DURATION_FIX)


def _commands(doc: Document, node: yaml.Node | None, keypath: str) -> tuple[str, ...] | None:
    if node is None:
        return None
    fix = "list command names, e.g. `commands: [gh, git]`"
    names = doc.strings(node, keypath, fix)
    if not names:
        doc.fail(node, keypath, "is an empty list, so no command could get the secret", fix)
    for name in names:
        if "/" in name or name != name.strip():
            doc.fail(node, keypath, f"{name!r} is not a command name", fix)
    return tuple(names)


def _rotate(doc: Document, node: yaml.Node | None, keypath: str) -> str | tuple[str, ...] | None:
    """A string is a command line for `sh -c` (the config is reviewed and trusted, like a
    Makefile); a list is the argv itself, run without a shell."""
    if node is None:
        return None
    fix = (
        "write the command whose stdout is the new value, e.g. `rotate: ./bin/new-token` "
        "(run by sh) or `rotate: [./bin/new-token, --env, staging]` (no shell)"
    )
    if isinstance(node, yaml.SequenceNode):
        argv = tuple(doc.strings(node, keypath, fix))
        if not argv:
            doc.fail(node, keypath, "is empty", fix)
        return argv
    line = doc.string(node, keypath, fix)
    if not line.strip():
        doc.fail(node, keypath, "is empty", fix)
    return line


def parse_policy_block(doc: Document, node: yaml.Node, keypath: str) -> PolicyBlock:
    """A `policy:` mapping; shared by the project config and the team policy file."""
    pairs = doc.mapping(node, keypath, "policy settings")
    keys = doc.known_keys(pairs, node, keypath, POLICY_KEYS)
    lines = {key: line_of(value) for key, value in keys.items()}
    scopes = None
    if "allowed_scopes" in keys:
        scope_node = keys["allowed_scopes"]
        doc.strings(scope_node, join(keypath, "allowed_scopes"), "list scopes, e.g. [dev, staging]")
        scopes = tuple(
            _scope(doc, item, f"{join(keypath, 'allowed_scopes')}[{i}]")
            for i, item in enumerate(scope_node.value)
        )
    return PolicyBlock(
        max_age=_duration(doc, keys.get("max_age"), join(keypath, "max_age")),
        warn_before=_duration(doc, keys.get("warn_before"), join(keypath, "warn_before")),
        allowed_scopes=scopes,
        session_ttl=_duration(doc, keys.get("session_ttl"), join(keypath, "session_ttl")),
        trust_ttl=_duration(doc, keys.get("trust_ttl"), join(keypath, "trust_ttl")),
        vaults=_vaults(doc, keys.get("vaults"), join(keypath, "vaults")),
        deny_values=_patterns(doc, keys.get("deny_values"), join(keypath, "deny_values")),
        lines=lines,
    )


def _vaults(doc: Document, node: yaml.Node | None, keypath: str) -> tuple[str, ...] | None:
    if node is None:
        return None
    return tuple(doc.strings(node, keypath, "list 1Password vault names or IDs"))


def _patterns(doc: Document, node: yaml.Node | None, keypath: str) -> tuple[str, ...] | None:
    if node is None:
        return None
    fix = "list regular expressions that match production values, e.g. ['^prod_']"
    patterns = doc.strings(node, keypath, fix)
    for i, pattern in enumerate(patterns):
        try:
            re.compile(pattern.encode())
        except re.error as exc:
            doc.fail(node.value[i], f"{keypath}[{i}]", f"not a regular expression: {exc}", fix)
    return tuple(patterns)
