"""The shell hook's one Python call (hookcall.py) talking to the session agent.

On entering a trusted project the call asks the agent to `enter` — starting the agent when
none answers — and returns at once: the fetch goes on inside the agent, so a slow provider
(1Password waiting for a fingerprint) never holds up the prompt. What comes back is the
session capability, which the hook keeps in an unexported variable, and the name of the
file the agent writes the fetch's outcome to (agent/notice.py), which the hook reads at a
later prompt with builtins. On leaving (or entering another project, or the config losing
trust) the call sends `leave` with the capability the hook held.

The capability reaches this process only on its stdin (sessioncap.py), never through argv
or the environment, which any process of the user can read in /proc. The agent client is
imported only when it is needed, and it imports no `json` (agent/wirejson.py): cheap enough
for `cd`'s budget.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devsecrets.agent.protocol import Header


class Entered:
    """What `enter` brought back: the capability (or '' and the problem), and for the status
    line the session's state, its size, the rotation words and the notice file."""

    __slots__ = ("capability", "count", "error", "note", "notice", "problem", "state")

    def __init__(self, reply: Header | None, problem: str = "") -> None:
        reply = reply or {}
        session = reply.get("session")
        if not isinstance(session, dict):
            session = {}
        self.problem = problem
        self.capability = _text(reply.get("cap"))
        self.state = _text(session.get("state"))
        names = session.get("names")
        self.count = len(names) if isinstance(names, list) else None
        error = session.get("error")
        self.error = _text(error[0]) if isinstance(error, list) and error else ""
        self.note = _text(reply.get("note"))
        self.notice = _text(reply.get("notice"))


def enter(shell_pid: int, config: str, digest: str) -> Entered:
    """A new session for the shell in the project at `config` (absolute, logical path)."""
    from devsecrets.agent import client
    from devsecrets.errors import DevsecretsError

    try:
        return Entered(client.enter(config, digest, shell_pid))
    except client.AgentUnavailable as exc:
        if exc.code != "not_running":
            return Entered(None, _reason(exc.message, exc.fix))
    try:
        client.ensure_agent()  # started detached: it outlives this call and the shell
        return Entered(client.enter(config, digest, shell_pid))
    except client.AgentUnavailable as exc:
        return Entered(None, _reason(exc.message, exc.fix))
    except DevsecretsError as exc:
        return Entered(None, _reason(exc.message, exc.fix))
    except OSError as exc:
        return Entered(None, f"the agent cannot start ({exc.strerror})")


def leave(capability: str) -> bool:
    """Tell the agent the shell left. True when the agent now holds nothing for this
    capability: it wiped the session, or had already (TTL, lock, its own check of the
    config), or no agent runs at all. False when none was held or the agent did not answer.
    """
    if not capability:
        return False
    from devsecrets.agent import client

    try:
        client.leave(capability)
    except client.AgentUnavailable as exc:
        return exc.code == "not_running"
    return True


def line(project: str, scope: str, count: int, entered: Entered) -> str:
    """The status line on entering: what is being fetched, and the rotation words."""
    head = f"devsecrets: {project} ({scope}) — "
    count = entered.count if entered.count is not None else count
    secrets = f"{count} secret{'' if count == 1 else 's'}"
    if entered.problem:
        return f"{head}{secrets}; no session agent ({entered.problem}): each run asks the providers"
    if entered.state == "ready":
        text = f"{head}{secrets} ready"
    elif entered.state == "failed":
        text = f"{head}fetch failed: {entered.error.splitlines()[0] if entered.error else '?'}"
    else:
        text = f"{head}fetching {secrets}…"
    return f"{text}; {entered.note}" if entered.note else text


def _reason(message: str, fix: str | None) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "no answer"
    return f"{first}; {fix}" if fix else first


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def renew(capability: str) -> str:
    """The session's new capability ('' when it is gone or the agent did not answer): the
    one this call was given is retired, in case another process read it from the pipe."""
    if not capability:
        return ""
    from devsecrets.agent import client

    try:
        reply = client.renew(capability)
    except client.AgentUnavailable:
        return ""
    return _text(reply.get("cap"))
