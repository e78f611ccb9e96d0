"""Size limits on a GraphQL document, checked before and while it is parsed.

Invariant: no document costs more parsing than ``max_bytes`` of text and ``max_tokens``
lexical tokens (comments counted apart, with the same bound): parsing is linear in tokens,
and validation after it in AST nodes, so a hostile document (a megabyte of directives,
unused variables or fragments) is refused after a bounded amount of work, with
``QueryTooComplex`` naming the limit and what was measured.
"""

from __future__ import annotations

import re

from graphql import DocumentNode, GraphQLSyntaxError, OperationDefinitionNode, parse

from catalog.errors import QueryTooComplex

# graphql-core ends the message of every parser limit (tokens, comments, nesting) so;
# tests/test_http_edge.py pins it, so an upgrade that changes it fails there.
_ABORTED = "Parsing aborted."
#: Most operations and fragments one document defines. Validation compares fragments pairwise
#: (450 fragments took over a second); a client's document needs a handful.
MAX_DEFINITIONS = 100
#: Most variables one document declares (1,200 unused ones took 40 ms to validate).
MAX_VARIABLE_DEFINITIONS = 100
# GraphQL's tokens (and comments), close enough to count them in C before parsing in Python:
# parsing 5,000 tokens costs ~30 ms, counting them ~2 ms. A miscount is harmless:
# the parser enforces the exact limit; this only refuses documents clearly over it, early.
# Every alternative succeeds once it starts (possessive loops, optional closing quotes), so
# the scan is linear: a pattern that can fail after an opening quote rescans from every quote.
_TOKEN = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*+(?:"""|\Z)|"(?:[^"\\\n\r]|\\.)*+"?|\.\.\.'
    r"|[A-Za-z_][A-Za-z0-9_]*+|-?[0-9]++(?:\.[0-9]++)?(?:[eE][+-]?[0-9]++)?|#[^\n\r]*+|\S"
)


def check_document_size(query: str, max_bytes: int) -> int:
    """The document's size in UTF-8 bytes; ``QueryTooComplex`` when above ``max_bytes``."""
    # len(str) bounds the UTF-8 size from below: most documents are ASCII and skip encoding.
    size = len(query) if query.isascii() else len(query.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise QueryTooComplex(
            f"the document is {size} bytes; the hub accepts at most {max_bytes} "
            "(HUB_MAX_DOCUMENT_BYTES)"
        )
    return size


def parse_bounded(query: str, max_bytes: int, max_tokens: int) -> DocumentNode:
    """Parse ``query`` within the limits.

    Raises ``QueryTooComplex`` for a document over ``max_bytes``, over ``max_tokens`` tokens
    or comments, or nested too deeply to parse; ``GraphQLSyntaxError`` for a syntax error.
    """
    check_document_size(query, max_bytes)
    threshold = max_tokens + max_tokens // 10  # margin for the count's approximation
    for counted, _ in enumerate(_TOKEN.finditer(query), 1):
        if counted > threshold:  # stop counting here: the work stays bounded by the limit
            raise QueryTooComplex(
                f"the document has more than {threshold} tokens; the hub parses at most "
                f"{max_tokens} (HUB_MAX_DOCUMENT_TOKENS)"
            )
    try:
        return parse(query, max_lexical_tokens=max_tokens, max_comments=max_tokens)
    except GraphQLSyntaxError as error:
        if not error.message.endswith(_ABORTED):
            raise
        description = error.message.removeprefix("Syntax Error: ").removesuffix(_ABORTED)
    if "tokens" in description or "comments" in description:
        kind = "tokens" if "tokens" in description else "comments"
        raise QueryTooComplex(
            f"the document has more than {max_tokens} {kind}; the hub parses at most "
            f"{max_tokens} (HUB_MAX_DOCUMENT_TOKENS)"
        )
    raise QueryTooComplex(f"the document cannot be parsed: {description.strip()}")


def check_definitions(document: DocumentNode) -> None:
    """``QueryTooComplex`` for a parsed document with more operations and fragments than
    ``MAX_DEFINITIONS`` or more variables than ``MAX_VARIABLE_DEFINITIONS``, before it is
    validated (validation's cost grows faster than the document)."""
    definitions = len(document.definitions)
    if definitions > MAX_DEFINITIONS:
        raise QueryTooComplex(
            f"the document defines {definitions} operations and fragments; the hub accepts "
            f"at most {MAX_DEFINITIONS}"
        )
    variables = sum(
        len(d.variable_definitions or ())
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    )
    if variables > MAX_VARIABLE_DEFINITIONS:
        raise QueryTooComplex(
            f"the document declares {variables} variables; the hub accepts at most "
            f"{MAX_VARIABLE_DEFINITIONS}"
        )


__all__ = [
    "MAX_DEFINITIONS",
    "MAX_VARIABLE_DEFINITIONS",
    "check_definitions",
    "check_document_size",
    "parse_bounded",
]
