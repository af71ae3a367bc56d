"""Build state files for the fake `op`, put it on PATH, and read its call log.

    state = make_state([vault("Staging", items=[item("stripe", {"credential": "sk_test_1"})])])
    write_state(tmp_path / "op.json", state)
    install_fake_op(tmp_path / "bin")   # then FAKE_OP_STATE=…/op.json and PATH=…/bin:$PATH

Ids are filled in deterministically (a hash of the names), so the dicts returned here already
carry the ids the fake will print: `state["vaults"][0]["items"][0]["id"]`.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import fake_op

Json = dict[str, Any]
DEFAULT_TIMESTAMP = fake_op.DEFAULT_TIMESTAMP
FAKE_OP_SCRIPT = Path(fake_op.__file__).resolve()

# The wrapper imports fake_op from its absolute directory: with `-IS` Python puts neither
# the script's directory nor site-packages on sys.path. The shebang carries one argument
# only (Linux passes the rest of the line as a single word), so the flags are `-IS`.
_WRAPPER = """#!{python} -IS
import sys

sys.path.insert(0, {directory!r})
import fake_op

sys.exit(fake_op.main(sys.argv[1:]))
"""


def timestamp(moment: datetime) -> str:
    """RFC 3339 with `Z`, as op prints it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Fixed once per process, so that building the same state twice gives the same state.
FRESH_TIMESTAMP = timestamp(datetime.now(UTC) - timedelta(hours=1))


def field(
    label: str,
    value: str | bytes = "",
    *,
    type: str | None = None,
    section: str | None = None,
    id: str | None = None,
    purpose: str | None = None,
) -> Json:
    """One field. bytes are stored as `value_b64` so NULs and non-UTF-8 bytes survive JSON."""
    data: Json = {"label": label}
    if isinstance(value, bytes):
        data["value_b64"] = base64.b64encode(value).decode()
    else:
        data["value"] = value
    for key, given in (("type", type), ("id", id), ("purpose", purpose)):
        if given is not None:
            data[key] = given
    if section is not None:
        data["section"] = fake_op.section_ref(section)
    return data


def item(
    title: str,
    fields: Mapping[str, str | bytes] | Iterable[Json] | None = None,
    tags: Iterable[str] = (),
    updated_at: str | None = None,
    category: str = "API_CREDENTIAL",
    id: str | None = None,
    sections: Iterable[str | Json] = (),
    *,
    created_at: str = DEFAULT_TIMESTAMP,
    version: int = 1,
    archived: bool = False,
    favorite: bool = False,
    **extra: Any,
) -> Json:
    """One item. `fields` maps label → value, or lists `field(...)` dicts for sections/types.

    The id is left to `vault()` unless given: op's ids depend on the vault the item is in.
    `extra` keys (additional_information, urls, last_edited_by) are copied verbatim.
    `updated_at` defaults to an hour ago, so the item is fresh for rotation checks; tests
    about age pass their own.
    """
    if updated_at is None:
        updated_at = FRESH_TIMESTAMP
    if isinstance(fields, Mapping):
        field_list = [field(label, value) for label, value in fields.items()]
    else:
        field_list = [dict(spec) for spec in fields or ()]
    data: Json = {"title": title, "tags": list(tags), "version": version, "category": category}
    data.update(created_at=created_at, updated_at=updated_at, **extra)
    if id is not None:
        data["id"] = id
    if archived:
        data["state"] = "ARCHIVED"
    if favorite:
        data["favorite"] = True
    data["sections"] = _sections(sections, field_list)
    data["fields"] = [fake_op.normalise_field(spec, title) for spec in field_list]
    return data


def _sections(declared: Iterable[str | Json], fields: list[Json]) -> list[Json]:
    """Declared sections (labels or dicts) plus any section a field names."""
    sections = [fake_op.section_ref(s) if isinstance(s, str) else dict(s) for s in declared]
    known = {section["id"] for section in sections}
    for spec in fields:
        section = spec.get("section")
        if isinstance(section, str):
            section = spec["section"] = fake_op.section_ref(section)
        if section and section["id"] not in known:
            known.add(section["id"])
            sections.append(section)
    return sections


def vault(
    name: str,
    id: str | None = None,
    items: Iterable[Json] = (),
    *,
    created_at: str = DEFAULT_TIMESTAMP,
    updated_at: str = DEFAULT_TIMESTAMP,
) -> Json:
    """One vault; its items get ids derived from the vault name and their titles."""
    data: Json = {"name": name, "created_at": created_at, "updated_at": updated_at}
    if id is not None:
        data["id"] = id
    data["items"] = [dict(spec) for spec in items]
    return fake_op.normalise_vault(data)


def make_state(
    vaults: Iterable[Json] = (),
    *,
    mode: str = "signed_in",
    latency_ms: float = 0,
    version: str = fake_op.DEFAULT_VERSION,
    account: Mapping[str, str] | None = None,
    whoami_signed_out: bool = False,
) -> Json:
    """A whole state file. `whoami_signed_out` emulates the desktop-app quirk where
    `op whoami` says "account is not signed in" while reads work (op-cli.md §5.2)."""
    state: Json = {"version": version, "mode": mode, "latency_ms": latency_ms}
    state["vaults"] = list(vaults)
    if account is not None:
        state["account"] = dict(account)
    if whoami_signed_out:
        state["whoami_signed_out"] = True
    return state


def write_state(path: Path, state: Json) -> Path:
    """Write the state file the fake reads through FAKE_OP_STATE; returns the path."""
    path.write_text(json.dumps(state, indent=2), encoding="utf-8")
    return path


def install_fake_op(bin_dir: Path) -> Path:
    """Write an executable `op` into bin_dir that runs the fake with this interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "op"
    text = _WRAPPER.format(python=sys.executable, directory=str(FAKE_OP_SCRIPT.parent))
    wrapper.write_text(text, encoding="utf-8")
    wrapper.chmod(0o755)
    return wrapper


def read_call_log(path: Path) -> list[Json]:
    """Every invocation the fake recorded in FAKE_OP_LOG, oldest first ([] if none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line]
