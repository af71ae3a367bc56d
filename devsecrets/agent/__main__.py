"""`python -m devsecrets.agent --ready-fd N`: the agent as `ensure_agent()` starts it.

The same as `devsecrets agent --foreground --ready-fd N`, without the command line's click
(≈ 40 ms): the shell hook that starts the agent on entering a project waits for it.
"""

from __future__ import annotations

import sys

from devsecrets.agent.commands import DEFAULT_IDLE_EXIT
from devsecrets.agent.server import serve
from devsecrets.errors import DevsecretsError


def main(args: list[str]) -> int:
    if len(args) != 2 or args[0] != "--ready-fd" or not args[1].isdigit():
        print("usage: python -m devsecrets.agent --ready-fd N", file=sys.stderr)
        return 2
    try:
        return serve(idle_exit=DEFAULT_IDLE_EXIT, ready_fd=int(args[1]))
    except DevsecretsError as exc:  # already told on the ready fd; for a log, if any
        print(exc.render(), file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
