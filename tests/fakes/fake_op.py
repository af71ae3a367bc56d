"""A faithful fake of the 1Password CLI (`op` 2.30+) for the devsecrets test suite.

Every output shape, error text and exit code follows `reference/op-cli.md`. A provider that
only works against a lenient fake is broken, so the fake is strict wherever `op` is strict:
errors go to stderr as `[ERROR] YYYY/MM/DD HH:MM:SS <message>` (local time), a failing
command prints nothing on stdout, and exit codes are 0 or 1.

It runs as `python -IS` through the `op` wrapper that `opstate.install_fake_op` writes.
Isolated mode puts neither this directory nor site-packages on `sys.path`, so the fake uses
the standard library only and lives in one file, which is why it is longer than our usual
module.

Environment:
  FAKE_OP_STATE       JSON state file (vaults, items, mode); unset or missing = no vaults.
  FAKE_OP_LOG         append one JSON line per invocation (argv, OP_* names, stdin kind).
  FAKE_OP_MODE        overrides state["mode"]; `<mode>+legacy_exit0` combines a failure
                      mode with the pre-2.32.1 exit status 0.
  FAKE_OP_LATENCY_MS  overrides state["latency_ms"]; slept before answering (not --version).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import stat
import struct
import sys
import time

# Every `op` call pays the fake's start-up, so modules only the type checker needs stay
# unimported (typing and collections cost ≈ 5 ms), as does hashlib (≈ 3 ms) until an id or
# one-time code must be computed.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any, NoReturn

    Json = dict[str, Any]

DEFAULT_VERSION = "2.30.3"
DEFAULT_TIMESTAMP = "2024-01-02T03:04:05Z"
DEFAULT_ACCOUNT: Json = {
    "url": "example-account.1password.com",
    "email": "example_user@example.email",
    "user_uuid": "5GHHPJK5HZC5BAT7WDUXW57G44",
    "account_uuid": "GRXJAN4BY5DPROISKYL55IRCPY",
    "shorthand": "example-account",
}
REFERENCE_SHAPE = "op://<vault>/<item>[/<section>]/<field>"
ALNUM = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
REFERENCE_CHARS = frozenset((ALNUM + b" ._-").decode())
# op-cli.md §4.2: what may precede an unenclosed reference, and what it may contain.
NOT_BEFORE_UNENCLOSED = frozenset(ALNUM + b"-+\\.")
UNENCLOSED_CHARS = frozenset(ALNUM + b"-?_./")
VARIABLE_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
BUILTIN_FIELD_IDS = frozenset(
    {"username", "password", "notesPlain", "credential", "type", "filename", "hostname"}
)
CONCEALED_LABELS = frozenset({"credential", "password"})
ATTRIBUTES = frozenset({"type", "value", "id", "purpose", "otp", "totp"})

NOT_SIGNED_IN = "You are not currently signed in. Please run `op signin --help` for instructions"
NO_ACCOUNTS_PREAMBLE = (
    "No accounts configured for use with 1Password CLI.\n"
    "\n"
    " - Turn on the 1Password desktop app integration to sign in with the accounts you've"
    " added to the app: https://www.1password.dev/cli/app-integration/ for details.\n"
    " - Add an account manually with 'op account add' and sign in by entering your password"
    " on the command line.\n"
)
# Modes where `op` cannot build a client: `error initializing client: <cause>` (§2.4).
CLIENT_INIT_CAUSES = {
    "signed_out": NOT_SIGNED_IN,
    "no_accounts": "",
    "auth_timeout": "authorization timeout",
    "prompt_dismissed": "authorization prompt dismissed, please try again",
    "app_unreachable": "connecting to desktop app: connecting to desktop app timed out",
}
# Modes where the server refuses; op prints these bare (§2.4).
SERVER_REFUSALS = {
    "rate_limited": "(429) Too Many Requests: You've reached the maximum number of this type"
    " of requests this service account is allowed to make. Please retry in 59 minutes or try"
    " other requests.",
    "rate_limited_daily": "(429) Too Many Requests: You've reached the maximum number of this"
    " type of requests this 1Password account is allowed to make. Please retry in 23 hours and"
    " 59 minutes or try other requests.",
    "forbidden": "(403) Forbidden: You aren't authorized to access this resource.",
}
# Desktop-app modes; `whoami` never prompts, so there it just reports "not signed in" (§5.2).
DESKTOP_PROMPT_MODES = frozenset({"hang", "auth_timeout", "prompt_dismissed", "app_unreachable"})
MODES = frozenset({"signed_in", "hang", *CLIENT_INIT_CAUSES, *SERVER_REFUSALS})
LEGACY_EXIT0 = "legacy_exit0"


class OpError(Exception):
    """A failure op reports on stderr as `[ERROR] <local time> <message>`."""

    def __init__(self, message: str, preamble: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.preamble = preamble


class FakeSetupError(Exception):
    """A mistake in the test's setup (bad state file or mode): never an op behaviour."""


# --------------------------------------------------------------------------- ids and state


def _digest(parts: tuple[str, ...]) -> bytes:
    import hashlib

    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def derive_id(*parts: str) -> str:
    """A 26-char lowercase base32 id, stable for the same names, shaped like op's UUIDs."""
    return base64.b32encode(_digest(parts)).decode()[:26].lower()


def derive_hex_id(*parts: str) -> str:
    """A 32-char upper-case hex id, the shape op gives custom fields and sections."""
    return _digest(parts).hex()[:32].upper()


def section_ref(label: str, section_id: str | None = None) -> Json:
    """The `{"id", "label"}` object a sectioned field carries."""
    return {"id": section_id or "Section_" + derive_hex_id("section", label), "label": label}


def normalise_field(field: Json, title: str) -> Json:
    """Fill the id and type op would have given a field the test left out."""
    label = field.get("label") or field.get("id") or ""
    section = field.get("section")
    if isinstance(section, str):
        field["section"] = section_ref(section)
    field.setdefault("label", label)
    if "id" not in field and label in BUILTIN_FIELD_IDS:
        field["id"] = label
    elif "id" not in field:
        section_label = field["section"]["label"] if field.get("section") else ""
        field["id"] = derive_hex_id("field", title, section_label, label)
    field.setdefault("type", "CONCEALED" if label in CONCEALED_LABELS else "STRING")
    return field


def normalise_vault(vault: Json) -> Json:
    """Give a vault and its items deterministic ids and op's default metadata."""
    if "id" not in vault:
        vault["id"] = derive_id("vault", vault["name"])
    vault.setdefault("created_at", DEFAULT_TIMESTAMP)
    vault.setdefault("updated_at", vault["created_at"])
    seen: dict[str, int] = {}
    for item in vault.setdefault("items", []):
        title = item["title"]
        # Duplicate titles (the ambiguity case) need distinct ids; the first keeps the plain one.
        repeat = seen.get(title, 0)
        seen[title] = repeat + 1
        if "id" not in item:
            suffix = [str(repeat)] if repeat else []
            item["id"] = derive_id("item", vault["name"], title, *suffix)
        item.setdefault("version", 1)
        item.setdefault("category", "API_CREDENTIAL")
        item.setdefault("created_at", DEFAULT_TIMESTAMP)
        item.setdefault("updated_at", item["created_at"])
        for field in item.setdefault("fields", []):
            normalise_field(field, title)
    return vault


def load_state(env: Mapping[str, str]) -> Json:
    """Read FAKE_OP_STATE; no file means a signed-in account with no vaults."""
    path = env.get("FAKE_OP_STATE", "")
    state: Json = {}
    try:
        if path:
            with open(path, encoding="utf-8") as handle:
                state = json.load(handle)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as err:
        raise FakeSetupError(f"cannot read FAKE_OP_STATE {path}: {err}") from err
    for vault in state.setdefault("vaults", []):
        normalise_vault(vault)
    state["account"] = {**DEFAULT_ACCOUNT, **state.get("account", {})}
    return state


def resolve_mode(state: Json, env: Mapping[str, str]) -> tuple[str, bool]:
    """The auth mode and whether errors exit 0 (op before 2.32.1)."""
    words = set(str(env.get("FAKE_OP_MODE") or state.get("mode") or "signed_in").split("+"))
    legacy = LEGACY_EXIT0 in words
    words.discard(LEGACY_EXIT0)
    mode = words.pop() if words else "signed_in"
    if words or mode not in MODES:
        raise FakeSetupError(f"unknown FAKE_OP_MODE {sorted([mode, *words])}")
    return mode, legacy


# --------------------------------------------------------------------------- call log


def stdin_kind() -> str:
    """What fd 0 is, so tests can prove op was started with stdin=DEVNULL."""
    try:
        info = os.fstat(0)
    except OSError:
        return "closed"
    if stat.S_ISCHR(info.st_mode):
        if info.st_rdev == os.stat(os.devnull).st_rdev:
            return "devnull"
        return "tty" if os.isatty(0) else "file"
    if stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode):
        return "pipe"
    return "file"


def record_invocation(argv: list[str], env: Mapping[str, str]) -> None:
    """Append one JSON line with a single O_APPEND write, so parallel fakes never interleave.

    Only the names of OP_* variables are logged: their values are credentials.
    """
    path = env.get("FAKE_OP_LOG")
    if not path:
        return
    record = {
        "argv": argv,
        "env": sorted(name for name in env if name.startswith("OP_")),
        "stdin": stdin_kind(),
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "t": time.time(),
    }
    line = (json.dumps(record, ensure_ascii=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- argv


BOOL, VALUE = "bool", "value"
GLOBAL_FLAGS = {
    "account": VALUE,
    "cache": BOOL,
    "config": VALUE,
    "debug": BOOL,
    "encoding": VALUE,
    "format": VALUE,
    "iso-timestamps": BOOL,
    "no-color": BOOL,
    "session": VALUE,
    "help": BOOL,
}
GLOBAL_SHORT = {"h": "help"}


class Command:
    """A command's flags, shorthands, argument count and handler (None for `op`, `op item`)."""

    def __init__(
        self,
        run: Callable[[Context], bytes] | None,
        flags: Mapping[str, str] | None = None,
        short: Mapping[str, str] | None = None,
        nargs: tuple[int, int] = (0, 0),
    ) -> None:
        self.run = run
        self.flags = {**GLOBAL_FLAGS, **(flags or {})}
        self.short = {**GLOBAL_SHORT, **(short or {})}
        self.nargs = nargs


class Invocation:
    """argv split the way cobra splits it: command path, flags and positional arguments."""

    def __init__(self) -> None:
        self.path: list[str] = []
        self.command: Command | None = None
        self.flags: dict[str, Any] = {}
        self.args: list[str] = []


def parse_bool(name: str, text: str) -> bool:
    """Go's strconv.ParseBool, which pflag uses for `--flag=value` on bool flags."""
    if text in {"1", "t", "T", "true", "TRUE", "True"}:
        return True
    if text in {"0", "f", "F", "false", "FALSE", "False"}:
        return False
    raise OpError(
        f'invalid argument "{text}" for "--{name}" flag: '
        f'strconv.ParseBool: parsing "{text}": invalid syntax'
    )


def take_long_flag(token: str, argv: list[str], i: int, flags: Mapping[str, str], out: Json) -> int:
    """Consume `--name`, `--name=value` or `--name value`; return the next argv index."""
    name, has_value, value = token[2:].partition("=")
    kind = flags.get(name)
    if kind is None:
        raise OpError(f"unknown flag: --{name}")
    if kind == BOOL:
        out[name] = parse_bool(name, value) if has_value else True
    elif has_value:
        out[name] = value
    elif i < len(argv):
        out[name] = argv[i]
        i += 1
    else:
        raise OpError(f"flag needs an argument: --{name}")
    return i


def take_short_flags(token: str, argv: list[str], i: int, command: Command, out: Json) -> int:
    """Consume a pflag shorthand cluster such as `-nf`, `-o FILE` or `-oFILE`."""
    cluster = token[1:]
    for pos, letter in enumerate(cluster):
        name = command.short.get(letter)
        if name is None:
            raise OpError(f"unknown shorthand flag: '{letter}' in {token}")
        if command.flags[name] == BOOL:
            out[name] = True
            continue
        rest = cluster[pos + 1 :]
        if rest:
            out[name] = rest.removeprefix("=")
        elif i < len(argv):
            out[name] = argv[i]
            i += 1
        else:
            raise OpError(f"flag needs an argument: '{letter}' in {token}")
        break
    return i


def descend(inv: Invocation, word: str) -> None:
    """Walk one word down the command tree, as cobra does before parsing flags."""
    path = (*inv.path, word)
    if path in COMMANDS:
        inv.command = COMMANDS[path]
    elif len(path) > 1 or word not in GROUPS:
        parent = " ".join(("op", *inv.path))
        raise OpError(f'unknown command "{word}" for "{parent}"')
    inv.path.append(word)


def parse_argv(argv: list[str]) -> Invocation:
    """Parse global flags anywhere, command flags after the command name, `--` ends flags."""
    inv = Invocation()
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        command = inv.command or (GROUP if inv.path else ROOT)
        if token == "--":
            inv.args.extend(argv[i:])
            break
        if token.startswith("--"):
            i = take_long_flag(token, argv, i, command.flags, inv.flags)
        elif token.startswith("-") and token != "-":
            i = take_short_flags(token, argv, i, command, inv.flags)
        elif inv.command is None:
            descend(inv, token)
        else:
            inv.args.append(token)
    return inv


def check_arg_count(inv: Invocation) -> None:
    """cobra's ExactArgs / RangeArgs messages."""
    assert inv.command is not None
    low, high = inv.command.nargs
    got = len(inv.args)
    if low <= got <= high:
        return
    if low == high:
        raise OpError(f"accepts {low} arg(s), received {got}")
    raise OpError(f"accepts between {low} and {high} arg(s), received {got}")


# --------------------------------------------------------------------------- context and auth


class Context:
    """Everything one command needs: its flags and arguments, the state, mode and env."""

    def __init__(self, inv: Invocation, state: Json, mode: str, env: Mapping[str, str]) -> None:
        self.flags = inv.flags
        self.args = inv.args
        self.state = state
        self.mode = mode
        self.env = env

    @property
    def json(self) -> bool:
        """`--format json`, or OP_FORMAT=json when the flag is absent."""
        return (self.flags.get("format") or self.env.get("OP_FORMAT", "")) == "json"

    @property
    def account(self) -> Json:
        account: Json = self.state["account"]
        return account

    @property
    def account_filter(self) -> str:
        """`--account` wins over OP_ACCOUNT; empty when neither is set."""
        return str(self.flags.get("account") or self.env.get("OP_ACCOUNT", ""))


def hang_forever() -> NoReturn:
    """An unanswered biometric prompt: block until the caller's timeout kills us."""
    while True:
        time.sleep(3600)


def account_matches(account: Json, wanted: str) -> bool:
    """op matches `--account` against the sign-in address, email, ids or shorthand."""
    url = account["url"].removeprefix("https://").rstrip("/")
    names = {url, url.split(".")[0], account["email"], account["user_uuid"]}
    names |= {account["account_uuid"], account.get("shorthand", "")}
    wanted = wanted.removeprefix("https://").rstrip("/").lower()
    return wanted in {name.lower() for name in names if name}


def check_auth(ctx: Context, reference: str | None = None) -> None:
    """Fail the way op fails before it can reach a vault in the current mode.

    `reference` is the secret being read: op then prefixes `could not read secret '<ref>': `.
    """
    if ctx.mode == "hang":
        hang_forever()
    if ctx.mode in SERVER_REFUSALS:
        raise OpError(SERVER_REFUSALS[ctx.mode])
    cause = CLIENT_INIT_CAUSES.get(ctx.mode)
    wanted = ctx.account_filter
    if cause is None and wanted and not account_matches(ctx.account, wanted):
        cause = f"no account found for filter {wanted}"
    if cause is None:
        return
    message = f"error initializing client: {cause}"
    if reference is not None:
        message = f"could not read secret '{reference}': {message}"
    raise OpError(message, NO_ACCOUNTS_PREAMBLE if ctx.mode == "no_accounts" else "")


# --------------------------------------------------------------------------- lookups


def ambiguous(kind: str, wanted: str, lines: Iterable[str]) -> str:
    """op's `More than one … matches` block: trailing space, then one tab-indented line each."""
    head = f'More than one {kind} matches "{wanted}". Try again and specify the {kind} by its ID: '
    return "\n".join([head, *(f"\t* {line}" for line in lines)])


def vault_not_found(wanted: str) -> str:
    return f'"{wanted}" isn\'t a vault in this account. Specify the vault with its ID or name.'


def find_vault(state: Json, wanted: str) -> Json:
    """A vault by ID or name, case-insensitively; raises OpError with op's bare message."""
    key = wanted.lower()
    vaults: list[Json] = state["vaults"]
    matches = [v for v in vaults if v["id"].lower() == key] or [
        v for v in vaults if v["name"].lower() == key
    ]
    if not matches:
        raise OpError(vault_not_found(wanted))
    if len(matches) > 1:
        lines = (f'for the vault "{v["name"]}": {v["id"]}' for v in matches)
        raise OpError(ambiguous("vault", wanted, lines))
    return matches[0]


def find_items(
    vaults: Iterable[Json], wanted: str, *, archived_by_name: bool, archived_by_id: bool
) -> list[tuple[Json, Json]]:
    """(vault, item) pairs whose ID, or failing that title, matches case-insensitively."""
    key = wanted.lower()
    pairs = [(vault, item) for vault in vaults for item in vault["items"]]
    by_id = [(v, i) for v, i in pairs if i["id"].lower() == key]
    if by_id:
        return [(v, i) for v, i in by_id if archived_by_id or not is_archived(i)]
    return [
        (v, i)
        for v, i in pairs
        if i["title"].lower() == key and (archived_by_name or not is_archived(i))
    ]


def item_ambiguity(wanted: str, pairs: list[tuple[Json, Json]]) -> str:
    lines = (f'for the item "{i["title"]}" in vault {v["name"]}: {i["id"]}' for v, i in pairs)
    return ambiguous("item", wanted, lines)


def is_archived(item: Json) -> bool:
    return bool(item.get("state") == "ARCHIVED")


def field_value(field: Json) -> bytes:
    """The raw bytes of a field; `value_b64` lets tests store NULs and non-UTF-8 bytes."""
    if "value_b64" in field:
        return base64.b64decode(field["value_b64"])
    return str(field.get("value", "")).encode()


def field_matches(field: Json, wanted: str) -> bool:
    key = wanted.lower()
    return bool(field["id"].lower() == key or field.get("label", "").lower() == key)


def section_matches(field: Json, wanted: str) -> bool:
    section = field.get("section")
    if not section:
        return False
    key = wanted.lower()
    return bool(section["id"].lower() == key or section.get("label", "").lower() == key)


def totp(seed: str, now: float) -> str:
    """RFC 6238 TOTP (SHA-1, 30 s, 6 digits) from a base32 seed or an otpauth:// URI."""
    import hashlib
    import hmac

    if seed.startswith("otpauth://"):
        query = seed.partition("?")[2]
        params = dict(part.partition("=")[::2] for part in query.split("&"))
        seed = params.get("secret", "")
    secret = seed.replace(" ", "").upper()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(now // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


# --------------------------------------------------------------------------- secret references


class Reference:
    """A syntactically valid `op://vault/item[/section]/field[?query]`."""

    def __init__(self, text: str, segments: list[str], query: dict[str, str]) -> None:
        self.text = text
        self.vault, self.item = segments[0], segments[1]
        self.section = segments[2] if len(segments) == 4 else None
        self.field = segments[-1]
        self.query = query


def invalid_reference(text: str, cause: str) -> OpError:
    return OpError(f"invalid secret reference '{text}': {cause}")


def parse_query(text: str, query: str) -> dict[str, str]:
    """`?attribute=` (alias `attr`) and `?ssh-format=openssh` (§1.3)."""
    params: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        key = "attribute" if key == "attr" else key
        if key == "attribute" and value.lower() in ATTRIBUTES:
            params[key] = value.lower()
        elif key == "ssh-format" and value == "openssh":
            params[key] = value
        else:
            raise invalid_reference(text, f"unsupported query parameter '{part}'")
    return params


def parse_reference(text: str) -> Reference:
    """Check the syntax of a reference, with op's `invalid secret reference` errors."""
    if not text.startswith("op://"):
        raise invalid_reference(text, f"secret references should match {REFERENCE_SHAPE}")
    path, _, query = text[len("op://") :].partition("?")
    bad = next((char for char in path if char != "/" and char not in REFERENCE_CHARS), None)
    if bad is not None:
        raise invalid_reference(text, f"invalid character in secret reference: '{bad}'")
    segments = path.split("/")
    if len(segments) > 4:
        raise invalid_reference(
            text, f"too many '/': secret references should match {REFERENCE_SHAPE}"
        )
    if len(segments) < 3 or "" in segments:
        raise invalid_reference(text, f"secret references should match {REFERENCE_SHAPE}")
    return Reference(text, segments, parse_query(text, query))


def locate_field(state: Json, ref: Reference) -> Json:
    """The field a reference names; archived items cannot be read (§1.5)."""
    where = f"{ref.vault}/{ref.item}"
    try:
        vault = find_vault(state, ref.vault)
    except OpError as err:
        raise OpError(f"could not get item {where}: {err.message}") from None
    pairs = find_items([vault], ref.item, archived_by_name=False, archived_by_id=False)
    if not pairs:
        raise OpError(
            f'could not get item {where}: "{ref.item}" isn\'t an item in the "{ref.vault}" '
            "vault. Specify the item with its UUID, name, or domain."
        )
    if len(pairs) > 1:
        raise OpError(f"could not get item {where}: {item_ambiguity(ref.item, pairs)}")
    fields: list[Json] = pairs[0][1]["fields"]
    if ref.section is not None:
        fields = [field for field in fields if section_matches(field, ref.section)]
    for field in fields:
        if field_matches(field, ref.field):
            return field
    wanted = ref.field if ref.section is None else f"{ref.section}/{ref.field}"
    raise OpError(f"item '{where}' does not have a field '{wanted}'")


def read_reference(state: Json, ref: Reference) -> bytes:
    """The bytes `op read` prints for a reference (before its trailing newline)."""
    try:
        field = locate_field(state, ref)
        return apply_attribute(field, ref.query.get("attribute", "value"))
    except OpError as err:
        raise OpError(f"could not read secret '{ref.text}': {err.message}") from None


def apply_attribute(field: Json, attribute: str) -> bytes:
    """`?attribute=`: type is printed lower-case, otp computes the current code."""
    if attribute == "type":
        return str(field["type"]).lower().encode()
    if attribute == "id":
        return str(field["id"]).encode()
    if attribute == "purpose":
        return str(field.get("purpose", "")).lower().encode()
    if attribute in {"otp", "totp"}:
        if field["type"] != "OTP":
            raise OpError(f"field '{field['label']}' is not a one-time password field")
        return totp(field_value(field).decode(), time.time()).encode()
    return field_value(field)


# --------------------------------------------------------------------------- inject templates


def lookup_variable(env: Mapping[str, str], name: str) -> str:
    """Template variable names are case-insensitive (§1.4); an exact match wins."""
    if name in env:
        return env[name]
    folded = name.lower()
    return next((env[key] for key in sorted(env) if key.lower() == folded), "")


def expand_variable(tpl: bytes, i: int, env: Mapping[str, str]) -> tuple[bytes, int] | None:
    """Expand `$NAME`, `${ NAME }` or `${NAME:-default}` at tpl[i] == b"$"."""
    if tpl.startswith(b"{", i + 1):
        close = tpl.find(b"}", i + 2)
        if close < 0:
            return None
        name, has_default, default = tpl[i + 2 : close].partition(b":-")
        name = name.strip()
        if not VARIABLE_NAME.fullmatch(name):
            return None
        value = lookup_variable(env, name.decode())
        return (value.encode() or (default if has_default else b"")), close + 1
    match = VARIABLE_NAME.match(tpl, i + 1)
    if not match:
        return None
    return lookup_variable(env, match.group().decode()).encode(), match.end()


def scan_reference(tpl: bytes, i: int, env: Mapping[str, str], enclosed: bool) -> tuple[str, int]:
    """Read a reference at tpl[i] == `op://`, expanding variables; return it and its end.

    Enclosed ones run to `}}` and may hold spaces (end is -1 when there is no `}}` on the
    line); unenclosed ones stop at the first byte outside alphanumerics and `-?_./` (§4.2).
    """
    buf = bytearray(b"op://")
    i += len("op://")
    while i < len(tpl):
        if enclosed and tpl.startswith(b"}}", i):
            return bytes(buf).rstrip(b" ").decode("utf-8", "replace"), i + 2
        byte = tpl[i]
        expanded = expand_variable(tpl, i, env) if byte == ord("$") else None
        if expanded is not None:
            buf += expanded[0]
            i = expanded[1]
        elif byte != ord("\n") if enclosed else byte in UNENCLOSED_CHARS:
            buf.append(byte)
            i += 1
        else:
            break
    return bytes(buf).decode("utf-8", "replace"), -1 if enclosed else i


def scan_string(tpl: bytes, i: int) -> tuple[bytes, int] | None:
    """The `{{ "…" }}` escape: a quoted literal where `\\"` stands for `"`; i is at the quote."""
    buf = bytearray()
    i += 1
    while i < len(tpl):
        byte = tpl[i]
        if byte == ord("\\") and tpl[i + 1 : i + 2] in (b'"', b"\\"):
            buf += tpl[i + 1 : i + 2]
            i += 2
        elif byte == ord('"'):
            end = skip_spaces(tpl, i + 1)
            return (bytes(buf), end + 2) if tpl.startswith(b"}}", end) else None
        else:
            buf.append(byte)
            i += 1
    return None


def skip_spaces(tpl: bytes, i: int) -> int:
    while tpl[i : i + 1] == b" ":
        i += 1
    return i


# A parsed template is literal bytes interleaved with references (str).
TemplatePart = bytes | str


def scan_enclosed(tpl: bytes, i: int, env: Mapping[str, str]) -> tuple[TemplatePart, int] | None:
    """A `{{ … }}` construct at tpl[i]: a reference or an escaped string, else None."""
    start = skip_spaces(tpl, i + 2)
    if tpl.startswith(b'"', start):
        return scan_string(tpl, start)
    if tpl.startswith(b"op://", start):
        ref, end = scan_reference(tpl, start, env, enclosed=True)
        return (ref, end) if end >= 0 else None
    return None


def starts_unenclosed(tpl: bytes, i: int) -> bool:
    """`op://` not preceded by an alphanumeric, `-`, `+`, `\\` or `.` (§4.2)."""
    return tpl.startswith(b"op://", i) and (i == 0 or tpl[i - 1] not in NOT_BEFORE_UNENCLOSED)


def parse_template(tpl: bytes, env: Mapping[str, str]) -> list[TemplatePart]:
    """Split a template into literal bytes and references, per the rules of §4.2."""
    parts: list[TemplatePart] = []
    literal_start = i = 0
    while i < len(tpl):
        found: tuple[TemplatePart, int] | None = None
        if tpl.startswith(b"{{", i):
            found = scan_enclosed(tpl, i, env)
        elif starts_unenclosed(tpl, i):
            found = scan_reference(tpl, i, env, enclosed=False)
        if found is None:
            i += 1
            continue
        parts += [tpl[literal_start:i], found[0]]
        literal_start = i = found[1]
    parts.append(tpl[literal_start:])
    return parts


# --------------------------------------------------------------------------- JSON shapes


def dump_json(data: object) -> bytes:
    """op's output: Go's MarshalIndent with two spaces, UTF-8, one trailing newline."""
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def item_summary(item: Json, vault: Json, account: Json) -> Json:
    """`op item list` keys in op's order, optional ones only when set (§5.5). No values."""
    data: Json = {"id": item["id"], "title": item["title"]}
    if item.get("favorite"):
        data["favorite"] = True
    if item.get("tags"):
        data["tags"] = list(item["tags"])
    data["version"] = item["version"]
    if is_archived(item):
        data["state"] = "ARCHIVED"
    data["vault"] = {"id": vault["id"], "name": vault["name"]}
    data["category"] = item["category"]
    data["last_edited_by"] = item.get("last_edited_by", account["user_uuid"])
    data["created_at"] = item["created_at"]
    data["updated_at"] = item["updated_at"]
    for key in ("additional_information", "urls"):
        if item.get(key):
            data[key] = item[key]
    return data


def reference_segment(name: str, fallback_id: str) -> str:
    """A name usable in a reference, else the ID, as op's `reference` key does (§1.2)."""
    return name if name and all(char in REFERENCE_CHARS for char in name) else fallback_id


def field_reference(field: Json, item: Json, vault: Json) -> str:
    parts = [
        reference_segment(vault["name"], vault["id"]),
        reference_segment(item["title"], item["id"]),
    ]
    if field.get("section"):
        parts.append(reference_segment(field["section"].get("label", ""), field["section"]["id"]))
    parts.append(reference_segment(field.get("label", ""), field["id"]))
    return "op://" + "/".join(parts)


def field_json(field: Json, item: Json, vault: Json) -> Json:
    """A field as `op item get` prints it: `section` only when sectioned, no empty `value`."""
    data: Json = {"id": field["id"]}
    if field.get("section"):
        data["section"] = field["section"]
    data["type"] = field["type"]
    if field.get("purpose"):
        data["purpose"] = field["purpose"]
    data["label"] = field.get("label", "")
    value = field_value(field)
    if value:
        data["value"] = value.decode("utf-8", "replace")
    if field["type"] == "OTP" and value:
        data["totp"] = totp(value.decode(), time.time())
    if "entropy" in field:
        data["entropy"] = field["entropy"]
    data["reference"] = field_reference(field, item, vault)
    if "password_details" in field:
        data["password_details"] = field["password_details"]
    return data


def item_sections(item: Json) -> list[Json]:
    """The item's sections, or those its fields name when the state lists none."""
    sections: list[Json] = list(item.get("sections") or [])
    known = {section["id"] for section in sections}
    for field in item["fields"]:
        section = field.get("section")
        if section and section["id"] not in known:
            known.add(section["id"])
            sections.append(section)
    return sections


def item_detail(item: Json, vault: Json, account: Json) -> Json:
    """`op item get --format json` (§5.6): the summary plus sections and fields with values."""
    data = item_summary(item, vault, account)
    sections = item_sections(item)
    if sections:
        data["sections"] = sections
    data["fields"] = [field_json(field, item, vault) for field in item["fields"]]
    return data


def vault_summary(vault: Json) -> Json:
    """`op vault list` since 2.30: with created_at, updated_at and the item count (§5.4)."""
    return {
        "id": vault["id"],
        "name": vault["name"],
        "content_version": vault.get("content_version", live_item_count(vault) + 1),
        "created_at": vault["created_at"],
        "updated_at": vault["updated_at"],
        "items": live_item_count(vault),
    }


def live_item_count(vault: Json) -> int:
    return sum(not is_archived(item) for item in vault["items"])


def table(headers: list[str], rows: Iterable[Iterable[str]]) -> bytes:
    """op's human output: left-aligned columns."""
    lines = [headers, *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(line[col]) for line in lines) for col in range(len(headers))]
    text = "\n".join(
        "    ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
    return (text + "\n").encode()


# --------------------------------------------------------------------------- output files


def parse_file_mode(text: str) -> int:
    try:
        return int(text, 8)
    except ValueError:
        raise OpError(
            f'invalid argument "{text}" for "--file-mode" flag: invalid file mode'
        ) from None


def write_out_file(ctx: Context, path: str, data: bytes) -> bytes:
    """`--out-file`: mode 0600 (or --file-mode); an existing file needs `--force`.

    Without --force op asks for confirmation: with a terminal that prompt blocks, without one
    the command fails. op then prints the path of the file it wrote.
    """
    mode = parse_file_mode(str(ctx.flags.get("file-mode", "0600")))
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if ctx.flags.get("force") else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        if stdin_kind() == "tty":
            hang_forever()
        raise OpError(f"{path} already exists, use --force to overwrite it") from None
    except OSError as err:
        raise OpError(f"open {path}: {str(err.strerror).lower()}") from None
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(fd, mode)
        handle.write(data)
    return (os.path.abspath(path) + "\n").encode()


def stdout_is_regular_file() -> bool:
    try:
        return stat.S_ISREG(os.fstat(1).st_mode)
    except OSError:
        return False


def sanitise_for_file(value: bytes) -> bytes:
    """`op read` into a regular file mangles binary: invalid UTF-8 → U+FFFD, DEL dropped."""
    return value.decode("utf-8", "replace").replace("\x7f", "").encode()


def read_stdin() -> bytes:
    """All of stdin as bytes; a closed fd 0 reads as empty."""
    chunks = []
    try:
        while chunk := os.read(0, 65536):
            chunks.append(chunk)
    except OSError:
        return b""
    return b"".join(chunks)


# --------------------------------------------------------------------------- commands


def cmd_read(ctx: Context) -> bytes:
    """`op read <reference>`: the value plus one newline (none with -n)."""
    ref = parse_reference(ctx.args[0])
    check_auth(ctx, ref.text)
    value = read_reference(ctx.state, ref)
    if ctx.flags.get("out-file"):
        return write_out_file(ctx, str(ctx.flags["out-file"]), value)
    if not ctx.flags.get("no-newline"):
        value += b"\n"
    return sanitise_for_file(value) if stdout_is_regular_file() else value


def read_template(ctx: Context) -> bytes:
    path = ctx.flags.get("in-file")
    if not path:
        return read_stdin()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        raise OpError(f"open {path}: {str(err.strerror).lower()}") from None


def cmd_inject(ctx: Context) -> bytes:
    """`op inject`: all references resolve or nothing is printed; one newline is appended."""
    parts = parse_template(read_template(ctx), ctx.env)
    refs = {part: parse_reference(part) for part in parts if isinstance(part, str)}
    if refs:
        check_auth(ctx, next(iter(refs)))
    values = {text: read_reference(ctx.state, ref) for text, ref in refs.items()}
    rendered = b"".join(values[part] if isinstance(part, str) else part for part in parts)
    if ctx.flags.get("out-file"):
        return write_out_file(ctx, str(ctx.flags["out-file"]), rendered + b"\n")
    return rendered + b"\n"


def selected_vaults(ctx: Context) -> list[Json]:
    wanted = ctx.flags.get("vault")
    return [find_vault(ctx.state, str(wanted))] if wanted else list(ctx.state["vaults"])


def split_list(text: object) -> list[str]:
    return [part.strip() for part in str(text or "").split(",") if part.strip()]


def item_listed(ctx: Context, item: Json) -> bool:
    """--include-archive, --tags (any tag, nested `tag/sub` too) and --categories filters."""
    if is_archived(item) and not ctx.flags.get("include-archive"):
        return False
    tags = [tag.lower() for tag in split_list(ctx.flags.get("tags"))]
    own = [tag.lower() for tag in item.get("tags", [])]
    if tags and not any(t == w or t.startswith(w + "/") for t in own for w in tags):
        return False
    categories = {c.upper().replace(" ", "_") for c in split_list(ctx.flags.get("categories"))}
    return not categories or item["category"] in categories


def cmd_item_list(ctx: Context) -> bytes:
    """`op item list`: metadata only, never a value (§5.5)."""
    check_auth(ctx)
    rows = [
        item_summary(item, vault, ctx.account)
        for vault in selected_vaults(ctx)
        for item in vault["items"]
        if item_listed(ctx, item)
    ]
    if ctx.json:
        return dump_json(rows)
    return table(
        ["ID", "TITLE", "VAULT", "EDITED"],
        ([r["id"], r["title"], r["vault"]["name"], r["updated_at"]] for r in rows),
    )


def find_item_for_get(ctx: Context, wanted: str) -> tuple[Json, Json]:
    """`op item get`: archived items only by ID or with --include-archive (§1.5)."""
    vault_name = ctx.flags.get("vault")
    pairs = find_items(
        selected_vaults(ctx),
        wanted,
        archived_by_name=bool(ctx.flags.get("include-archive")),
        archived_by_id=True,
    )
    if len(pairs) > 1:
        raise OpError(item_ambiguity(wanted, pairs))
    if pairs:
        return pairs[0]
    where = f' in the "{vault_name}" vault' if vault_name else ""
    raise OpError(
        f'"{wanted}" isn\'t an item{where}. Specify the item with its UUID, name, or domain.'
    )


def concealed_placeholder(item: Json) -> str:
    return f"[use 'op item get {item['id']} --reveal' to reveal]"


def human_value(ctx: Context, field: Json, item: Json) -> str:
    """Since 2.30 human output hides CONCEALED values unless --reveal."""
    if field["type"] == "CONCEALED" and not ctx.flags.get("reveal"):
        return concealed_placeholder(item)
    return field_value(field).decode("utf-8", "replace")


def select_fields(ctx: Context, item: Json) -> list[Json]:
    """`--fields label=a,type=concealed,b`: the item's fields matching any selector."""
    selectors = [s.partition("=") for s in split_list(ctx.flags.get("fields"))]
    wanted = [(key, value) if sep else ("label", key) for key, sep, value in selectors]
    chosen = [
        field
        for field in item["fields"]
        if any(
            (key == "label" and field.get("label", "").lower() == value.lower())
            or (key == "type" and field["type"].lower() == value.lower())
            for key, value in wanted
        )
    ]
    if not chosen:
        names = ",".join(value for _, value in wanted)
        raise OpError(f"item '{item['title']}' does not have a field '{names}'")
    return chosen


def render_item(ctx: Context, vault: Json, item: Json) -> bytes:
    """One item for `op item get`: JSON, a --fields selection, an --otp code or a summary."""
    if ctx.flags.get("otp"):
        otp = next((f for f in item["fields"] if f["type"] == "OTP"), None)
        if otp is None:
            raise OpError(f"item '{item['title']}' does not have a one-time password field")
        return (totp(field_value(otp).decode(), time.time()) + "\n").encode()
    if ctx.flags.get("fields"):
        fields = select_fields(ctx, item)
        if ctx.json:
            shaped = [field_json(field, item, vault) for field in fields]
            return dump_json(shaped[0] if len(shaped) == 1 else shaped)
        return (",".join(human_value(ctx, field, item) for field in fields) + "\n").encode()
    if ctx.json:
        return dump_json(item_detail(item, vault, ctx.account))
    return human_item(ctx, vault, item)


def human_item(ctx: Context, vault: Json, item: Json) -> bytes:
    lines = [
        f"ID:          {item['id']}",
        f"Title:       {item['title']}",
        f"Vault:       {vault['name']} ({vault['id']})",
        f"Created:     {item['created_at']}",
        f"Updated:     {item['updated_at']}",
        f"Favorite:    {str(bool(item.get('favorite'))).lower()}",
        f"Tags:        {', '.join(item.get('tags', []))}",
        f"Version:     {item['version']}",
        f"Category:    {item['category']}",
        "Fields:",
        *(f"  {f.get('label') or f['id']}:    {human_value(ctx, f, item)}" for f in item["fields"]),
    ]
    return ("\n".join(lines) + "\n").encode()


def cmd_item_get(ctx: Context) -> bytes:
    """`op item get ITEM`; `-` reads one item specifier per line of stdin (§5.6)."""
    wanted = ctx.args[0]
    lines = read_stdin().decode().splitlines() if wanted == "-" else [wanted]
    specifiers = [line.strip() for line in lines if line.strip()]
    check_auth(ctx)
    found = [find_item_for_get(ctx, specifier) for specifier in specifiers]
    return b"".join(render_item(ctx, vault, item) for vault, item in found)


def cmd_item_write(ctx: Context) -> bytes:
    """`op item create/edit`: piped stdin switches op into JSON-template mode (§5.6).

    Go treats any non-character-device stdin as piped, so even an empty pipe is read and
    rejected. Changing items is not emulated: the tests only need this sniff.
    """
    if stdin_kind() in {"pipe", "file"}:
        try:
            json.loads(read_stdin())
        except ValueError:
            raise OpError("invalid JSON provided") from None
    check_auth(ctx)
    raise OpError("fake op: creating and editing items is not emulated")


def cmd_vault_list(ctx: Context) -> bytes:
    check_auth(ctx)
    vaults = [vault_summary(vault) for vault in ctx.state["vaults"]]
    if ctx.json:
        return dump_json(vaults)
    return table(["ID", "NAME"], ([v["id"], v["name"]] for v in vaults))


def cmd_vault_get(ctx: Context) -> bytes:
    """`op vault get V` (§5.4)."""
    check_auth(ctx)
    vault = find_vault(ctx.state, ctx.args[0])
    data: Json = {"id": vault["id"], "name": vault["name"]}
    data["content_version"] = vault_summary(vault)["content_version"]
    if vault.get("description"):
        data["description"] = vault["description"]
    data["attribute_version"] = vault.get("attribute_version", 1)
    data["items"] = live_item_count(vault)
    data["type"] = vault.get("type", "USER_CREATED")
    data["created_at"] = vault["created_at"]
    data["updated_at"] = vault["updated_at"]
    if ctx.json:
        return dump_json(data)
    return b"".join(f"{key}: {value}\n".encode() for key, value in data.items())


def cmd_account_list(ctx: Context) -> bytes:
    """`op account list` reads local config only: no prompt, `[]` without accounts (§5.3).

    `shorthand` is present only for manually added accounts (the signed_out mode).
    """
    accounts: list[Json] = []
    if ctx.mode != "no_accounts":
        keys = ["url", "email", "user_uuid", "account_uuid"]
        keys += ["shorthand"] if ctx.mode == "signed_out" else []
        accounts.append({key: ctx.account[key] for key in keys})
    if ctx.json:
        return dump_json(accounts)
    rows = ([a["url"], a["email"], a["user_uuid"]] for a in accounts)
    return table(["URL", "EMAIL", "USER ID"], rows)


def cmd_whoami(ctx: Context) -> bytes:
    """`op whoami`: it never shows the desktop prompt, so it can fail while reads work (§5.2)."""
    wanted = ctx.account_filter
    if ctx.mode == "no_accounts" or (wanted and not account_matches(ctx.account, wanted)):
        raise OpError(f"no account found for filter {wanted}")
    if ctx.mode == "signed_out" or ctx.mode in DESKTOP_PROMPT_MODES:
        raise OpError("account is not signed in")
    if ctx.state.get("whoami_signed_out"):
        raise OpError("account is not signed in")
    account = ctx.account
    data = {
        "url": f"https://{account['url']}/",
        "email": account["email"],
        "user_uuid": account["user_uuid"],
        "account_uuid": account["account_uuid"],
    }
    if ctx.json:
        return dump_json(data)
    lines = [f"URL:        {data['url']}", f"Email:      {data['email']}"]
    lines.append(f"User ID:    {data['user_uuid']}")
    return ("\n".join(lines) + "\n").encode()


def cmd_signin(ctx: Context) -> bytes:
    """With desktop-app integration `op signin` prints nothing and exits 0 (§5.7).

    A manual sign-in needs the account password typed on a terminal, which no test can do.
    """
    if ctx.mode == "signed_out":
        raise OpError("could not sign in: the account password can only be entered on a terminal")
    if ctx.mode not in SERVER_REFUSALS:
        check_auth(ctx)
    return b""


COMMANDS: dict[tuple[str, ...], Command] = {
    ("whoami",): Command(cmd_whoami),
    ("signin",): Command(cmd_signin, {"raw": BOOL, "force": BOOL}, {"f": "force"}),
    ("read",): Command(
        cmd_read,
        {"no-newline": BOOL, "out-file": VALUE, "force": BOOL, "file-mode": VALUE},
        {"n": "no-newline", "o": "out-file", "f": "force"},
        nargs=(1, 1),
    ),
    ("inject",): Command(
        cmd_inject,
        {"in-file": VALUE, "out-file": VALUE, "force": BOOL, "file-mode": VALUE},
        {"i": "in-file", "o": "out-file", "f": "force"},
    ),
    ("item", "list"): Command(
        cmd_item_list,
        {
            "vault": VALUE,
            "tags": VALUE,
            "categories": VALUE,
            "include-archive": BOOL,
            "favorite": BOOL,
            "long": BOOL,
        },
    ),
    ("item", "get"): Command(
        cmd_item_get,
        {
            "vault": VALUE,
            "fields": VALUE,
            "reveal": BOOL,
            "otp": BOOL,
            "include-archive": BOOL,
            "share-link": BOOL,
        },
        nargs=(1, 1),
    ),
    ("item", "edit"): Command(
        cmd_item_write,
        {"vault": VALUE, "title": VALUE, "tags": VALUE, "url": VALUE, "dry-run": BOOL},
        nargs=(1, 1 << 16),
    ),
    ("item", "create"): Command(
        cmd_item_write,
        {
            "vault": VALUE,
            "title": VALUE,
            "tags": VALUE,
            "url": VALUE,
            "category": VALUE,
            "template": VALUE,
            "dry-run": BOOL,
        },
        nargs=(0, 1 << 16),
    ),
    ("vault", "list"): Command(cmd_vault_list),
    ("vault", "get"): Command(cmd_vault_get, nargs=(1, 1)),
    ("account", "list"): Command(cmd_account_list),
}
GROUPS = frozenset(path[0] for path in COMMANDS if len(path) > 1)
# Flags accepted before a leaf command is known: `op --version`, `op item --help`.
ROOT = Command(None, {"version": BOOL})
GROUP = Command(None)


# --------------------------------------------------------------------------- main


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def report(err: OpError) -> None:
    stamp = time.strftime("%Y/%m/%d %H:%M:%S")
    write_all(2, f"{err.preamble}[ERROR] {stamp} {err.message}\n".encode())


def run(argv: list[str], state: Json, mode: str, env: Mapping[str, str]) -> bytes:
    """Parse, wait the simulated latency, check auth and run one command."""
    inv = parse_argv(argv)
    if inv.command is None:
        if inv.flags.get("version") and not inv.path:
            return f"{state.get('version', DEFAULT_VERSION)}\n".encode()
        return f"Usage:  {' '.join(['op', *inv.path])} [command] [flags]\n".encode()
    if inv.flags.get("help"):
        return f"Usage:  {' '.join(['op', *inv.path])} [flags]\n".encode()
    check_arg_count(inv)
    latency = float(env.get("FAKE_OP_LATENCY_MS") or state.get("latency_ms") or 0)
    time.sleep(latency / 1000)
    assert inv.command.run is not None
    return inv.command.run(Context(inv, state, mode, env))


def main(argv: list[str]) -> int:
    """Entry point: exit 0 on success, 1 on failure (0 in legacy_exit0 mode), 2 on bad setup."""
    env = dict(os.environ)
    record_invocation(argv, env)  # first: opening any file could reuse a closed fd 0
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # die on a closed pipe like a Go binary
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        state = load_state(env)
        mode, legacy = resolve_mode(state, env)
    except FakeSetupError as err:
        write_all(2, f"fake op: {err}\n".encode())
        return 2
    try:
        output = run(argv, state, mode, env)
    except OpError as err:
        report(err)
        return 0 if legacy else 1
    write_all(1, output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
