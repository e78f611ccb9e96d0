"""Text inputs, checked and normalised once, at the edge: GraphQL variables, the string
literals of a document, and text headers such as ``X-Purpose``.

Invariant: past the edge every caller-supplied string is NFC-normalised and holds no NUL
byte (PostgreSQL text cannot store one; an unchecked NUL surfaced as INTERNAL), so ``eq``,
``contains``, keys and the audit all see one spelling of the same text. A refusal is
``InvalidInput`` (BAD_USER_INPUT) naming where the bad text was.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    Node,
    ObjectFieldNode,
    StringValueNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    get_location,
    visit,
)

from catalog.errors import InvalidInput, QueryTooComplex

#: Deepest nesting of lists and objects accepted in variables (a filter is a few levels).
MAX_VARIABLE_DEPTH = 32


def normalise_text(value: str, where: str) -> str:
    """``value`` in NFC; ``InvalidInput`` naming ``where`` when it holds a NUL byte."""
    if "\x00" in value:
        raise InvalidInput(f"{where} contains a NUL byte (\\u0000), which the hub cannot store")
    return value if value.isascii() else unicodedata.normalize("NFC", value)


def normalise_variables(
    variables: dict[str, Any],
    max_values: int,
    used_at: Callable[[str], list[str]] | None = None,
) -> dict[str, Any]:
    """A copy of ``variables`` with every string (object keys too) NFC-normalised.

    Raises ``InvalidInput`` naming the variable path (``$filter.name.eq``) of a string with a
    NUL byte, and where the document uses the variable (``used_at``, e.g. ``variable_uses``),
    and ``QueryTooComplex`` as soon as the walk meets more than ``max_values`` values or
    lists and objects nested deeper than ``MAX_VARIABLE_DEPTH``.
    """
    walk = _VariableWalk(max_values)
    try:
        return walk.object(variables)
    except InvalidInput as error:
        uses = used_at(walk.current) if used_at is not None and walk.current else []
        if not uses:
            raise
        raise InvalidInput(f"{error.message} (used at {', '.join(uses[:3])})") from None


def variable_uses(document: DocumentNode, name: str) -> list[str]:
    """Where ``$name`` is used in ``document``: argument paths such as
    ``businessList.filter.name.eq``, for error messages."""
    uses: list[str] = []

    class Uses(Visitor):
        def enter_variable(self, node: VariableNode, *args: Any) -> None:
            parent, ancestors = args[1], args[3]
            if node.name.value == name and not isinstance(parent, VariableDefinitionNode):
                uses.append(_argument_path([*ancestors, parent], args[0]))

    visit(document, Uses())
    return uses


def normalise_literals(document: DocumentNode, query: str) -> DocumentNode:
    """``document`` with every string literal NFC-normalised (the same object when none
    changes); ``InvalidInput`` naming the line and column of a literal with a NUL byte."""
    if query.isascii() and "\\u" not in query and "\x00" not in query:
        return document  # no escape, no raw NUL, ASCII only: every literal is already NFC
    normalised: DocumentNode = visit(document, _LiteralNormaliser())
    return normalised


def header_text(name: str, raw: str | None, max_length: int) -> str | None:
    """The text of header ``name``: raw UTF-8 or percent-encoded UTF-8, NFC-normalised and
    stripped; None when empty.

    Starlette decodes header bytes as Latin-1, so raw UTF-8 is recovered by re-encoding.
    Raises ``InvalidInput`` naming the header for control characters (NUL included),
    percent-encoded bytes that are not UTF-8, or text longer than ``max_length``.
    """
    if raw is None:
        return None
    if len(raw) > max_length * 12:  # 12: one code point percent-encoded as 4 UTF-8 bytes
        raise InvalidInput(f"header {name} is longer than {max_length} characters")
    try:
        text = raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        text = raw  # not UTF-8: keep the Latin-1 reading, which is then the sender's text
    if "%" in text:
        try:
            text = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise InvalidInput(f"header {name}: percent-encoded bytes are not UTF-8") from None
    text = unicodedata.normalize("NFC", text).strip()
    for char in text:
        if unicodedata.category(char) == "Cc":
            raise InvalidInput(
                f"header {name} contains the control character U+{ord(char):04X}; send "
                "printable text (percent-encoded UTF-8 or raw UTF-8)"
            )
    if len(text) > max_length:
        raise InvalidInput(
            f"header {name} is {len(text)} characters long; the hub accepts at most {max_length}"
        )
    return text or None


class _VariableWalk:
    def __init__(self, max_values: int) -> None:
        self.max_values = max_values
        self.seen = 0
        self.current = ""  # the variable being walked, to say where it is used

    def object(self, variables: dict[str, Any]) -> dict[str, Any]:
        normalised = {}
        for name, value in variables.items():
            self.current = name
            normalised[normalise_text(name, "a variable name")] = self.value(value, f"${name}", 1)
        return normalised

    def value(self, value: Any, path: str, depth: int) -> Any:
        self.seen += 1
        if self.seen > self.max_values:
            raise QueryTooComplex(
                f"the variables hold more than {self.max_values} values; the hub accepts at "
                f"most {self.max_values} (HUB_MAX_VARIABLE_VALUES)"
            )
        if isinstance(value, str):
            return normalise_text(value, f"variable {path}")
        if isinstance(value, dict | list) and depth > MAX_VARIABLE_DEPTH:
            raise QueryTooComplex(
                f"variable {path} nests lists and objects deeper than {MAX_VARIABLE_DEPTH} levels"
            )
        if isinstance(value, dict):
            return {
                normalise_text(key, f"a key in variable {path}"): self.value(
                    item, f"{path}.{key[:64]}", depth + 1
                )
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [
                self.value(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)
            ]
        return value


class _LiteralNormaliser(Visitor):
    def enter_string_value(self, node: StringValueNode, *args: Any) -> StringValueNode | None:
        if "\x00" in node.value:
            at = _argument_path([*args[3], args[1]], args[0])
            raise InvalidInput(
                f"a string literal in the document {_where(node)}, at {at}, contains a NUL byte"
            )
        if node.value.isascii():
            return None
        value = unicodedata.normalize("NFC", node.value)
        if value == node.value:
            return None
        return StringValueNode(value=value, block=node.block, loc=node.loc)


def _argument_path(chain: list[Any], key: Any) -> str:
    """``businessList.filter.district.in[1]`` for a value reached through ``chain``."""
    parts: list[str] = []
    for item in chain:
        if isinstance(item, FieldNode):
            parts.append((item.alias or item.name).value)
        elif isinstance(item, ArgumentNode | ObjectFieldNode):
            parts.append(item.name.value)
        elif isinstance(item, FragmentDefinitionNode):
            parts.append(f"fragment {item.name.value}:")
    path = ".".join(parts).replace(":.", ": ")
    if isinstance(key, int) and chain and not isinstance(chain[-1], Node):
        path += f"[{key}]"
    return path or "the document"


def _where(node: StringValueNode) -> str:
    if node.loc is None:
        return "(at an unknown place)"
    location = get_location(node.loc.source, node.loc.start)
    return f"(line {location.line}, column {location.column})"


__all__ = [
    "header_text",
    "normalise_literals",
    "normalise_text",
    "normalise_variables",
    "variable_uses",
]
