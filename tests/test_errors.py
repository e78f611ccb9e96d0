"""The error hierarchy: every ``HubError`` carries one of the contract's codes (DESIGN.md §10)
and says when it is raised."""

from __future__ import annotations

import importlib
import pkgutil

import catalog
import catalog.crypto  # defines DecryptionFailed
from catalog import errors
from catalog.errors import HubError

CONTRACT_CODES = frozenset(
    {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "BAD_USER_INPUT",
        "QUERY_TOO_COMPLEX",
        "RATE_LIMITED",
        "CONFLICT",
        "SEARCH_UNAVAILABLE",
        "INTERNAL",
    }
)


def _all_error_classes() -> list[type[HubError]]:
    # Every catalog module is imported so subclasses defined outside errors.py are found too.
    for module in pkgutil.iter_modules(catalog.__path__, "catalog."):
        importlib.import_module(module.name)
    found: list[type[HubError]] = []
    pending: list[type[HubError]] = [HubError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__qualname__)


def test_walk_finds_the_whole_hierarchy() -> None:
    names = {cls.__name__ for cls in _all_error_classes()}
    assert {
        "HubError",
        "Unauthenticated",
        "NotFound",
        "Forbidden",
        "InvalidInput",
        "SecretDataRefused",
        "QueryTooComplex",
        "RateLimited",
        "Conflict",
        "SearchUnavailable",
        "DecryptionFailed",
    } <= names
    assert catalog.crypto.DecryptionFailed in _all_error_classes()


def test_every_error_has_a_contract_code() -> None:
    wrong = {
        f"{cls.__module__}.{cls.__qualname__}": getattr(cls, "code", None)
        for cls in _all_error_classes()
        if getattr(cls, "code", None) not in CONTRACT_CODES
    }
    assert wrong == {}


def test_every_error_says_when_it_is_raised() -> None:
    undocumented = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _all_error_classes()
        if not (cls.__dict__.get("__doc__") or "").strip()
    ]
    assert undocumented == []


def test_tree_in_the_module_docstring_names_each_error_with_its_code() -> None:
    doc = errors.__doc__ or ""
    lines = {line.split()[-2]: line.split()[-1] for line in doc.splitlines() if "─ " in line}
    lines["HubError"] = next(line.split()[-1] for line in doc.splitlines() if "HubError " in line)
    in_module = {
        cls.__name__: cls.code for cls in _all_error_classes() if cls.__module__ == errors.__name__
    }
    assert lines == in_module


def test_message_is_kept_for_the_client() -> None:
    error = errors.Conflict("dataset 'business' already exists; choose another code")
    assert error.message == str(error) == "dataset 'business' already exists; choose another code"
    assert error.code == "CONFLICT"
