from __future__ import annotations

import copy
import pickle

import pytest

from devsecrets.secret import Secret, wipe_all


def test_never_prints_its_value() -> None:
    secret = Secret(bytearray(b"hunter2-value"), "PASSWORD")
    old_style = "%s" % (secret,)  # noqa: UP031 - old-style formatting must be redacted too
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", old_style):
        assert "hunter2" not in text
        assert "PASSWORD" in text and "concealed" in text


def test_refuses_pickle_and_copy() -> None:
    secret = Secret(bytearray(b"value"))
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        copy.copy(secret)
    with pytest.raises(TypeError):
        copy.deepcopy({"a": secret})


def test_only_takes_a_bytearray() -> None:
    with pytest.raises(TypeError):
        Secret(b"immutable")  # type: ignore[arg-type]


def test_wipe_zeroes_the_same_buffer() -> None:
    buf = bytearray(b"to-be-wiped")
    secret = Secret(buf)
    view = secret.view()
    secret.wipe()
    assert buf == bytearray(len(b"to-be-wiped"))
    assert bytes(view) == bytes(len(buf))
    assert secret.wiped


def test_constant_time_equality_and_identity_eq() -> None:
    a, b = Secret(bytearray(b"same")), Secret(bytearray(b"same"))
    assert a.equals(b)
    assert a != b and a == a


def test_utf8_and_nul_checks() -> None:
    assert Secret(bytearray("naïve ✓ 😀".encode())).is_utf8()
    assert not Secret(bytearray(b"\xff\xfe")).is_utf8()
    assert not Secret(bytearray(b"\xed\xa0\x80")).is_utf8()  # a surrogate
    assert Secret(bytearray(b"a\x00b")).has_nul()


def test_wipe_all() -> None:
    secrets = {"A": Secret(bytearray(b"aaaa")), "B": Secret(bytearray(b"bbbb"))}
    wipe_all(secrets)
    assert all(s.wiped for s in secrets.values())
