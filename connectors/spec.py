"""A connector definition as written in its file (DESIGN.md §7; TOML, or the same keys in
YAML): parsed, checked, and split into what may be shown and the secrets stored encrypted.

The file's names are fixed by the design (``name``, ``dataset``, ``kind``, ``schedule``,
``[source]``, ``[mapping]`` of dataset field = source column); added here: ``batch_size``,
``soft_delete`` (a source column whose true value marks the row deleted) and
``max_delete_percent`` (a snapshot run that would delete more of the connector's records
fails instead: a truncated export looks like mass deletion). Secret source values
(``dsn``, ``headers``, ``password``, ``token``, ``api_key``) may hold ``${ENV_VAR}``; the text is
stored as written (encrypted) and expanded when the source is opened, so a secret kept in
the environment never reaches the database.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from catalog.errors import InvalidInput
from catalog.naming import SNAKE_CASE

Kind = Literal["postgres", "mysql", "csv", "xlsx", "http"]
SECRET_KEYS = frozenset({"dsn", "headers", "password", "token", "api_key"})
SECRET_MARK = "<secret>"  # noqa: S105  (a placeholder shown instead of a secret)
MAX_FILE_BYTES = 64 * 1024
MAX_BATCH = 50_000

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_EVERY = re.compile(r"^every\s+(\d+)\s*(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_INTERVAL = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Schedule:
    """``every 15m`` (an interval from the last run's start) or a five-field cron expression."""

    text: str
    interval: timedelta | None
    cron: str | None

    def next_after(self, moment: datetime) -> datetime:
        if self.interval is not None:
            return moment + self.interval
        assert self.cron is not None
        nxt: datetime = croniter(self.cron, moment.astimezone(UTC)).get_next(datetime)
        return nxt


def parse_schedule(text: str) -> Schedule:
    """The schedule written in a connector file; InvalidInput says why it is not one."""
    cleaned = " ".join(text.split())
    every = _EVERY.match(cleaned)
    if every:
        interval = timedelta(seconds=int(every.group(1)) * _UNIT_SECONDS[every.group(2)])
        if interval < MIN_INTERVAL:
            raise InvalidInput(f"schedule {text!r}: at least every 30s")
        return Schedule(cleaned, interval, None)
    if len(cleaned.split(" ")) == 5 and croniter.is_valid(cleaned):
        return Schedule(cleaned, None, cleaned)
    raise InvalidInput(
        f"schedule {text!r}: expected 'every N' with s, m, h or d (e.g. 'every 15m') "
        "or a five-field cron expression (e.g. '0 2 * * *')"
    )


class ConnectorSpec(BaseModel):
    """A checked connector definition. ``source`` holds secrets as written (``${VAR}`` kept)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=63)
    dataset: str = Field(min_length=1, max_length=63)
    kind: Kind
    schedule: str | None = None
    source: dict[str, Any]
    mapping: dict[str, str] = Field(min_length=1, max_length=500)
    batch_size: int = Field(default=5000, ge=1, le=MAX_BATCH)
    soft_delete: str | None = None
    # A snapshot run deleting more than this share of the connector's records fails instead.
    max_delete_percent: float = Field(default=50, ge=0, le=100)

    @field_validator("name")
    @classmethod
    def _snake_case(cls, value: str) -> str:
        if not SNAKE_CASE.match(value):
            raise ValueError("must be snake_case: lowercase letters, digits and single '_'")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_schedule(value).text
        except InvalidInput as error:
            raise ValueError(error.message) from None

    @field_validator("mapping")
    @classmethod
    def _mapping(cls, value: dict[str, str]) -> dict[str, str]:
        for field, column in value.items():
            if not column.strip():
                raise ValueError(f"field {field!r} is mapped to an empty column name")
        return value

    @property
    def cursor(self) -> str | None:
        """The source column read incrementally; ``None`` for full snapshots."""
        value = self.source.get("cursor")
        return str(value) if value else None

    @property
    def parsed_schedule(self) -> Schedule | None:
        return parse_schedule(self.schedule) if self.schedule else None

    def source_columns(self) -> list[str]:
        """Every source column the definition names, each once, in file order."""
        named = [*self.mapping.values(), self.cursor, self.soft_delete]
        return list(dict.fromkeys(c for c in named if c))


def parse_connector(text: str, *, fmt: Literal["toml", "yaml"], origin: str) -> ConnectorSpec:
    """Parse and check a definition; InvalidInput names the file and the key at fault."""
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise InvalidInput(f"{origin}: larger than {MAX_FILE_BYTES // 1024} KiB")
    raw = _load(text, fmt, origin)
    try:
        return ConnectorSpec.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "file"
        raise InvalidInput(f"{origin}: {where}: {first['msg']}") from None


def read_connector_file(path: Path) -> ConnectorSpec:
    """The definition in ``path``; ``.yaml``/``.yml`` are YAML, anything else TOML."""
    fmt: Literal["toml", "yaml"] = "yaml" if path.suffix.lower() in {".yaml", ".yml"} else "toml"
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"{path}: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{path}: not UTF-8 (byte {error.start})") from None
    return parse_connector(text, fmt=fmt, origin=str(path))


def _load(text: str, fmt: str, origin: str) -> dict[str, Any]:
    try:
        loaded: Any = tomllib.loads(text) if fmt == "toml" else yaml.safe_load(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(f"{origin}: not valid TOML: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise InvalidInput(f"{origin}: not valid YAML: {line}{error}") from None
    if not isinstance(loaded, dict):
        raise InvalidInput(f"{origin}: expected a table of keys at the top level")
    return loaded


def split_secrets(spec: ConnectorSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the definition with secret values marked, the secret values) for storing apart."""
    public = spec.model_dump()
    secrets = {k: v for k, v in spec.source.items() if k in SECRET_KEYS}
    public["source"] = {k: (SECRET_MARK if k in SECRET_KEYS else v) for k, v in spec.source.items()}
    return public, secrets


def join_secrets(public: Mapping[str, Any], secrets: Mapping[str, Any]) -> ConnectorSpec:
    """The spec stored as ``split_secrets`` left it, secrets put back (still unexpanded)."""
    data = dict(public)
    data["source"] = {**dict(public.get("source", {})), **dict(secrets)}
    return ConnectorSpec.model_validate(data)


def expand_environment(value: Any, environ: Mapping[str, str], where: str) -> Any:
    """``value`` with ``${VAR}`` replaced from ``environ`` (strings, and the values of tables
    such as ``headers``); InvalidInput names the variable and the key when it is unset."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise InvalidInput(f"{where}: environment variable {name} is not set")
            return environ[name]

        return _ENV_REFERENCE.sub(substitute, value)
    if isinstance(value, dict):
        return {k: expand_environment(v, environ, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [expand_environment(v, environ, where) for v in value]
    return value


def source_config(spec: ConnectorSpec, environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``[source]`` table ready for ``connectors.sources.open_source``."""
    return {k: expand_environment(v, environ, f"source.{k}") for k, v in spec.source.items()}


def next_run(spec: ConnectorSpec, after: datetime) -> datetime | None:
    schedule = spec.parsed_schedule
    return None if schedule is None else schedule.next_after(after)


__all__ = [
    "MAX_BATCH",
    "SECRET_KEYS",
    "SECRET_MARK",
    "ConnectorSpec",
    "Schedule",
    "expand_environment",
    "join_secrets",
    "next_run",
    "parse_connector",
    "parse_schedule",
    "read_connector_file",
    "source_config",
    "split_secrets",
]
