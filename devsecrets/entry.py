"""The console script. `run` with a session capability goes to the warm path first, which
imports neither click nor yaml nor keyring; everything else, and every case the warm path
declines, goes to the full command line (cli.py)."""

from __future__ import annotations

import contextlib
import sys

from devsecrets import sessioncap


def main() -> None:
    if sys.platform == "win32":
        # No Unix sockets with peer credentials, no pty, no process groups to forward
        # signals to: the guarantees devsecrets makes cannot be kept there.
        sys.stderr.write("devsecrets: error: Windows is not supported (Linux and macOS are)\n")
        sys.exit(125)
    args = sys.argv[1:]
    if args[:1] == ["run"]:
        from devsecrets.agent.harden import not_dumpable

        # First, before anything is read: the capability's pipe and values will be in our
        # memory; other processes of the user must not read either. (exec makes the child
        # dumpable again: what the child is given stays readable, by design.)
        not_dumpable()
    # Out of the environment (and its pipe read and closed) at once, whatever the command:
    # nothing devsecrets starts — `op`, the keyring's helpers, a config's `rotate:` command,
    # the child of `run` — inherits it.
    capability, emptied = sessioncap.take()
    if emptied and args[:1] == ["run"]:
        _capability_taken()
    if capability and args[:1] == ["run"]:
        from devsecrets.agent.fastpath import try_run

        try:
            try_run(args[1:], capability)
        except KeyboardInterrupt:  # Ctrl-C before the child started: as cli.main does
            sys.exit(130)
    from devsecrets.cli import main as cli_main

    cli_main()


def _capability_taken() -> None:
    """The shell's function wrote the capability into the pipe and nothing was there: some
    other process read it first. Every session is wiped, so what it took opens nothing."""
    sys.stderr.write(
        "devsecrets: warning: the session capability was gone from its pipe: another process"
        " may have read it. Every session is wiped (devsecrets lock); cd into the project"
        " again to start a new one.\n"
    )
    from devsecrets.agent import client

    with contextlib.suppress(client.AgentUnavailable):
        client.lock()
