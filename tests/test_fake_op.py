"""The fake `op` matches reference/op-cli.md: shapes, error texts, exit codes, stdin, timing.

Every test runs the real executable wrapper (`opstate.install_fake_op`) in a subprocess with
a minimal environment, the way devsecrets' provider will run it.
"""

from __future__ import annotations

import json
import os
import pty
import re
import stat
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fakes import fake_op, opstate
from fakes.opstate import field, item, make_state, vault

SEED = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # RFC 6238's SHA-1 test key, base32
BINARY = b"\x00\xff\xfe{{ x }}=\n\r\x7fend"
ERROR = re.compile(r"\[ERROR\] (\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) (.*)\n", re.S)
K = TypeVar("K")
REFERENCE_SHAPE = "secret references should match op://<vault>/<item>[/<section>]/<field>"


def build_state() -> dict[str, Any]:
    staging = vault(
        "Staging",
        items=[
            item(
                "stripe-sandbox",
                {"credential": "sk_test_123", "username": "acct"},
                tags=["payments", "team/backend"],
                updated_at="2022-11-08T20:36:03.453086-08:00",
            ),
            item(
                "db",
                [
                    field("password", "line1\nline2", section="Admin", purpose="PASSWORD"),
                    field("host", "db.internal", section="Admin"),
                    field("notesPlain", "", purpose="NOTES"),
                    field("one-time", SEED, type="OTP"),
                ],
                category="DATABASE",
            ),
            item("api key", {"credential": "spaced"}),
            item("binary", {"blob": BINARY}),
            item("dup", {"credential": "first"}),
            item("dup", {"credential": "second"}),
            item("old", {"credential": "archived"}, archived=True),
            item("odd", [field("text/", "t", id="hu4vwo3bjkawq2uw2fkn5pkjzu", section="add more")]),
        ],
    )
    dev = vault("Dev", items=[item("stripe-sandbox", {"credential": "sk_dev"}, favorite=True)])
    return make_state([staging, dev])


STATE = build_state()


def item_id(vault_name: str, title: str, nth: int = 0) -> str:
    vaults = STATE["vaults"]
    found = [
        i for v in vaults if v["name"] == vault_name for i in v["items"] if i["title"] == title
    ]
    return str(found[nth]["id"])


@dataclass
class Result:
    code: int
    out: bytes
    err: str

    @property
    def message(self) -> str:
        """The single `[ERROR] <ts> <message>` of a failed call (nothing on stdout)."""
        assert self.out == b"", self.out
        match = ERROR.fullmatch(self.err)
        assert match, self.err
        return match.group(2)

    @property
    def summary(self) -> tuple[int, bytes, str]:
        """Exit code, stdout and stderr with the timestamp masked, for table comparisons."""
        return self.code, self.out, ERROR.sub(r"[ERROR] <ts> \2\n", self.err)


def failed(message: str) -> tuple[int, bytes, str]:
    """What a failing op prints: nothing on stdout, one `[ERROR]` line, exit 1."""
    return 1, b"", f"[ERROR] <ts> {message}\n"


def run_table(call: Callable[[K], Result], cases: Iterable[K]) -> dict[K, tuple[int, bytes, str]]:
    """Run independent calls a few at a time (each is a process start-up) and key the results.

    Comparing whole dicts keeps every case visible in one assertion diff.
    """
    keys = list(cases)
    with ThreadPoolExecutor(max_workers=4) as pool:
        return {key: result.summary for key, result in zip(keys, pool.map(call, keys), strict=True)}


class FakeOp:
    """The fake installed in a temp dir, run like a provider runs it."""

    def __init__(self, root: Path) -> None:
        self.bin = opstate.install_fake_op(root / "bin")
        self.state = opstate.write_state(root / "state.json", STATE)
        self.log = root / "calls.jsonl"
        self.env = {
            "PATH": f"{self.bin.parent}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(root),
            "FAKE_OP_STATE": str(self.state),
            "FAKE_OP_LOG": str(self.log),
        }

    def environ(self, mode: str | None = None, **extra: str) -> dict[str, str]:
        env = {**self.env, **extra}
        if mode:
            env["FAKE_OP_MODE"] = mode
        return env

    def __call__(
        self, *argv: str, input: bytes | None = None, mode: str | None = None, **env: str
    ) -> Result:
        proc = subprocess.run(
            ["op", *argv],
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            env=self.environ(mode, **env),
            timeout=10,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr.decode())

    def ok(
        self, *argv: str, input: bytes | None = None, mode: str | None = None, **env: str
    ) -> bytes:
        result = self(*argv, input=input, mode=mode, **env)
        assert (result.code, result.err) == (0, ""), result.err
        return result.out

    def json(
        self, *argv: str, input: bytes | None = None, mode: str | None = None, **env: str
    ) -> Any:
        """Parse `--format json` output, checking it is 2-space pretty JSON plus one newline."""
        out = self.ok(*argv, "--format", "json", input=input, mode=mode, **env)
        assert out.endswith(b"\n") and not out.endswith(b"\n\n")
        data = json.loads(out)
        assert out.decode() == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        return data


@pytest.fixture
def op(tmp_path: Path) -> FakeOp:
    return FakeOp(tmp_path)


# --------------------------------------------------------------------------- op read


READ_VALUES = {
    "op://Staging/stripe-sandbox/credential": b"sk_test_123",
    "op://staging/STRIPE-SANDBOX/Credential": b"sk_test_123",
    f"op://Staging/{item_id('Staging', 'stripe-sandbox')}/username": b"acct",
    "op://Staging/db/admin/password": b"line1\nline2",
    "op://Staging/db/password": b"line1\nline2",
    "op://Staging/api key/credential": b"spaced",
    "op://Staging/binary/blob": BINARY,
    "op://Staging/odd/add more/hu4vwo3bjkawq2uw2fkn5pkjzu": b"t",
    "op://Staging/db/password?attribute=type": b"concealed",
    "op://Staging/db/password?attr=purpose": b"password",
    "op://Staging/stripe-sandbox/credential?attribute=id": b"credential",
    "op://Staging/stripe-sandbox/credential?attribute=value": b"sk_test_123",
    "op://Staging/stripe-sandbox/credential?ssh-format=openssh": b"sk_test_123",
}


def test_read_prints_the_value_and_one_newline(op: FakeOp) -> None:
    got = run_table(lambda ref: op("read", ref), READ_VALUES)
    assert got == {ref: (0, value + b"\n", "") for ref, value in READ_VALUES.items()}


def test_read_no_newline_and_otp(op: FakeOp) -> None:
    assert op.ok("read", "-n", "op://Staging/stripe-sandbox/credential") == b"sk_test_123"
    before = fake_op.totp(SEED, time.time())
    code = op.ok("read", "op://Staging/db/one-time?attribute=otp")
    assert re.fullmatch(rb"\d{6}\n", code)
    assert code.decode().strip() in {before, fake_op.totp(SEED, time.time())}


def test_totp_matches_rfc_6238() -> None:
    assert fake_op.totp(SEED, 59) == "287082"
    assert fake_op.totp(f"otpauth://totp/x?secret={SEED}&digits=6", 1111111109) == "081804"


NOT_AN_ITEM = "Specify the item with its UUID, name, or domain."
READ_FAILURES = {
    "op://Staging/nope/credential": "could not read secret 'op://Staging/nope/credential': "
    f'could not get item Staging/nope: "nope" isn\'t an item in the "Staging" vault. {NOT_AN_ITEM}',
    "op://Private/x/credential": "could not read secret 'op://Private/x/credential': could not "
    'get item Private/x: "Private" isn\'t a vault in this account. Specify the vault with its ID '
    "or name.",
    "op://Staging/stripe-sandbox/nope": "could not read secret 'op://Staging/stripe-sandbox/nope'"
    ": item 'Staging/stripe-sandbox' does not have a field 'nope'",
    "op://Staging/old/credential": "could not read secret 'op://Staging/old/credential': "
    f'could not get item Staging/old: "old" isn\'t an item in the "Staging" vault. {NOT_AN_ITEM}',
    "op://For Chang's Claude/item/credential": "invalid secret reference 'op://For Chang's "
    "Claude/item/credential': invalid character in secret reference: '''",
    "op://Staging/AWS Key(x)/credential": "invalid secret reference "
    "'op://Staging/AWS Key(x)/credential': invalid character in secret reference: '('",
    "op://Staging/キー/credential": "invalid secret reference 'op://Staging/キー/credential': "
    "invalid character in secret reference: 'キ'",
    "op://$VAULT/item/field": "invalid secret reference 'op://$VAULT/item/field': "
    "invalid character in secret reference: '$'",
    "op://a/b/c/d/e": f"invalid secret reference 'op://a/b/c/d/e': too many '/': {REFERENCE_SHAPE}",
    "op://a/b": f"invalid secret reference 'op://a/b': {REFERENCE_SHAPE}",
    "Staging/x/y": f"invalid secret reference 'Staging/x/y': {REFERENCE_SHAPE}",
}


def test_read_failures(op: FakeOp) -> None:
    got = run_table(lambda ref: op("read", ref), READ_FAILURES)
    assert got == {ref: failed(message) for ref, message in READ_FAILURES.items()}


def test_read_ambiguous_item(op: FakeOp) -> None:
    first, second = item_id("Staging", "dup"), item_id("Staging", "dup", 1)
    assert first != second
    assert op("read", "op://Staging/dup/credential").message == (
        "could not read secret 'op://Staging/dup/credential': could not get item Staging/dup: "
        'More than one item matches "dup". Try again and specify the item by its ID: \n'
        f'\t* for the item "dup" in vault Staging: {first}\n'
        f'\t* for the item "dup" in vault Staging: {second}'
    )
    assert op.ok("read", f"op://Staging/{second}/credential") == b"second\n"


def test_read_has_no_reveal_flag_and_needs_one_reference(op: FakeOp) -> None:
    assert op("read", "--reveal", "op://a/b/c").message == "unknown flag: --reveal"
    assert op("read").message == "accepts 1 arg(s), received 0"


def test_read_out_file(op: FakeOp, tmp_path: Path) -> None:
    target = tmp_path / "secret"
    ref = "op://Staging/binary/blob"
    assert op.ok("read", ref, "-o", str(target)) == f"{target}\n".encode()
    assert target.read_bytes() == BINARY
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    result = op("read", ref, "--out-file", str(target))
    assert result.code == 1 and "already exists" in result.message
    op.ok("read", ref, f"--out-file={target}", "-f", "--file-mode", "0640")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_read_into_a_regular_file_mangles_binary_but_a_pipe_does_not(
    op: FakeOp, tmp_path: Path
) -> None:
    assert op.ok("read", "op://Staging/binary/blob") == BINARY + b"\n"
    captured = tmp_path / "captured"
    with captured.open("wb") as stdout:
        subprocess.run(["op", "read", "op://Staging/binary/blob"], stdout=stdout, env=op.env)
    expected = BINARY.decode("utf-8", "replace").replace("\x7f", "").encode() + b"\n"
    assert captured.read_bytes() == expected


# --------------------------------------------------------------------------- stderr and modes


def test_error_timestamp_is_local_time(op: FakeOp) -> None:
    stamps = {}
    for tz in ("UTC0", "XYZ-10"):
        err = op("read", "op://a/b", TZ=tz).err
        match = ERROR.fullmatch(err)
        assert match, err
        stamps[tz] = time.mktime(time.strptime(match.group(1), "%Y/%m/%d %H:%M:%S"))
    assert abs(stamps["XYZ-10"] - stamps["UTC0"] - 36000) < 5


REF = "op://Staging/stripe-sandbox/credential"
NOT_SIGNED_IN = "You are not currently signed in. Please run `op signin --help` for instructions"
CLIENT_INIT_CAUSES = {
    "signed_out": NOT_SIGNED_IN,
    "auth_timeout": "authorization timeout",
    "prompt_dismissed": "authorization prompt dismissed, please try again",
    "app_unreachable": "connecting to desktop app: connecting to desktop app timed out",
}
SERVER_REFUSALS = {
    "rate_limited": "(429) Too Many Requests: You've reached the maximum number of this type of "
    "requests this service account is allowed to make. Please retry in 59 minutes or try other "
    "requests.",
    "rate_limited_daily": "(429) Too Many Requests: You've reached the maximum number of this "
    "type of requests this 1Password account is allowed to make. Please retry in 23 hours and "
    "59 minutes or try other requests.",
    "forbidden": "(403) Forbidden: You aren't authorized to access this resource.",
}


def test_mode_failures(op: FakeOp) -> None:
    """Reads name the reference; other commands fail at client set-up; whoami never prompts."""
    whoami = (0, op.ok("whoami"), "")
    expected = {}
    for mode, cause in CLIENT_INIT_CAUSES.items():
        init = f"error initializing client: {cause}"
        expected[mode, "read"] = failed(f"could not read secret '{REF}': {init}")
        expected[mode, "inject"] = failed(f"could not read secret '{REF}': {init}")
        expected[mode, "item"] = failed(init)
        expected[mode, "whoami"] = failed("account is not signed in")
    for mode, message in SERVER_REFUSALS.items():
        for command in ("read", "inject", "item"):
            expected[mode, command] = failed(message)
        expected[mode, "whoami"] = whoami
    argv = {"read": ["read", REF], "inject": ["inject"], "item": ["item", "list"]}
    argv["whoami"] = ["whoami"]
    template = f"x={{{{ {REF} }}}}".encode()

    def call(case: tuple[str, str]) -> Result:
        mode, command = case
        return op(*argv[command], mode=mode, input=template if command == "inject" else None)

    assert run_table(call, expected) == expected


def test_no_accounts(op: FakeOp) -> None:
    result = op("read", "op://x/y/z", mode="no_accounts")
    preamble, _, last = result.err.rpartition("[ERROR] ")
    assert preamble == (
        "No accounts configured for use with 1Password CLI.\n\n"
        " - Turn on the 1Password desktop app integration to sign in with the accounts you've"
        " added to the app: https://www.1password.dev/cli/app-integration/ for details.\n"
        " - Add an account manually with 'op account add' and sign in by entering your password"
        " on the command line.\n"
    )
    assert re.fullmatch(
        r"\S+ \S+ could not read secret 'op://x/y/z': error initializing client: \n", last
    )
    assert (result.code, result.out) == (1, b"")
    assert op("whoami", mode="no_accounts").message == "no account found for filter "
    assert op("whoami", "--account", "X", mode="no_accounts").message == (
        "no account found for filter X"
    )
    assert op.json("account", "list", mode="no_accounts") == []


def test_legacy_exit0_prints_the_error_but_exits_0(op: FakeOp) -> None:
    result = op("read", "op://Staging/nope/f", mode="legacy_exit0")
    assert result.code == 0 and result.out == b"" and "isn't an item" in result.err
    combined = op("vault", "list", mode="rate_limited+legacy_exit0")
    assert combined.code == 0 and combined.err.startswith("[ERROR] ")
    assert op("vault", "list", mode="bogus").code == 2


def test_hang_never_answers_but_version_does(op: FakeOp) -> None:
    proc = subprocess.Popen(
        ["op", "read", REF],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=op.environ("hang"),
    )
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=0.2)
    proc.kill()
    assert proc.communicate() == (b"", b"")
    assert op.ok("--version", mode="hang") == b"2.30.3\n"
    assert op("whoami", mode="hang").message == "account is not signed in"


def test_latency_applies_to_commands_but_not_version(op: FakeOp) -> None:
    started = time.monotonic()
    op.ok("--version", FAKE_OP_LATENCY_MS="1000")
    assert time.monotonic() - started < 0.5
    started = time.monotonic()
    op.ok("read", REF, FAKE_OP_LATENCY_MS="100")
    assert time.monotonic() - started >= 0.1


# --------------------------------------------------------------------------- op inject

ENCLOSED = b"{{ op://Staging/stripe-sandbox/credential }}"
NOT_REFERENCES = b"x.op://a/b/c -op://a/b/c +op://a/b/c \\op://a/b/c zop://a/b/c"
INJECT = {  # template → rendering; every call runs with V=Staging in the environment
    b"x=" + ENCLOSED: b"x=sk_test_123",
    b"{{op://Staging/stripe-sandbox/credential}}": b"sk_test_123",
    b"{{   op://Staging/db/Admin/password   }}": b"line1\nline2",
    b"{{ op://Staging/api key/credential }}": b"spaced",
    b"k: op://Staging/stripe-sandbox/username, done": b"k: acct, done",
    b"(op://Staging/stripe-sandbox/username)": b"(acct)",
    NOT_REFERENCES: NOT_REFERENCES,
    b'{{ "{{ test \\"q\\" op://Staging/stripe-sandbox/credential }}" }}': (
        b'{{ test "q" op://Staging/stripe-sandbox/credential }}'
    ),
    b"op://$V/stripe-sandbox/username": b"acct",
    b"{{ op://${ v }/stripe-sandbox/username }}": b"acct",
    b"{{ op://${UNSET:-Staging}/stripe-sandbox/username }}": b"acct",
    b"<<{{ op://Staging/binary/blob }}>>": b"<<" + BINARY + b">>",
    b"literal \xff\x00 {{ name }} $V\n": b"literal \xff\x00 {{ name }} $V\n",
    b"": b"",
}


def test_inject_renders_and_appends_one_newline(op: FakeOp) -> None:
    got = run_table(lambda template: op("inject", input=template, V="Staging"), INJECT)
    assert got == {template: (0, rendered + b"\n", "") for template, rendered in INJECT.items()}


def test_inject_nonce_framing_for_a_batch(op: FakeOp) -> None:
    second_dup = item_id("Staging", "dup", 1)
    refs = ["op://Staging/db/password", "op://Staging/binary/blob"]
    refs.append(f"op://Staging/{second_dup}/credential")
    template = b"".join(f"<<n:{i}>>{{{{ {r} }}}}<<n:{i}>>\n".encode() for i, r in enumerate(refs))
    expected = b"<<n:0>>line1\nline2<<n:0>>\n<<n:1>>" + BINARY + b"<<n:1>>\n"
    expected += b"<<n:2>>second<<n:2>>\n"
    assert op.ok("inject", "--in-file", "/dev/stdin", input=template) == expected + b"\n"


def test_inject_is_all_or_nothing(op: FakeOp) -> None:
    result = op("inject", input=ENCLOSED + b" {{ op://Staging/nope/credential }}")
    assert result.code == 1
    assert result.message.startswith("could not read secret 'op://Staging/nope/credential': ")
    spaced = op("inject", input=b"op://Staging/api key/credential")
    assert spaced.message == f"invalid secret reference 'op://Staging/api': {REFERENCE_SHAPE}"
    bad = op("inject", input=b"{{ op://Staging/a(b)/c }}")
    assert bad.message.endswith("invalid character in secret reference: '('")


def test_inject_files(op: FakeOp, tmp_path: Path) -> None:
    template = tmp_path / "tpl"
    template.write_bytes(b"k=" + ENCLOSED)
    out = tmp_path / "out.env"
    assert op.ok("inject", "-i", str(template)) == b"k=sk_test_123\n"
    assert op.ok("inject", "-i", str(template), "-o", str(out)) == f"{out}\n".encode()
    assert out.read_bytes() == b"k=sk_test_123\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    missing = op("inject", "-i", str(tmp_path / "nope"))
    assert missing.message == f"open {tmp_path / 'nope'}: no such file or directory"


# --------------------------------------------------------------------------- JSON commands

SUMMARY_KEYS = [
    "id",
    "title",
    "tags",
    "version",
    "vault",
    "category",
    "last_edited_by",
    "created_at",
    "updated_at",
]


def test_item_list_shape_and_filters(op: FakeOp) -> None:
    items = op.json("item", "list", "--vault", "staging")
    titles = ["stripe-sandbox", "db", "api key", "binary", "dup", "dup", "odd"]
    assert [i["title"] for i in items] == titles
    first = items[0]
    assert list(first) == SUMMARY_KEYS
    assert first["updated_at"] == "2022-11-08T20:36:03.453086-08:00"
    assert first["vault"] == {"id": STATE["vaults"][0]["id"], "name": "Staging"}
    assert "value" not in json.dumps(items) and "sk_test" not in json.dumps(items)
    archived = op.json("item", "list", "--include-archive", "--vault", "Staging")
    old = next(i for i in archived if i["title"] == "old")
    assert list(old)[:5] == ["id", "title", "version", "state", "vault"]
    tagged = op.json("item", "list", "--tags", "team,nothing")
    assert [i["title"] for i in tagged] == ["stripe-sandbox"]
    favorite = op.json("item", "list", "--categories", "Database,API Credential", "--vault=Dev")
    assert [list(i)[:3] for i in favorite] == [["id", "title", "favorite"]]
    assert op("item", "list", "--vault", "Nope").message == (
        '"Nope" isn\'t a vault in this account. Specify the vault with its ID or name.'
    )


def test_item_get_shape(op: FakeOp) -> None:
    data = op.json("item", "get", "db", "--vault", "Staging", "--reveal")
    assert list(data) == [*SUMMARY_KEYS[:2], *SUMMARY_KEYS[3:], "sections", "fields"]
    password, host, notes, otp = data["fields"]
    assert "section" in host and "purpose" not in host
    admin = {"id": password["section"]["id"], "label": "Admin"}
    assert data["sections"] == [admin]
    assert list(password) == ["id", "section", "type", "purpose", "label", "value", "reference"]
    assert password["reference"] == "op://Staging/db/Admin/password"
    assert password["value"] == "line1\nline2"
    assert notes == {
        "id": "notesPlain",
        "type": "STRING",
        "purpose": "NOTES",
        "label": "notesPlain",
        "reference": "op://Staging/db/notesPlain",
    }
    assert re.fullmatch(r"\d{6}", otp["totp"]) and "section" not in otp
    odd = op.json("item", "get", "odd", "--vault", "Staging")
    assert odd["fields"][0]["reference"] == ("op://Staging/odd/add more/hu4vwo3bjkawq2uw2fkn5pkjzu")


def test_item_get_fields_and_human_output(op: FakeOp) -> None:
    one = op.json("item", "get", "db", "--vault", "Staging", "--fields", "label=host")
    assert isinstance(one, dict) and one["value"] == "db.internal"
    many = op.json("item", "get", "db", "--vault", "Staging", "--fields", "label=host,type=otp")
    assert [f["label"] for f in many] == ["host", "one-time"]
    hidden = op.ok("item", "get", "stripe-sandbox", "--vault", "Staging", "--fields", "credential")
    item_ref = item_id("Staging", "stripe-sandbox")
    assert hidden == f"[use 'op item get {item_ref} --reveal' to reveal]\n".encode()
    shown = op.ok(
        "item", "get", "stripe-sandbox", "--vault", "Staging", "--fields", "credential,username"
    )
    assert shown.endswith(b",acct\n")
    assert op.ok("item", "get", item_ref, "--fields", "credential", "--reveal") == b"sk_test_123\n"


def test_item_get_failures_and_stdin(op: FakeOp) -> None:
    staging, dev = item_id("Staging", "stripe-sandbox"), item_id("Dev", "stripe-sandbox")
    assert op("item", "get", "Stripe-Sandbox").message == (
        'More than one item matches "Stripe-Sandbox". Try again and specify the item by its ID: '
        f'\n\t* for the item "stripe-sandbox" in vault Staging: {staging}'
        f'\n\t* for the item "stripe-sandbox" in vault Dev: {dev}'
    )
    assert op("item", "get", "nope").message == (
        '"nope" isn\'t an item. Specify the item with its UUID, name, or domain.'
    )
    assert op("item", "get", "old", "--vault", "Staging").message == (
        '"old" isn\'t an item in the "Staging" vault. Specify the item with its UUID, name, '
        "or domain."
    )
    assert op.json("item", "get", item_id("Staging", "old"))["state"] == "ARCHIVED"
    from_stdin = op.json("item", "get", "-", "--vault", "Dev", input=b"stripe-sandbox\n")
    assert from_stdin["id"] == dev


def test_vaults_accounts_whoami_signin(op: FakeOp) -> None:
    vaults = op.json("vault", "list")
    assert list(vaults[0]) == [
        "id",
        "name",
        "content_version",
        "created_at",
        "updated_at",
        "items",
    ]
    assert [(v["name"], v["items"]) for v in vaults] == [("Staging", 7), ("Dev", 1)]
    got = op.json("vault", "get", "dev")
    assert isinstance(got, dict) and got["type"] == "USER_CREATED" and got["items"] == 1
    assert op("vault", "get", "Invalid Vault").message == (
        '"Invalid Vault" isn\'t a vault in this account. Specify the vault with its ID or name.'
    )
    whoami = op.json("whoami")
    assert list(whoami) == ["url", "email", "user_uuid", "account_uuid"]
    accounts = op.json("account", "list")
    assert [list(a) for a in accounts] == [["url", "email", "user_uuid", "account_uuid"]]
    manual = op.json("account", "list", mode="signed_out")
    assert "shorthand" in manual[0]
    assert op.ok("signin") == b""
    assert op("whoami", "--account", "someone-else").message == (
        "no account found for filter someone-else"
    )


def test_state_file_settings_and_env_overrides(op: FakeOp) -> None:
    state = make_state(
        [vault("V", items=[item("i", {"credential": "c"})])],
        mode="forbidden",
        version="2.18.0-beta.01",
        whoami_signed_out=True,
    )
    opstate.write_state(op.state, state)
    assert op.ok("--version") == b"2.18.0-beta.01\n"
    assert op("read", "op://V/i/credential").message.startswith("(403) Forbidden")
    assert op.ok("read", "op://V/i/credential", FAKE_OP_MODE="signed_in") == b"c\n"
    quirk = op("whoami", FAKE_OP_MODE="signed_in")
    assert quirk.message == "account is not signed in"
    assert op.json("vault", "list", mode="signed_in", FAKE_OP_STATE="/nonexistent") == []


# --------------------------------------------------------------------------- argv handling


def test_global_flags_anywhere_and_op_format(op: FakeOp) -> None:
    argv = ["--account=example-account", "--cache", "--no-color", "vault", "list", "--debug"]
    argv += ["--iso-timestamps", "--encoding", "utf-8", "--config", "/tmp/x", "--session", "s"]
    assert json.loads(op.ok(*argv, OP_FORMAT="json"))[0]["name"] == "Staging"
    assert op.ok("vault", "list").startswith(b"ID")
    assert op("vault", "list", "--x").message == "unknown flag: --x"
    assert op("--nope", "read", REF).message == "unknown flag: --nope"
    assert op("vault", "list", "--cache=maybe").message == (
        'invalid argument "maybe" for "--cache" flag: strconv.ParseBool: parsing "maybe": '
        "invalid syntax"
    )
    assert op("frobnicate").message == 'unknown command "frobnicate" for "op"'
    assert op("item", "frobnicate").message == 'unknown command "frobnicate" for "op item"'
    assert op.ok("read", "-n", "--", REF) == b"sk_test_123"


def test_item_edit_rejects_piped_stdin(op: FakeOp) -> None:
    assert op("item", "edit", "x", "password=y", input=b"x").message == "invalid JSON provided"
    assert op("item", "edit", "x", "password=y").message != "invalid JSON provided"


# --------------------------------------------------------------------------- call log


def test_call_log_records_argv_env_names_and_stdin(op: FakeOp, tmp_path: Path) -> None:
    op("vault", "list", OP_SERVICE_ACCOUNT_TOKEN="ops_secret", OP_FORMAT="json")
    op("--version", input=b"")
    with op.state.open("rb") as regular:
        subprocess.run(["op", "--version"], stdin=regular, env=op.env, capture_output=True)
    controller, terminal = pty.openpty()
    try:
        subprocess.run(["op", "--version"], stdin=terminal, env=op.env, capture_output=True)
    finally:
        os.close(controller)
        os.close(terminal)
    subprocess.run(
        ["op", "--version"], env=op.env, capture_output=True, preexec_fn=lambda: os.close(0)
    )
    calls = opstate.read_call_log(op.log)
    assert [c["stdin"] for c in calls] == ["devnull", "pipe", "file", "tty", "closed"]
    first = calls[0]
    assert first["argv"] == ["vault", "list"]
    assert first["env"] == ["OP_FORMAT", "OP_SERVICE_ACCOUNT_TOKEN"]
    assert "ops_secret" not in op.log.read_text()
    assert first["ppid"] == os.getpid() and first["pid"] != os.getpid()
    assert abs(first["t"] - time.time()) < 10
    assert opstate.read_call_log(tmp_path / "absent") == []


def test_concurrent_calls_append_whole_lines(op: FakeOp) -> None:
    procs = [
        subprocess.Popen(
            ["op", "read", REF, "x" * 5000] if i % 2 else ["op", "--version"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=op.env,
        )
        for i in range(8)
    ]
    for proc in procs:
        proc.wait(timeout=10)
    calls = opstate.read_call_log(op.log)
    assert len(calls) == 8 and len({c["pid"] for c in calls}) == 8


# --------------------------------------------------------------------------- opstate


def test_ids_are_deterministic_26_char_base32() -> None:
    again = build_state()
    assert again == STATE
    ids = [v["id"] for v in STATE["vaults"]]
    ids += [i["id"] for v in STATE["vaults"] for i in v["items"]]
    assert all(re.fullmatch(r"[a-z2-7]{26}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert vault("X", id="custom")["id"] == "custom"
    assert item("t", id="given")["id"] == "given"
