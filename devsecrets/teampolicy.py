"""The team policy file: what a team ships to tighten devsecrets' defaults for all its
projects (onboarding installs it; `DEVSECRETS_POLICY` names another file).

    version: 1
    max_age: 5d
    allowed_scopes: [sandbox, staging]
    vaults: [Staging, wp2kf3...]          # 1Password vault names or ids
    deny_values: ['^corp_prod_']         # regexes for production-looking values

The same keys as a project's `policy:` block, parsed by the same code, so errors read the
same (file, key, line, fix). The file is refused when others could have written it, like a
project config: it decides what may reach a developer's processes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import yaml

from devsecrets.config import POLICY_KEYS, PolicyBlock, parse_policy_block
from devsecrets.configfile import read_config_bytes
from devsecrets.errors import ConfigError
from devsecrets.layering import Layer
from devsecrets.paths import team_policy_file
from devsecrets.yamldoc import Document


def load_team_policy() -> Layer | None:
    """The team layer, or None when no team policy is installed."""
    path, explicit = team_policy_file()
    if not os.path.lexists(path):
        if explicit:
            raise ConfigError(
                "the team policy file named by DEVSECRETS_POLICY does not exist",
                "fix the path in DEVSECRETS_POLICY, or unset it to use the installed policy",
                file=str(path),
            )
        return None
    return parse_team_policy(read_config_bytes(path, follow=True), path)


def team_policy_digest() -> str:
    """What the team policy is now, in a few bytes: a session agent compares it with the
    one its session began under (a tightened policy must not wait for the session TTL)."""
    path, _ = team_policy_file()
    try:
        data = read_config_bytes(path, follow=True) if os.path.lexists(path) else b""
    except ConfigError as exc:
        return f"unreadable: {exc.message}"
    return hashlib.sha256(data).hexdigest()


def parse_team_policy(data: bytes, path: Path) -> Layer:
    name = str(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError("is not valid UTF-8", "save it as UTF-8", file=name, line=line) from None
    doc = Document(text, name)
    if doc.root is None:
        return Layer(PolicyBlock(), name, "", is_team=True)
    pairs = doc.mapping(doc.root, "", "the team policy's settings")
    keys = doc.known_keys(pairs, doc.root, "", ["version", *POLICY_KEYS])
    if "version" in keys:
        version = doc.integer(keys["version"], "version", "write `version: 1`")
        if version != 1:
            doc.fail(
                keys["version"],
                "version",
                f"version {version} is not supported (this devsecrets reads version 1)",
                "upgrade devsecrets, or write `version: 1`",
            )
    settings = yaml.MappingNode(
        doc.root.tag,
        [(k, v) for k, v in doc.root.value if k.value != "version"],
        start_mark=doc.root.start_mark,
        end_mark=doc.root.end_mark,
    )
    return Layer(parse_policy_block(doc, settings, ""), name, "", is_team=True)
