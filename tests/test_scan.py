"""The secret scanner: one of each kind found, look-alikes left alone, no value ever shown."""

from __future__ import annotations

import random
import string
from pathlib import Path

from devsecrets.scan import looks_secret, scan_environment, scan_text
from devsecrets.scanfiles import dotenv_files, scan_home, scan_tree

RNG = random.Random(7)


def token(alphabet: str, n: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
PLANTED = {
    "AWS access key": "AKIA" + token(string.ascii_uppercase + "234567", 16),
    "GitHub token": "ghp_" + token(ALNUM, 36),
    "OpenAI key": "sk-proj-" + token(ALNUM, 40),
    "Slack token": "xoxb-" + token(string.digits, 12) + "-" + token(ALNUM, 24),
    "Stripe key": "sk_test_" + token(ALNUM, 24),
    "URL with password": "postgres://app:" + token(ALNUM, 18) + "@db.internal:5432/app",
    "high-entropy secret": token(ALNUM + "+/", 32),
}
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def plant(root: Path) -> None:
    (root / "src").mkdir(parents=True)
    (root / "src" / "settings.py").write_text(
        f'AWS_ID = "{PLANTED["AWS access key"]}"\nGH = "{PLANTED["GitHub token"]}"\n'
        f'OPENAI = "{PLANTED["OpenAI key"]}"\nSLACK = "{PLANTED["Slack token"]}"\n'
    )
    (root / ".env").write_text(
        f"STRIPE_KEY={PLANTED['Stripe key']}\nDATABASE_URL={PLANTED['URL with password']}\n"
        f"API_TOKEN={PLANTED['high-entropy secret']}\nDEBUG=true\n"
    )
    (root / "deploy_key").write_text(PRIVATE_KEY)
    # Look-alikes that must not be flagged.
    (root / "README.md").write_text(
        "Set AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE and\n"
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY (from the AWS docs).\n"
        "Connect with postgres://user:password@localhost/db or postgres://u:${DB_PASSWORD}@h/db\n"
    )
    (root / ".env.example").write_text(
        "API_TOKEN=your-token-here-xxxxxxxx\nREQUEST_ID=123e4567-e89b-12d3-a456-426614174000\n"
        "COMMIT_TOKEN_SHA=9fceb02d0ae598e95dc970b74767f19372d61af8\nSECRET_REF=op://Dev/x/y\n"
    )
    for skipped in (".git", "node_modules", ".venv"):
        (root / skipped).mkdir()
        (root / skipped / "leak.txt").write_text(PLANTED["GitHub token"])


def test_one_of_each_kind_and_no_look_alikes(tmp_path: Path) -> None:
    plant(tmp_path)
    findings = scan_tree(tmp_path).findings
    kinds = sorted(f.kind for f in findings)
    assert kinds == sorted([*PLANTED, "private key"])
    locations = {Path(f.location).name for f in findings}
    assert locations == {"settings.py", ".env", "deploy_key"}
    text = repr(findings)
    for value in PLANTED.values():
        assert value not in text
        assert value[6:] not in text


def test_findings_name_the_line_and_variable(tmp_path: Path) -> None:
    plant(tmp_path)
    generic = next(f for f in scan_tree(tmp_path).findings if f.kind == "high-entropy secret")
    assert generic.line == 3 and generic.name == "API_TOKEN"
    assert generic.fingerprint.startswith("32 chars, hmac:")
    aws = next(f for f in scan_tree(tmp_path).findings if f.kind == "AWS access key")
    assert aws.fingerprint.startswith("AKIA…(20 chars, hmac:")


def test_dotenv_files_skip_examples(tmp_path: Path) -> None:
    plant(tmp_path)
    assert [p.name for p in dotenv_files(tmp_path)] == [".env"]


def test_environment(tmp_path: Path) -> None:
    env = {
        "GITHUB_TOKEN": PLANTED["GitHub token"],
        "MY_SERVICE_PASSWORD": PLANTED["high-entropy secret"],
        "HOME": "/home/someone",
        "GIT_COMMIT_TOKEN": "9fceb02d0ae598e95dc970b74767f19372d61af8",
        "SESSION_ID": "123e4567-e89b-12d3-a456-426614174000",
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/games",
    }
    found = {(f.name, f.kind) for f in scan_environment(env)}
    assert found == {
        ("GITHUB_TOKEN", "GitHub token"),
        ("MY_SERVICE_PASSWORD", "high-entropy secret"),
    }


def test_home_rc_and_credential_files(tmp_path: Path) -> None:
    openai = PLANTED["OpenAI key"]
    (tmp_path / ".bashrc").write_text(f"export OPENAI_API_KEY={openai}\nalias l=ls\n")
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id = {PLANTED['AWS access key']}\n"
        f"aws_secret_access_key = {token(ALNUM + '/+', 40)}\n"
    )
    netrc = f"machine api.example.net login me password {token(ALNUM, 20)}\n"
    (tmp_path / ".netrc").write_text(netrc)
    (tmp_path / ".npmrc").write_text(f"//registry.npmjs.org/:_authToken={token(ALNUM, 36)}\n")
    findings = scan_home(tmp_path)
    where = sorted((Path(f.location).name, f.kind) for f in findings)
    assert where == [
        (".bashrc", "OpenAI key"),
        (".netrc", "credential file entry"),
        (".npmrc", "credential file entry"),
        ("credentials", "AWS access key"),
        ("credentials", "high-entropy secret"),
    ]


def test_generic_rule_rejects_ids_hashes_and_placeholders() -> None:
    for value in (
        b"123e4567-e89b-12d3-a456-426614174000",
        b"9fceb02d0ae598e95dc970b74767f19372d61af8",
        b"aaaaaaaaaaaaaaaaaaaaaaaa",
        b"<your-api-token-here>",
        b"12345678901234567890",
        b"/usr/local/lib/python3.11/site-packages",
    ):
        assert not looks_secret(value), value
    assert looks_secret(PLANTED["high-entropy secret"].encode())


def test_scan_text_without_assignments_ignores_generic() -> None:
    data = f"TOKEN={PLANTED['high-entropy secret']}\n".encode()
    assert scan_text(data, "x.py", assignments=False) == []
    assert len(scan_text(data, ".env", assignments=True)) == 1
