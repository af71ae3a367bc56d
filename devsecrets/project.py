"""Prepare a project for serving: the one path shared by `run` and the session agent.

Every check that decides whether a project may be served at all belongs in `load_project`
(finding and parsing the config, trust), and every check on what is served belongs in
`resolve_project` (policy, rotation, fetch, the audit log: serve.py): `run` and the agent
both call these two, so a check added here applies to both, and the agent re-runs
`load_project` before every value it hands out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from devsecrets.config import Config, SecretSpec, load_config, parse_config
from devsecrets.configfile import read_config_bytes
from devsecrets.secret import Secret
from devsecrets.serve import Warn, serve, warn_stderr
from devsecrets.trust import require_trusted


def load_project(config_path: Path | None = None) -> Config:
    """The trusted config found from the working directory, or the one at `config_path`."""
    if config_path is None:
        config = load_config()
    else:
        config = parse_config(read_config_bytes(config_path), config_path)
    require_trusted(config)
    return config


def resolve_project(
    config: Config, specs: Sequence[SecretSpec], *, command: str, warn: Warn = warn_stderr
) -> dict[str, Secret]:
    """What `command` may receive of `specs`: every value checked, or an error and nothing
    held. Decisions go to the audit log; rotation warnings to `warn`."""
    return serve(config, specs, command=command, warn=warn)
