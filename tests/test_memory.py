"""After `run`, devsecrets' own memory holds no copy of a value (1Password path).

A separate Python process plays devsecrets: it fetches through the fake `op`, runs a masked
child, and then waits; the test counts the canary in that process's whole address space.
The keyring path is not covered: `keyring` returns `str`, which CPython cannot wipe.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import Sandbox
from fakes.opstate import item, make_state, vault, write_state
from helpers import write_project
from memscan import count_in_memory

CANARY = "memcanary-4f9e2d7c1a3b8e60"

SCRIPT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from datetime import UTC, datetime
    from devsecrets.config import load_config
    from devsecrets.policy import policy_for
    from devsecrets.resolve import resolve
    from devsecrets.run import run_command

    config = load_config(Path(sys.argv[1]))
    policy = policy_for(config)
    resolved = resolve(config, config.secrets, policy, records={}, now=datetime.now(UTC))
    sys.stdout.write("fetched\\n"); sys.stdout.flush()
    sys.stdin.readline()
    outcome = run_command(["sh", "-c", "echo $TOKEN >/dev/null"], resolved.secrets, mask=True)
    sys.stdout.write(f"done {outcome.code}\\n"); sys.stdout.flush()
    sys.stdin.readline()
    """
)


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs /proc")
@pytest.mark.parametrize(
    "value",
    [
        CANARY,
        # The masker builds escaped forms and lines of this one: none of them may survive.
        f'-----BEGIN-----\n{CANARY}\n"{CANARY}" it\'s \\ \x1b\t\n{CANARY}-tail\n',
    ],
    ids=["token", "multi-line with quotes"],
)
def test_no_copy_of_a_value_survives_run(sandbox: Sandbox, tmp_path: Path, value: str) -> None:
    write_state(
        sandbox.op_state,
        make_state([vault("Staging", items=[item("tok", {"credential": value})])]),
    )
    project = write_project(tmp_path, "secrets:\n  TOKEN: op://Staging/tok/credential\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(project)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline() == b"fetched\n"
        during = count_in_memory(proc.pid, CANARY.encode())
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"done 0\n"
        after = count_in_memory(proc.pid, CANARY.encode())
    finally:
        proc.kill()
        proc.wait()
    assert during >= 1  # the scan does find the value while it is held
    assert after == 0
