"""`devsecrets audit`: one of each finding kind planted, look-alikes left alone, never a
value in the output, exit codes, JSON, and the score card."""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
from pathlib import Path

import pytest
from helpers import DEVSECRETS, store_keyring, trusted_project, write_project

from devsecrets.audit import run_audit
from devsecrets.auditview import render_json, render_text, score

RNG = random.Random(11)
ALNUM = string.ascii_letters + string.digits


def token(n: int, alphabet: str = ALNUM) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


V = {
    "aws": "AKIA" + token(16, string.ascii_uppercase + "234567"),
    "aws_secret": token(40, ALNUM + "/+"),
    "github": "ghp_" + token(36),
    "openai": "sk-proj-" + token(40),
    "slack": "xoxb-" + token(12, string.digits) + "-" + token(24),
    "stripe_live": "sk_live_" + token(24),
    "stripe_test": "sk_test_" + token(24),
    "url_password": token(18),
    "generic": token(32, ALNUM + "+/"),
    "netrc": token(20),
    "npm": token(36),
    "docker": token(40),
    "gh_oauth": "gho_" + token(36),
    "pypi": "pypi-AgEIcHlwaS5vcmc" + token(40),
    "git_cred": token(30),
    "env_github": "ghp_" + token(36),
    "op_service": "ops_" + token(60),
    "exported": "shop-db-" + token(10),
}
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
CONFIG = """\
version: 1
project: shop
secrets:
  DATABASE_URL: keyring:database-url
  STRIPE_KEY:
    from: keyring:stripe
    commands: [node]
  LIVE_KEY:
    from: keyring:live
    scope: production
  PAYMENTS: op://Prod-Payments/stripe/credential
"""


def plant_tree(project: Path) -> None:
    (project / "src").mkdir()
    (project / "src" / "settings.py").write_text(
        f'AWS = "{V["aws"]}"\nGH = "{V["github"]}"\nAI = "{V["openai"]}"\nSLACK = "{V["slack"]}"\n'
        f'DB = "postgres://app:{V["url_password"]}@db.internal:5432/app"\n'
    )
    (project / ".env").write_text(
        f"STRIPE_SECRET={V['stripe_live']}\nAPI_TOKEN={V['generic']}\nDEBUG=true\n"
    )
    (project / "deploy_key").write_text(PRIVATE_KEY)
    # Look-alikes: documentation keys, ids, hashes, placeholders, references.
    (project / "README.md").write_text(
        "Example: AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        "request 123e4567-e89b-12d3-a456-426614174000,\n"
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8\n"
        "postgres://user:password@localhost/db and https://u:${TOKEN}@example.org\n"
    )
    (project / ".env.example").write_text(
        "API_TOKEN=your-token-here-xxxxxxxx\nBUILD_TOKEN_SHA=9fceb02d0ae598e95dc970b74767f19372d61af8\n"
        "SESSION_TOKEN_ID=123e4567-e89b-12d3-a456-426614174000\n"
    )
    (project / "node_modules" / "pkg").mkdir(parents=True)
    (project / "node_modules" / "pkg" / "leak.js").write_text(V["github"])
    outside = project.parent / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(V["github"])
    (project / "link").symlink_to(outside)


def plant_home(home: Path) -> None:
    files = {
        ".bashrc": f"alias l=ls\nexport OPENAI_API_KEY={V['openai']}\n",
        ".aws/credentials": f"[default]\naws_access_key_id = {V['aws']}\n"
        f"aws_secret_access_key = {V['aws_secret']}\n",
        ".netrc": f"machine api.example.net login me password {V['netrc']}\n",
        ".npmrc": f"//registry.npmjs.org/:_authToken={V['npm']}\n",
        ".pypirc": f"[pypi]\nusername = __token__\npassword = {V['pypi']}\n",
        ".docker/config.json": f'{{"auths": {{"r.io": {{"auth": "{V["docker"]}"}}}}}}\n',
        ".config/gh/hosts.yml": f"github.com:\n    oauth_token: {V['gh_oauth']}\n    user: me\n",
        ".git-credentials": f"https://me:{V['git_cred']}@github.com\n",
    }
    for name, text in files.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(text)


ENV = {
    "PATH": "/usr/bin:/bin",
    "GITHUB_TOKEN": V["env_github"],
    "OP_SERVICE_ACCOUNT_TOKEN": V["op_service"],
    "DATABASE_URL": V["exported"],
    "SSH_AUTH_SOCK": "/tmp/ssh-AbCdEfGh1234/agent.4242",
    "XAUTHORITY": "/tmp/xauth_rWeKzGqPL2",
    "SESSION_ID": "123e4567-e89b-12d3-a456-426614174000",
}


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    project = trusted_project(tmp_path, CONFIG, "shop")
    plant_tree(project)
    plant_home(Path(os.environ["HOME"]))
    store_keyring("shop", "DATABASE_URL", "db-" + token(20), ref="keyring:database-url")
    return project


def relative(location: str, project: Path, home: Path) -> str:
    path = Path(location)
    if location == "environment":
        return location
    return str(path.relative_to(project if path.is_relative_to(project) else home))


def assert_no_value(text: str) -> None:
    for value in V.values():
        assert value not in text
        assert value[8:30] not in text


def test_one_of_each_kind_and_no_look_alikes(planted: Path) -> None:
    report = run_audit(str(planted), env=ENV)
    home = Path(os.environ["HOME"])
    found = sorted((relative(f.location, planted, home), f.kind) for f in report.plaintext)
    assert found == [
        (".aws/credentials", "AWS access key"),
        (".aws/credentials", "high-entropy secret"),
        (".bashrc", "OpenAI key"),
        (".config/gh/hosts.yml", "GitHub token"),
        (".docker/config.json", "credential file entry"),
        (".env", "Stripe key"),
        (".env", "high-entropy secret"),
        (".git-credentials", "URL with password"),
        (".netrc", "credential file entry"),
        (".npmrc", "credential file entry"),
        (".pypirc", "high-entropy secret"),
        ("deploy_key", "private key"),
        ("environment", "GitHub token"),
        ("environment", "high-entropy secret"),  # OP_SERVICE_ACCOUNT_TOKEN
        ("environment", "project secret exported in the shell"),
        ("src/settings.py", "AWS access key"),
        ("src/settings.py", "GitHub token"),
        ("src/settings.py", "OpenAI key"),
        ("src/settings.py", "Slack token"),
        ("src/settings.py", "URL with password"),
    ]


def test_the_other_two_questions(planted: Path) -> None:
    report = run_audit(str(planted), env=ENV)
    beyond = {(item.name, item.what.split(":")[0]) for item in report.beyond_child}
    assert beyond == {
        ("OP_SERVICE_ACCOUNT_TOKEN", "is exported"),
        ("DATABASE_URL", "is given to every command `devsecrets run` starts"),
    }
    # STRIPE_KEY was never stored (unknown age: refused), so a child gets DATABASE_URL only.
    assert [g.name for g in report.given] == ["DATABASE_URL"]
    production = sorted(item.name for item in report.production)
    # LIVE_KEY: its scope; PAYMENTS: its vault; plaintext: the .env's live Stripe key and
    # the long-lived AWS key id (settings.py and ~/.aws/credentials).
    assert production == [
        "AWS access key",
        "AWS access key",
        "LIVE_KEY",
        "PAYMENTS",
        "Stripe key",
    ]
    assert report.agent.detail == "not running (started on entering a project)"


def test_text_and_json_never_hold_a_value(planted: Path) -> None:
    report = run_audit(str(planted), env=ENV)
    text = "\n".join(render_text(report))
    assert_no_value(text)
    assert "session agent: not running (started on entering a project)" in text
    assert "shell hook: not installed" in text
    assert text.rstrip().endswith("(target 0 / none / none) — not clean")
    document = json.loads(render_json(report))
    assert_no_value(json.dumps(document))
    assert document["score"] == {"plaintext": 20, "beyond_child": 2, "production": 5}
    assert document["clean"] is False
    assert document["agent"] == {
        "available": True,
        "running": False,
        "hardened": None,
        "detail": "not running (started on entering a project)",
    }


def test_clean_project_scores_zero_and_exits_0(tmp_path: Path) -> None:
    project = trusted_project(
        tmp_path,
        "project: clean\nsecrets:\n  TOKEN:\n    from: keyring\n    commands: [make]\n",
    )
    (project / "README.md").write_text("AKIAIOSFODNN7EXAMPLE\n")
    report = run_audit(str(project), env={"PATH": "/usr/bin"})
    assert report.clean and score(report) == "0 / none / none"
    env = {"HOME": os.environ["HOME"], "PATH": "/usr/bin:/bin", "PWD": str(project)}
    env.update({k: v for k, v in os.environ.items() if k.startswith(("XDG_", "PYTHON"))})
    env.update({k: v for k, v in os.environ.items() if k.startswith("FAKE_")})
    result = subprocess.run(
        [DEVSECRETS, "audit"], cwd=project, env=env, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout.decode()
    assert "score card: 0 / none / none" in result.stdout.decode()


def test_cli_exit_1_and_json(planted: Path) -> None:
    import subprocess

    env = {k: v for k, v in os.environ.items() if k.startswith(("XDG_", "PYTHON", "FAKE_"))}
    env.update(ENV, HOME=os.environ["HOME"], PWD=str(planted))
    result = subprocess.run(
        [DEVSECRETS, "audit", "--json"], cwd=planted, env=env, capture_output=True, check=False
    )
    assert result.returncode == 1
    assert_no_value(result.stdout.decode() + result.stderr.decode())
    assert json.loads(result.stdout)["score"]["plaintext"] == 20


def test_without_a_project_the_working_directory_is_scanned(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text(V["github"] + "\n")
    report = run_audit(str(tmp_path), env={})
    assert [f.kind for f in report.plaintext] == ["GitHub token"]
    assert report.config is None and not report.beyond_child


def test_a_broken_config_still_answers_question_one(tmp_path: Path) -> None:
    project = write_project(tmp_path, "secrets: [\n")
    (project / ".env").write_text(f"API_TOKEN={V['generic']}\n")
    report = run_audit(str(project), env={})
    assert [f.kind for f in report.plaintext] == ["high-entropy secret"]
    assert report.config_error is not None and "YAML syntax error" in report.config_error.message


def test_labels_are_keyed_and_stable_with_the_install_key(tmp_path: Path) -> None:
    import hashlib

    from devsecrets.fingerprint import FingerprintKey, load_key
    from devsecrets.scan import fingerprint

    value = b"ghp_" + b"7" * 36  # a guessable value: a plain hash of it would give it away
    (tmp_path / ".env").write_bytes(b"GH_TOKEN=" + value + b"\n")

    def label() -> str:
        [finding] = run_audit(str(tmp_path), env={}).plaintext
        return finding.fingerprint

    first = label()
    assert hashlib.sha256(value).hexdigest()[:8] not in first
    assert first.startswith("ghp_…(40 chars, hmac:") and first == fingerprint(value, 4)
    key = load_key(create=True)
    assert isinstance(key, FingerprintKey)
    assert label() == label() != first  # now keyed with the install's key, run after run


def test_an_unreadable_config_is_not_clean(tmp_path: Path) -> None:
    """Questions 2 and 3 cannot be answered for it: said in the header, exit 1."""
    project = write_project(tmp_path, "version: [\n")
    (project / "sub").mkdir()
    env = dict(os.environ, PWD=str(project / "sub"))
    result = subprocess.run(
        [DEVSECRETS, "audit"], cwd=project / "sub", env=env, capture_output=True, check=False
    )
    out = result.stdout.decode()
    assert result.returncode == 1, out
    head, error, fix = out.splitlines()[:3]
    assert head.startswith("devsecrets audit — the project config is unreadable; ")
    assert head.endswith(f" files under {project}")  # the project's tree, not the subdirectory
    assert error.startswith(f"  ✗ {project}/.devsecrets.yml:") and "YAML syntax error" in error
    assert fix.startswith("    fix: ")
    assert "no project" not in out
    assert out.rstrip().endswith("— not clean: the project config is unreadable")
    result = subprocess.run(
        [DEVSECRETS, "audit", "--json"], cwd=project, env=env, capture_output=True, check=False
    )
    document = json.loads(result.stdout)
    assert result.returncode == 1 and document["clean"] is False
    assert "YAML syntax error" in document["config_error"]["message"]


def test_the_import_fix_pastes_as_one_argument(tmp_path: Path) -> None:
    import shlex

    project = tmp_path / "sub dir"
    project.mkdir()
    (project / ".env").write_text(f"API_TOKEN={V['generic']}\n")
    report = run_audit(str(project), env={})
    text = "\n".join(render_text(report))
    command = text.split("fix: ")[1].split(";")[0]
    assert shlex.split(command) == ["devsecrets", "import", str(project / ".env")]


def test_a_marked_fixture_is_listed_not_counted(tmp_path: Path) -> None:
    """`devsecrets:allow` on a finding's line or the line above takes it out of the count;
    the report still lists it, and never for a production-looking value or a home file."""
    project = tmp_path / "project"  # not the tree holding HOME
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "fixture.py").write_text(
        f'GH = "{V["github"]}"  # devsecrets:allow\n'
        f"# devsecrets:allow: the key below is a fixture\n{PRIVATE_KEY}"
        f'SLACK = "{V["slack"]}"\n'  # not marked: counted
        f'LIVE = "{V["stripe_live"]}"  # devsecrets:allow\n'  # production-looking: counted
    )
    home = Path(os.environ["HOME"])
    (home / ".bashrc").write_text(f"export OPENAI_API_KEY={V['openai']}  # devsecrets:allow\n")
    report = run_audit(str(project), env={})
    assert sorted((f.line, f.kind) for f in report.allowed) == [
        (1, "GitHub token"),
        (3, "private key"),
    ]
    assert sorted(f.kind for f in report.plaintext) == ["OpenAI key", "Slack token", "Stripe key"]
    text = "\n".join(render_text(report))
    assert (
        "note: 2 findings marked devsecrets:allow, not counted: tests/fixture.py:1 (GitHub token), "
        "tests/fixture.py:3 (private key)" in text
    )
    assert "put devsecrets:allow on its line" in text  # the Slack token's fix says how
    assert_no_value(text)
    document = json.loads(render_json(report))
    assert [f["line"] for f in document["allowed"]] == [1, 3]
    assert document["score"]["plaintext"] == 3
