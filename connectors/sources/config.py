"""Reading a connector's ``[source]`` table: each adapter names the keys it takes, and a
missing, mistyped or unknown key is refused naming the key, before anything is opened."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.sources.base import SourceError


class SourceConfig:
    """The ``[source]`` table of one connector of ``kind``, read key by key. ``finish``
    refuses keys no adapter read, so a misspelt key is an error rather than ignored."""

    def __init__(self, kind: str, config: Mapping[str, Any]) -> None:
        self.kind = kind
        self._config = dict(config)
        self._read: set[str] = set()

    def _get(self, key: str) -> Any:
        self._read.add(key)
        return self._config.get(key)

    def _fail(self, key: str, expected: str) -> SourceError:
        return SourceError(f"{self.kind} source: key '{key}' {expected}")

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        """A text value; ``required`` refuses a missing or empty one."""
        value = self._get(key)
        if value is None or value == "":
            if required:
                raise self._fail(key, "is missing")
            return default
        if not isinstance(value, str):
            raise self._fail(key, f"must be text, got {type(value).__name__}")
        return value

    def required_text(self, key: str) -> str:
        value = self.text(key, required=True)
        assert value is not None  # required above
        return value

    def integer(self, key: str, default: int, *, minimum: int = 1, maximum: int) -> int:
        """A whole number within [minimum, maximum]."""
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, f"must be a whole number, got {value!r}")
        if not minimum <= value <= maximum:
            raise self._fail(key, f"must be between {minimum} and {maximum}, got {value}")
        return value

    def number(self, key: str, default: float, *, maximum: float) -> float:
        """A positive number of at most ``maximum`` (seconds, for timeouts)."""
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self._fail(key, f"must be a positive number, got {value!r}")
        if value > maximum:
            raise self._fail(key, f"must be at most {maximum}, got {value}")
        return float(value)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(key, default)
        assert value is not None
        if value not in choices:
            raise self._fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def table(self, key: str) -> dict[str, str]:
        """A table of text values (HTTP headers); its values are never put in a message."""
        value = self._get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise self._fail(key, "must be a table of text values")
        return dict(value)

    def one_of(self, first: str, second: str) -> tuple[str | None, str | None]:
        """Exactly one of two keys (``table`` or ``query``)."""
        a, b = self.text(first), self.text(second)
        if (a is None) == (b is None):
            raise SourceError(f"{self.kind} source: give exactly one of '{first}' or '{second}'")
        return a, b

    def refuse(self, key: str, reason: str) -> None:
        """Refuse ``key`` if given, saying why this kind of source cannot take it."""
        if self._get(key) is not None:
            raise self._fail(key, f"is not supported: {reason}")

    def finish(self) -> None:
        """Refuse keys that no reader asked for."""
        unknown = sorted(set(self._config) - self._read)
        if unknown:
            raise SourceError(f"{self.kind} source: unknown key '{unknown[0]}'")


__all__ = ["SourceConfig"]
