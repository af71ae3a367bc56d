"""Read small YAML files into checked Python values, keeping every node's line number.

PyYAML's constructors lose line numbers and silently keep the last of two duplicate keys, so
the files devsecrets reads (project config, team policy) are composed to nodes and walked
here instead. Every error names the file, the key path and the line, and says how to fix it.
Anchors and aliases are refused: nobody needs them in these files, and walking a shared node
graph is how "billion laughs" documents blow up.
"""

from __future__ import annotations

import difflib
from typing import NoReturn

import yaml

from devsecrets.errors import ConfigError

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
NULL = "tag:yaml.org,2002:null"
_TYPE_NAMES = {
    STR: "a string",
    INT: "a number",
    NULL: "empty",
    "tag:yaml.org,2002:bool": "true/false",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:map": "a mapping",
    "tag:yaml.org,2002:seq": "a list",
}
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Document:
    """One parsed file; `fail` raises a ConfigError located at a node."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.root = self._compose(text)

    def _compose(self, text: str) -> yaml.Node | None:
        try:
            nodes = list(yaml.compose_all(text, Loader=_Loader))
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            problem = exc.problem or exc.context or "not valid YAML"
            raise ConfigError(
                f"YAML syntax error: {problem}",
                "fix the YAML syntax at that line (indentation, quoting, a missing ':')",
                file=self.file,
                line=line,
            ) from None
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"not valid YAML ({type(exc).__name__})", "fix the YAML syntax", file=self.file
            ) from None
        if len(nodes) > 1:
            raise ConfigError(
                "holds more than one YAML document",
                "remove the '---' separators: keep one document",
                file=self.file,
                line=nodes[1].start_mark.line + 1,
            )
        root = nodes[0] if nodes else None
        if root is not None:
            self._refuse_aliases(root, set())
        return root

    def _refuse_aliases(self, node: yaml.Node, seen: set[int]) -> None:
        if id(node) in seen:
            self.fail(node, "", "uses a YAML anchor/alias", "write the value out in full")
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self._refuse_aliases(key, seen)
                self._refuse_aliases(value, seen)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self._refuse_aliases(item, seen)

    def fail(self, node: yaml.Node | None, keypath: str, message: str, fix: str) -> NoReturn:
        line = node.start_mark.line + 1 if node is not None else None
        raise ConfigError(message, fix, file=self.file, keypath=keypath, line=line)

    def mapping(self, node: yaml.Node, keypath: str, what: str) -> list[tuple[str, yaml.Node]]:
        """The (key, value node) pairs of a mapping; duplicate or non-string keys fail."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, keypath, f"must be a mapping ({what}), not {type_name(node)}", what)
        pairs: list[tuple[str, yaml.Node]] = []
        seen: dict[str, int] = {}
        for key_node, value in node.value:
            if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag == STR):
                self.fail(key_node, keypath, "keys must be plain names", "quote the key")
            key = str(key_node.value)
            if key in seen:
                self.fail(
                    key_node,
                    join(keypath, key),
                    f"defined twice (first on line {seen[key]})",
                    "keep one of the two",
                )
            seen[key] = key_node.start_mark.line + 1
            pairs.append((key, value))
        return pairs

    def known_keys(
        self, pairs: list[tuple[str, yaml.Node]], node: yaml.Node, keypath: str, known: list[str]
    ) -> dict[str, yaml.Node]:
        """Fail on the first key not in `known`, suggesting the closest one."""
        keys = {key_node.value: key_node for key_node, _ in node.value}
        for key, _ in pairs:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.fail(
                    keys[key],
                    join(keypath, key),
                    f"unknown key{hint}",
                    f"known keys here: {', '.join(known)}",
                )
        return dict(pairs)

    def string(self, node: yaml.Node, keypath: str, fix: str) -> str:
        if not (isinstance(node, yaml.ScalarNode) and node.tag == STR):
            self.fail(node, keypath, f"must be a string, not {type_name(node)}", fix)
        value = str(node.value)
        if not value.strip():
            self.fail(node, keypath, "is empty", fix)
        return value

    def integer(self, node: yaml.Node, keypath: str, fix: str) -> int:
        if not (isinstance(node, yaml.ScalarNode) and node.tag == INT):
            self.fail(node, keypath, f"must be a whole number, not {type_name(node)}", fix)
        try:
            return int(str(node.value), 0)
        except ValueError:
            self.fail(node, keypath, f"{node.value!r} is not a whole number", fix)

    def strings(self, node: yaml.Node, keypath: str, fix: str) -> list[str]:
        """A list of strings (a single string is not accepted: it hides a missing '[ ]')."""
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, keypath, f"must be a list, not {type_name(node)}", fix)
        return [self.string(item, f"{keypath}[{i}]", fix) for i, item in enumerate(node.value)]


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def type_name(node: yaml.Node | None) -> str:
    if node is None:
        return "empty"
    if isinstance(node, yaml.ScalarNode) and node.tag == STR and node.value == "":
        return "empty"
    return _TYPE_NAMES.get(str(node.tag), "an unsupported value")


def join(keypath: str, key: str) -> str:
    return f"{keypath}.{key}" if keypath else key
