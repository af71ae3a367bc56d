"""JSON for the agent's headers, without importing the `json` package.

`import json` pulls in `re` and `enum` (≈ 9 ms in a `python -I -S` process): more than a
third of the shell hook's budget for `cd` into a project, whose one Python call talks to the
agent. The C pieces json itself uses are cheap to import: `_json.make_scanner` parses and
`_json.encode_basestring_ascii` quotes strings. Anything the fast parse does not accept
exactly — an error, trailing text, NaN — is parsed again by `json.loads`, so what is
accepted and every error message are json's own; `json` is imported only then.

Headers are small objects of strings, numbers, booleans, null, lists and objects; `dumps`
writes what `json.dumps(obj, separators=(",", ":"))` writes for them (a test compares both).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the warm `run` path ≈ 2.5 ms to import; mypy sees True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

try:
    import _json

    _scan: Callable[[str, int], tuple[Any, int]] | None = _json.make_scanner(
        type(
            "_Context",
            (),
            {
                "strict": True,
                "object_hook": None,
                "object_pairs_hook": None,
                "parse_float": float,
                "parse_int": int,
                "parse_constant": None,  # NaN, Infinity: left to json.loads
                "memo": {},
            },
        )()
    )
    _quote: Callable[[str], str] = _json.encode_basestring_ascii
except (ImportError, AttributeError):  # another Python: json itself, at its usual cost
    _scan = None

    def _quote(text: str) -> str:
        import json

        return json.dumps(text)


_INF = float("inf")


def loads(text: str) -> Any:
    """Parse one JSON document; ValueError (json's) when it is not one."""
    if _scan is not None:
        try:
            value, end = _scan(text, 0)
        except Exception:  # noqa: S110 - json.loads below says what is wrong
            pass
        else:
            if end == len(text):
                return value
    import json

    return json.loads(text)


def dumps(value: object) -> str:
    """Compact JSON, ASCII only; ValueError for what JSON cannot hold."""
    parts: list[str] = []
    _write(value, parts, 0)
    return "".join(parts)


def _write(value: object, parts: list[str], depth: int) -> None:
    if depth > 32:
        raise ValueError("nested too deeply")
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):
        parts.append(_quote(value))
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        if value != value or value in (_INF, -_INF):
            raise ValueError(f"{value!r} is not JSON")
        parts.append(float.__repr__(value))
    elif isinstance(value, dict):
        parts.append("{")
        for i, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise ValueError(f"key {key!r} is not a string")
            parts.append("," if i else "")
            parts.append(_quote(key) + ":")
            _write(item, parts, depth + 1)
        parts.append("}")
    elif isinstance(value, list | tuple):
        parts.append("[")
        for i, item in enumerate(value):
            parts.append("," if i else "")
            _write(item, parts, depth + 1)
        parts.append("]")
    else:
        raise ValueError(f"{type(value).__name__} is not JSON")
