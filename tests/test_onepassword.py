"""The 1Password provider against the fake `op` (which follows reference/op-cli.md)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import Sandbox
from fakes.opstate import field, item, make_state, vault, write_state

from devsecrets.errors import ProviderError
from devsecrets.providers.base import Context
from devsecrets.providers.onepassword import OnePasswordProvider, parse_timestamp
from devsecrets.refs import OpRef, parse_op_ref

CANARY = "canary-7f3a9c2e1b-value"


def provider() -> OnePasswordProvider:
    return OnePasswordProvider(Context(project="proj"))


def setup_vaults(box: Sandbox, *vaults: dict[str, object], **state: object) -> None:
    write_state(box.op_state, make_state(list(vaults), **state))  # type: ignore[arg-type]


def refs(*texts: str) -> list[OpRef]:
    return [parse_op_ref(t) for t in texts]


def test_all_values_come_from_one_inject_call(sandbox: Sandbox) -> None:
    tricky = 'line one\nline two {{ op://x/y/z }} = $HOME "quoted"'
    setup_vaults(
        sandbox,
        vault(
            "Staging",
            items=[
                item("stripe", {"credential": CANARY}),
                item("tricky", {"password": tricky}),
                item("unicode", {"credential": "pässwörd-✓"}),
                item("empty", {"credential": ""}),
            ],
        ),
    )
    wanted = refs(
        "op://Staging/stripe/credential",
        "op://staging/STRIPE/credential",
        "op://Staging/tricky/password",
        "op://Staging/unicode/credential",
    )
    values = provider().fetch(wanted)
    assert bytes(values[wanted[0]].buffer) == CANARY.encode()
    assert values[wanted[0]] is values[wanted[1]]  # deduplicated case-insensitively
    assert bytes(values[wanted[2]].buffer) == tricky.encode()
    assert bytes(values[wanted[3]].buffer) == "pässwörd-✓".encode()
    calls = sandbox.op_calls()
    assert [c["argv"][0] for c in calls] == ["inject"]
    assert calls[0]["stdin"] == "pipe"
    assert all(CANARY not in " ".join(c["argv"]) for c in calls)


def test_values_with_sections(sandbox: Sandbox) -> None:
    setup_vaults(
        sandbox,
        vault(
            "Dev",
            items=[item("aws", [field("access_key_id", "ASIA-TEMP-1", section="Access Keys")])],
        ),
    )
    ref = parse_op_ref("op://Dev/aws/Access Keys/access_key_id")
    assert bytes(provider().fetch([ref])[ref].buffer) == b"ASIA-TEMP-1"


def test_metadata_reads_no_values_and_uses_devnull(sandbox: Sandbox) -> None:
    setup_vaults(
        sandbox,
        vault(
            "Staging",
            items=[
                item(
                    "a",
                    {"credential": CANARY},
                    tags=["payments"],
                    updated_at="2026-11-30T10:00:00Z",
                ),
                item("b", {"credential": "x"}, updated_at="2026-11-29T20:36:03.453086-08:00"),
            ],
        ),
        vault("Dev", items=[item("c", {"credential": "y"})]),
    )
    wanted = refs("op://Staging/a/credential", "op://Staging/b/credential", "op://Dev/c/credential")
    meta = provider().metadata(wanted)
    assert meta[wanted[0]].vault_name == "Staging"
    assert meta[wanted[0]].tags == ("payments",)
    assert meta[wanted[0]].updated_at == datetime(2026, 11, 30, 10, tzinfo=UTC)
    b_time = meta[wanted[1]].updated_at
    assert b_time is not None and b_time.utcoffset() == timedelta(hours=-8)
    assert meta[wanted[2]].vault_name == "Dev"
    calls = sandbox.op_calls()
    assert sorted(c["argv"][:4] for c in calls) == [
        ["item", "list", "--vault", "Dev"],
        ["item", "list", "--vault", "Staging"],
    ]
    assert {c["stdin"] for c in calls} == {"devnull"}


def test_metadata_by_item_id(sandbox: Sandbox) -> None:
    setup_vaults(sandbox, vault("Staging", items=[item("named", {"credential": "v"})]))
    state_item_id = _item_id(sandbox, "named")
    ref = parse_op_ref(f"op://Staging/{state_item_id}/credential")
    assert provider().metadata([ref])[ref].item_title == "named"


def _item_id(box: Sandbox, title: str) -> str:
    import json

    state = json.loads(box.op_state.read_text())
    return next(i["id"] for v in state["vaults"] for i in v["items"] if i["title"] == title)


def fetch_error(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, **env: str) -> ProviderError:
    """The error of fetching one secret of a vault that has it, with env set."""
    setup_vaults(sandbox, vault("Staging", items=[item("a", {"credential": "v"})]))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ProviderError) as info:
        provider().fetch(refs("op://Staging/a/credential"))
    return info.value


@pytest.mark.parametrize(
    ("mode", "kind", "fix_words"),
    [
        ("signed_out", "signed_out", "op signin"),
        ("no_accounts", "signed_out", "op account add"),
        ("auth_timeout", "auth_timeout", "approve its prompt"),
        ("prompt_dismissed", "prompt_dismissed", "approve the 1Password prompt"),
        ("app_unreachable", "app_unreachable", "start the 1Password desktop app"),
        ("rate_limited", "rate_limited", "ratelimit"),
        ("rate_limited_daily", "rate_limited", "ratelimit"),
        ("forbidden", "not_found", "lack access"),
        ("signed_out+legacy_exit0", "signed_out", "op signin"),
    ],
)
def test_failure_modes_map_to_the_taxonomy(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, mode: str, kind: str, fix_words: str
) -> None:
    error = fetch_error(sandbox, monkeypatch, FAKE_OP_MODE=mode)
    assert error.kind == kind
    assert fix_words in (error.fix or "")
    assert "op said:" in error.message


def test_no_accounts_says_what_op_said_and_how_to_add_one(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """op prints its explanation before an `[ERROR]` line that ends in an empty cause."""
    error = fetch_error(sandbox, monkeypatch, FAKE_OP_MODE="no_accounts")
    assert error.kind == "signed_out"
    assert "the 1Password CLI has no account configured" in error.message
    assert "op said: No accounts configured for use with 1Password CLI." in error.message
    assert not error.message.rstrip().endswith(":")
    assert "op account add" in (error.fix or "") and "op signin" not in (error.fix or "")
    check = provider().check()
    assert not check.ok and "op said: No accounts configured" in check.detail
    assert "op account add" in check.fix and "op signin" not in check.fix


def test_an_account_the_cli_does_not_know_is_named_with_the_fix(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`OP_ACCOUNT` naming no configured account is not "signed out": signing in won't help."""
    error = fetch_error(sandbox, monkeypatch, OP_ACCOUNT="someone-else.1password.com")
    assert error.kind == "signed_out"
    assert "no account matching 'someone-else.1password.com'" in error.message
    assert "OP_ACCOUNT" in (error.fix or "") and "op signin" not in (error.fix or "")


def test_missing_item_and_field(sandbox: Sandbox) -> None:
    setup_vaults(sandbox, vault("Staging", items=[item("a", {"credential": "v"})]))
    for text in ("op://Staging/nope/credential", "op://Staging/a/nope", "op://Nope/a/credential"):
        with pytest.raises(ProviderError) as info:
            provider().fetch(refs(text))
        assert info.value.kind == "not_found"
        assert info.value.ref_text == text


def test_ambiguous_item_lists_the_ids(sandbox: Sandbox) -> None:
    setup_vaults(
        sandbox,
        vault(
            "Staging",
            items=[
                item("dup", {"credential": "1"}),
                item("dup", {"credential": "2"}, id="zzzzzzzzzzzzzzzzzzzzzzzzzz"),
            ],
        ),
    )
    with pytest.raises(ProviderError) as info:
        provider().fetch(refs("op://Staging/dup/credential"))
    assert info.value.kind == "ambiguous"
    assert "zzzzzzzzzzzzzzzzzzzzzzzzzz" in info.value.message
    meta = provider().metadata(refs("op://Staging/dup/credential"))
    (only,) = meta.values()
    assert only.updated_at is None and "zzzzzzzzzzzzzzzzzzzzzzzzzz" in only.unknown


def test_metadata_errors_are_per_reference(sandbox: Sandbox) -> None:
    """One unknown or ambiguous item, or an unknown vault, leaves the others' answers."""
    setup_vaults(
        sandbox,
        vault(
            "Staging",
            items=[
                item("a", {"credential": "v"}, tags=["prod"]),
                item("dup", {"credential": "1"}),
                item("dup", {"credential": "2"}, id="zzzzzzzzzzzzzzzzzzzzzzzzzz"),
            ],
        ),
    )
    good, gone, dup, nowhere = wanted = refs(
        "op://Staging/a/credential",
        "op://Staging/gone/credential",
        "op://Staging/dup/credential",
        "op://Nowhere/a/credential",
    )
    meta = provider().metadata(wanted)
    assert meta[good].tags == ("prod",) and meta[good].unknown == ""
    assert meta[gone].unknown == "1Password has no item 'gone' in vault 'Staging'"
    assert "2 items in vault 'Staging' match 'dup'" in meta[dup].unknown
    assert "zzzzzzzzzzzzzzzzzzzzzzzzzz" in meta[dup].unknown
    assert meta[nowhere].unknown.startswith("1Password has no vault 'Nowhere'")
    assert all(m.updated_at is None for m in (meta[gone], meta[dup], meta[nowhere]))


def test_metadata_still_fails_whole_when_op_cannot_answer(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_vaults(sandbox, vault("Staging", items=[item("a", {"credential": "v"})]))
    monkeypatch.setenv("FAKE_OP_MODE", "signed_out")
    with pytest.raises(ProviderError) as info:
        provider().metadata(refs("op://Staging/a/credential", "op://Staging/gone/credential"))
    assert info.value.kind == "signed_out"


def test_op_not_installed(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    (sandbox.bin / "op").unlink()
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ProviderError) as info:
        provider().fetch(refs("op://Staging/a/credential"))
    assert info.value.kind == "not_installed"
    assert provider().check().ok is False


def test_a_hanging_op_is_killed_at_the_timeout(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_vaults(sandbox, vault("Staging", items=[item("a", {"credential": "v"})]), mode="hang")
    monkeypatch.setenv("DEVSECRETS_OP_TIMEOUT", "1")
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        provider().fetch(refs("op://Staging/a/credential"))
    assert time.monotonic() - started < 5
    assert info.value.kind == "auth_timeout"
    assert "did not answer within 1 s" in info.value.message
    pid = sandbox.op_calls()[0]["pid"]
    assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)


def _is_zombie(pid: object) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return True


def test_at_most_five_op_processes_at_once(sandbox: Sandbox) -> None:
    names = [f"V{i}" for i in range(8)]
    setup_vaults(
        sandbox,
        *[vault(n, items=[item("a", {"credential": "v"})]) for n in names],
        latency_ms=400,
    )
    provider().metadata(refs(*[f"op://{n}/a/credential" for n in names]))
    starts = sorted(float(c["t"]) for c in sandbox.op_calls())  # type: ignore[arg-type]
    assert len(starts) == 8
    # Each call sleeps 400 ms: a sixth start within 300 ms of the first five means six ran at once.
    assert max(sum(1 for s in starts if t <= s < t + 0.3) for t in starts) <= 5


def test_check_reports_version_when_signed_in(sandbox: Sandbox) -> None:
    check = provider().check()
    assert check.ok and "2.30.3" in check.detail


def test_check_explains_signed_out(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_OP_MODE", "signed_out")
    check = provider().check()
    assert not check.ok and "op signin" in check.fix


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-12-04T00:50:48Z", datetime(2020, 12, 4, 0, 50, 48, tzinfo=UTC)),
        (
            "2022-11-08T20:36:03.453086-08:00",
            datetime(2022, 11, 8, 20, 36, 3, 453086, tzinfo=timezone(timedelta(hours=-8))),
        ),
        (
            "2022-11-08T20:36:03.453086123+01:00",
            datetime(2022, 11, 8, 19, 36, 3, 453086, tzinfo=UTC),
        ),
        ("not a time", None),
        ("2022-11-08T20:36:03", None),
        (None, None),
    ],
)
def test_both_timestamp_formats(text: object, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


def test_values_never_reach_argv_or_environment_names(sandbox: Sandbox) -> None:
    setup_vaults(sandbox, vault("Staging", items=[item("a", {"credential": CANARY})]))
    ref = parse_op_ref("op://Staging/a/credential")
    provider().fetch([ref])
    provider().metadata([ref])
    for call in sandbox.op_calls():
        assert CANARY not in repr(call)
