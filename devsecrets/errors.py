"""One error base; every subclass knows its exit code and carries the fix.

Exit codes (documented in README, following env(1) and timeout(1)):
    0    success (or the child's own status)
    1    `audit` found something; `onboard` has a step missing; `doctor` a check failing
    2    usage error (bad command line)
    125  devsecrets itself failed: bad config, untrusted, policy refusal, provider error
    126  the command was found but could not be executed
    127  the command was not found
    128+N  the child was killed by signal N
"""

from __future__ import annotations

EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_FAILURE = 125
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127


class DevsecretsError(Exception):
    """A condition we can name; rendered as `devsecrets: error: …` plus the fix, no traceback."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def render(self) -> str:
        text = f"devsecrets: error: {self.message}"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class UsageError(DevsecretsError):
    exit_code = EXIT_USAGE


class ConfigError(DevsecretsError):
    """A problem in a YAML file, located by file, key path and line."""

    def __init__(
        self,
        message: str,
        fix: str | None = None,
        *,
        file: str,
        keypath: str = "",
        line: int | None = None,
    ) -> None:
        where = file if line is None else f"{file}:{line}"
        located = f"{where}: {keypath}: {message}" if keypath else f"{where}: {message}"
        super().__init__(located, fix)
        self.file = file
        self.keypath = keypath
        self.line = line


class ProviderError(DevsecretsError):
    """A provider could not fetch; `kind` is one of a small taxonomy (see providers.base)."""

    def __init__(self, message: str, fix: str | None = None, *, kind: str = "unknown") -> None:
        super().__init__(message, fix)
        self.kind = kind
        self.ref_text: str | None = None  # the reference the provider named, when it did
        self.ref: object | None = None  # the Ref itself, when the provider knows it
        # A fix that names the secret, "{name}" filled in by the resolver (providers see
        # references, not the names the config gives them), e.g. "devsecrets set {name}".
        self.named_fix: str | None = None


class RefusedError(DevsecretsError):
    """Policy refused one or more secrets; all refusals of one run are listed together."""

    def __init__(
        self, refusals: list[tuple[str, str, str]], *, outcome: str = "nothing was started"
    ) -> None:
        lines = [f"  {name}: {reason}" for name, reason, _ in refusals]
        fixes = sorted({fix for _, _, fix in refusals if fix})
        count = len(refusals)
        noun = "secret" if count == 1 else "secrets"
        message = f"refused {count} {noun}; {outcome}\n" + "\n".join(lines)
        super().__init__(message, "\n  fix: ".join(fixes) if fixes else None)
        self.refusals = refusals
