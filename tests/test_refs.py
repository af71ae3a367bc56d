from __future__ import annotations

import pytest

from devsecrets.refs import KeyringRef, OpRef, RefError, parse_ref


def test_op_reference_with_section_and_spaces() -> None:
    ref = parse_ref("op://Staging/aws keys/Access Keys/access_key_id", "AWS")
    assert isinstance(ref, OpRef)
    assert (ref.vault, ref.item, ref.section, ref.field) == (
        "Staging",
        "aws keys",
        "Access Keys",
        "access_key_id",
    )
    assert ref.provider == "onepassword"


def test_op_reference_without_section_and_query() -> None:
    ref = parse_ref("op://dev/Stripe/publishable-key?attribute=value", "S")
    assert isinstance(ref, OpRef)
    assert ref.section is None
    assert ref.query == (("attribute", "value"),)


def test_attr_alias_is_normalised() -> None:
    ref = parse_ref("op://dev/gh/one-time password?attr=otp", "OTP")
    assert isinstance(ref, OpRef)
    assert ref.query == (("attribute", "otp"),)


def test_references_are_deduplicated_case_insensitively() -> None:
    a = parse_ref("op://Dev/Item/Field", "A")
    b = parse_ref("op://dev/item/field", "B")
    assert isinstance(a, OpRef) and isinstance(b, OpRef)
    assert a.key == b.key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("op://a/b/c/d/e", "too many '/'"),
        ("op://a/b", "needs a vault, an item and a field"),
        ("op://a//c", "empty segment"),
        ("op://a/b(1)/c", "invalid character in secret reference: '('"),
        ("op://a/caf\u00e9/c", "invalid character in secret reference: '\u00e9'"),
        ("op://$ENV/b/c", "uses a variable"),
        ("op://a/b/c?attribute=colour", "unknown attribute 'colour'"),
        ("op://a/b/c?foo=bar", "unknown query parameter 'foo'"),
        ("op://a/b/c?attribute", "has no value"),
        ("op://a/b/c#frag", "fragment"),
        ("op://a/ b/c", "starts or ends with a space"),
        ("vault://x", "is not a secret reference"),
        ("keyring:", "not a valid keyring reference"),
        ("keyring:has space", "not a valid keyring reference"),
        ("sk_test_abc", "is not a secret reference"),
    ],
)
def test_bad_references_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(RefError) as info:
        parse_ref(text, "NAME")
    assert message in str(info.value)
    assert info.value.fix


@pytest.mark.parametrize(
    "text", ["sk_test_CANARY51Hx9aQ2bLr7", "postgres://app:CANARYpw@db.staging/app", "hunter2"]
)
def test_a_value_pasted_instead_of_a_reference_is_not_echoed(text: str) -> None:
    with pytest.raises(RefError) as info:
        parse_ref(text, "NAME")
    message = f"{info.value} {info.value.fix}"
    assert f"({len(text)} characters, not shown)" in message and "rotate it" in message
    assert "CANARY" not in message and "hunter2" not in message


def test_keyring_reference_forms() -> None:
    named = parse_ref("keyring:database-url", "DATABASE_URL")
    bare = parse_ref("keyring", "DATABASE_URL")
    assert named == KeyringRef(text="keyring:database-url", username="database-url")
    assert isinstance(bare, KeyringRef) and bare.username == "DATABASE_URL"
