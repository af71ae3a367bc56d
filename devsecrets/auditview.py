"""How `devsecrets audit` shows its report: a text page ending in a score card, or JSON.

Neither ever holds a value: findings carry a kind, a location and a redacted fingerprint.
"""

from __future__ import annotations

import json
from pathlib import Path

from devsecrets.audit import Item, Report, fix_for, run_audit
from devsecrets.errors import EXIT_FINDINGS
from devsecrets.scan import Finding

TARGETS = ("0", "none", "none")
QUESTIONS = (
    "memory dump: plaintext long-lived secrets",
    "60 seconds of arbitrary code: what it gets beyond one child",
    "humans and production: production secrets in reach",
)


def audit_command(path: str | None, *, as_json: bool) -> int:
    """The `audit` command: exit 0 when all three answers meet their target, else 1."""
    report = run_audit(path)
    print(render_json(report) if as_json else "\n".join(render_text(report)))
    return 0 if report.clean else EXIT_FINDINGS


def counts(report: Report) -> dict[str, int]:
    return {
        "plaintext": len(report.plaintext),
        "beyond_child": len(report.beyond_child),
        "production": len(report.production),
    }


def score(report: Report) -> str:
    """`3 / 1 / none`: the first answer is a count, the others "none" at their target."""
    plaintext, beyond, production = counts(report).values()
    return " / ".join([str(plaintext), *(str(n) if n else "none" for n in (beyond, production))])


def render_text(report: Report) -> list[str]:
    home = report.home
    config = report.config
    error = report.config_error
    if config:
        head = f"{config.project} ({short(config.path, home)})"
    else:
        head = "the project config is unreadable" if error else "no project config"
    lines = [f"devsecrets audit — {head}; {report.files} files under {short(report.tree, home)}"]
    if error:
        lines.append(f"  ✗ {error.message}")
        lines += [f"    fix: {error.fix}"] if error.fix else []
    lines += _heading(1, len(report.plaintext))
    lines += _plaintext(report)
    lines += _allowed(report)
    lines += _heading(2, len(report.beyond_child))
    lines += _children(report, home)
    lines += _heading(3, len(report.production))
    lines += _items(report.production, report)
    lines += [f"  note: {note}" for note in report.notes]
    if report.truncated:
        lines.append(
            f"  note: stopped after {report.files} files; findings are incomplete — "
            "name the project with --path DIR"
        )
    verdict = "clean" if report.clean else "not clean"
    if error:
        verdict += ": the project config is unreadable"
    lines += ["", f"score card: {score(report)}   (target {' / '.join(TARGETS)}) — {verdict}"]
    return lines


def _allowed(report: Report) -> list[str]:
    """The findings a `devsecrets:allow` marker took out of the count: shown, so a marker
    cannot hide a value from whoever reads the report."""
    if not report.allowed:
        return []
    shown = [f"{display(f, report)} ({f.kind})" for f in report.allowed[:5]]
    more = f", and {len(report.allowed) - 5} more" if len(report.allowed) > 5 else ""
    noun = "finding" if len(report.allowed) == 1 else "findings"
    return [
        f"  note: {len(report.allowed)} {noun} marked devsecrets:allow, not counted: "
        f"{', '.join(shown)}{more}"
    ]


def _heading(number: int, count: int) -> list[str]:
    found = "none found" if count == 0 else f"{count} found"
    return ["", f"{number}. {QUESTIONS[number - 1]} — {found}"]


def _plaintext(report: Report) -> list[str]:
    lines = []
    by_location: dict[str, list[Finding]] = {}
    for finding in report.plaintext:
        by_location.setdefault(finding.location, []).append(finding)
    for group in by_location.values():
        for f in sorted(group, key=lambda f: f.line or 0):
            name = f" {f.name}" if f.name else ""
            lines.append(f"  ✗ {display(f, report)}{name}: {f.kind}, {f.fingerprint}")
        lines.append(f"    fix: {fix_for(group[0], report.home)}")
    return lines


def _items(items: list[Item], report: Report) -> list[str]:
    """One line per item; a fix is shown once for a run of items that share it."""
    lines = []
    for i, item in enumerate(items):
        f = item.finding
        at = f" at {display(f, report)}" if f else ""
        lines.append(f"  ✗ {item.name}{at}: {item.what}")
        if i + 1 == len(items) or items[i + 1].fix != item.fix:
            lines.append(f"    fix: {item.fix}")
    return lines


def _children(report: Report, home: Path) -> list[str]:
    lines = []
    lines += _items(report.beyond_child, report)
    if report.config_error is not None:
        lines.append("  · the project config is unreadable: `devsecrets run` would start nothing")
    elif report.config is None:
        lines.append("  · no project here: `devsecrets run` would give nothing")
    else:
        lines.append(f"  · a child of `devsecrets run` receives {len(report.given)} by default:")
        width = max((len(given.name) for given in report.given), default=0)
        for given in report.given:
            only = ", ".join(given.commands) if given.commands else "every command"
            name = given.name.ljust(width)
            lines.append(f"      {name}  {given.scope}, {given.age} old, to: {only}")
    hook = ", ".join(short(p, home) for p in report.hook)
    lines.append(
        f"  · shell hook: installed in {hook}"
        if hook
        else "  · shell hook: not installed (`devsecrets hook --install`)"
    )
    agent = report.agent
    lines.append(f"  · session agent: {agent.detail}")
    lines.append(
        "  · code running as you can still ask an unlocked keyring or a signed-in `op` "
        "directly: lock them when you step away"
    )
    return lines


def render_json(report: Report) -> str:
    config = report.config
    document = {
        "project": (
            {"name": config.project, "config": str(config.path), "scope": config.scope}
            if config
            else None
        ),
        "config_error": (
            {"message": report.config_error.message, "fix": report.config_error.fix}
            if report.config_error
            else None
        ),
        "scanned": {
            "tree": str(report.tree),
            "files": report.files,
            "truncated": report.truncated,
            "home": str(report.home),
        },
        "plaintext": [{**f.as_json(), "fix": fix_for(f, report.home)} for f in report.plaintext],
        "allowed": [f.as_json() for f in report.allowed],
        "beyond_child": [item.as_json() for item in report.beyond_child],
        "given_by_default": [given.as_json() for given in report.given],
        "hook_installed_in": [str(p) for p in report.hook],
        "agent": report.agent.as_json(),
        "production": [item.as_json() for item in report.production],
        "notes": report.notes,
        "score": counts(report),
        "target": {"plaintext": 0, "beyond_child": 0, "production": 0},
        "clean": report.clean,
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def display(finding: Finding, report: Report) -> str:
    """Where a finding is, short: relative to the scanned tree, else to HOME."""
    if finding.location == "environment":
        return "environment"
    path = Path(finding.location)
    where = str(path.relative_to(report.tree)) if path.is_relative_to(report.tree) else None
    return (where or short(path, report.home)) + (f":{finding.line}" if finding.line else "")


def short(path: Path, home: Path) -> str:
    """~/x for paths under the home directory."""
    return "~/" + str(path.relative_to(home)) if path.is_relative_to(home) else str(path)
