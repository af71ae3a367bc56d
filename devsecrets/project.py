"""Prepare a project for serving: the one path shared by `run` and the session agent.

Every check that decides whether a project may be served at all belongs in `load_project`
(finding and parsing the config, and the trust check), and every check on what is served
belongs in `resolve_project` (policy, fetch, rotation): `run` and the agent both call these
two, so a check added here applies to both, and the agent re-runs `load_project` before it
hands out values.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from devsecrets.config import Config, SecretSpec, load_config, parse_config, read_config_bytes
from devsecrets.policy import policy_for
from devsecrets.resolve import Resolved, resolve


def load_project(config_path: Path | None = None) -> Config:
    """The config found from the working directory, or the one at `config_path`."""
    if config_path is None:
        return load_config()
    return parse_config(read_config_bytes(config_path), config_path)


def resolve_project(config: Config, specs: Sequence[SecretSpec]) -> Resolved:
    """Policy and fetch for `specs`: every value checked, or an error and nothing held."""
    return resolve(config, specs, policy_for(config))
