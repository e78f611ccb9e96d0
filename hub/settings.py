"""The hub's settings: ``HUB_``-prefixed environment variables or a TOML settings file.

Built once by the CLI or the app factory and passed down; nothing else reads the environment.
Defaults give the embedded setup (embedded PostgreSQL, embedded search, embedded issuer).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
# A browser origin: scheme, host and optional port, nothing else.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


class SettingsError(Exception):
    """Settings could not be loaded; the message names the variable and the problem."""


class Settings(BaseSettings):
    """Every setting of the hub. Environment names are the field names with ``HUB_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="forbid", frozen=True)

    data_dir: Path = Field(Path(".hub"), description="Where embedded services keep their data.")
    database_url: SecretStr | None = Field(
        None, description="PostgreSQL URL; unset starts the embedded PostgreSQL."
    )
    opensearch_url: str | None = Field(
        None, description="OpenSearch URL; unset starts the embedded search server."
    )
    opensearch_username: str | None = Field(
        None, description="User name for the OpenSearch cluster's basic auth; unset: none."
    )
    opensearch_password: SecretStr | None = Field(
        None, description="Password for the OpenSearch cluster's basic auth."
    )
    opensearch_ca_file: Path | None = Field(
        None, description="CA certificate (PEM) the cluster's TLS certificate is checked against."
    )
    opensearch_verify_certs: bool = Field(
        True, description="Check the cluster's TLS certificate (turn off only for tests)."
    )
    opensearch_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Seconds one request to OpenSearch may take."
    )
    search_index_prefix: str = Field(
        "hub-", description="Prefix of the hub's index and alias names (several hubs, one cluster)."
    )
    search_batch_size: int = Field(
        1_000, ge=1, le=10_000, description="Outbox entries the indexer sends per bulk request."
    )
    search_poll_seconds: float = Field(
        1.0, gt=0, le=300, description="Seconds between the indexer's looks at an empty outbox."
    )
    search_indexer_in_process: bool = Field(
        True, description="Run the outbox indexer inside `hub serve` (and `hub worker`)."
    )
    search_reindex_at_start: bool | None = Field(
        None,
        description="Rebuild the index from PostgreSQL when `hub serve` starts; default on "
        "with the embedded search server (it keeps nothing), off with HUB_OPENSEARCH_URL.",
    )
    oidc_issuer: str | None = Field(
        None, description="Issuer URL of the province's IdP; unset uses the embedded issuer."
    )
    oidc_audience: str = Field("hub", description="Audience the hub's access tokens must carry.")
    oidc_agency_claim: str = Field("agency", description="Dotted claim path of the agency code.")
    oidc_roles_claim: str = Field("roles", description="Dotted claim path of the roles list.")
    oidc_client_id_claim: str = Field("client_id", description="Claim naming the client.")
    oidc_clock_skew: int = Field(60, ge=0, le=600, description="Seconds of clock skew allowed.")
    oidc_jwks_ttl: int = Field(600, ge=10, description="Seconds a fetched JWKS is trusted.")
    keys_file: Path | None = Field(
        None, description="Keys file; default $HUB_DATA_DIR/keys.json (mode 0600)."
    )
    public_url: str = Field(
        DEFAULT_PUBLIC_URL, description="URL where clients reach the hub (issuer name)."
    )
    token_ttl: int = Field(900, ge=60, le=86400, description="Embedded access token lifetime, s.")
    max_page_size: int = Field(100, ge=1, le=10000, description="Largest page a list returns.")
    max_open_grant_requests: int = Field(
        10, ge=1, le=1000, description="REQUESTED grants one agency may hold open per dataset."
    )
    max_query_depth: int = Field(8, ge=2, le=50, description="Deepest GraphQL selection served.")
    max_query_nodes: int = Field(500, ge=10, description="Most fields one GraphQL query selects.")
    max_document_bytes: int = Field(
        100_000, ge=1_000, description="Largest GraphQL document accepted, in bytes (else 413)."
    )
    max_document_tokens: int = Field(
        5_000, ge=200, description="Most lexical tokens (and comments) one document may hold."
    )
    max_variable_values: int = Field(
        10_000, ge=10, description="Most values (strings, numbers, list items) in variables."
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1_000, description="Largest /graphql request body, in bytes (else 413)."
    )
    max_header_bytes: int = Field(
        16_384, ge=1_024, description="Largest request line and headers, in bytes (else 431)."
    )
    header_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Seconds a request's line and headers may take (else 408)."
    )
    max_query_cost: int = Field(
        25_000, ge=1, description="Most rows one query may fetch, priced before it runs."
    )
    statement_timeout_ms: int = Field(
        5_000, ge=0, description="Longest a record read may run in PostgreSQL, ms (0: none)."
    )
    plan_cache_size: int = Field(2048, ge=0, description="Compiled query plans kept per process.")
    db_pool_size: int = Field(10, ge=1, le=200, description="Connections per hub process.")
    audit_checkpoint_seconds: int = Field(
        30, ge=1, le=60, description="Seconds between signed audit checkpoints while events flow."
    )
    push_max_records: int = Field(
        1_000, ge=1, le=100_000, description="Most records one upsertRecords batch may carry."
    )
    ingest_max_bytes: int = Field(
        1_073_741_824, ge=1_000, description="Largest POST /ingest/{dataset} body, in bytes."
    )
    ingest_max_line_bytes: int = Field(
        1_048_576, ge=100, description="Longest line (NDJSON record or CSV row) of an upload."
    )
    worker_in_process: bool | None = Field(
        None,
        description="Run scheduled connectors inside `hub serve`; default on when "
        "HUB_DATABASE_URL is unset (embedded), off otherwise (run `hub worker`).",
    )
    worker_poll_seconds: float = Field(
        5.0, gt=0, le=300, description="Seconds between a worker's looks for due connectors."
    )
    worker_stale_seconds: int = Field(
        300, ge=10, le=86400, description="Seconds without a heartbeat before a run is taken over."
    )
    worker_concurrency: int = Field(
        2, ge=1, le=32, description="Connector runs one worker process runs at once."
    )
    backup_dir: Path | None = Field(
        None, description="Folder for scheduled backups (`hub worker`); unset: none taken."
    )
    backup_schedule: str = Field(
        "every 1d", description="When scheduled backups are taken: 'every N[s|m|h|d]' or cron."
    )
    backup_keep: int = Field(
        7, ge=1, le=10_000, description="Scheduled backups kept in HUB_BACKUP_DIR; older deleted."
    )
    database_replica_urls: SecretStr | None = Field(
        None, description="Read replicas of HUB_DATABASE_URL, comma-separated; record reads."
    )
    replica_max_lag_seconds: float = Field(
        5.0, ge=0, le=3600, description="A replica lagging more than this is not read from."
    )
    replica_sticky_seconds: float = Field(
        10.0, ge=0, le=3600, description="A caller reads the primary this long after writing."
    )
    redis_url: SecretStr | None = Field(
        None, description="Redis URL; set, every hub process shares one set of rate counters."
    )
    rate_limit_client: str = Field(
        "200/2 seconds", description="Requests per client (a burst of 200, then 100/s); off."
    )
    rate_limit_agency: str = Field(
        "1000/2 seconds", description="Requests per agency, all its clients together; off."
    )
    rate_limit_anonymous: str = Field(
        "100/2 seconds", description="Requests per address from anonymous callers; off."
    )
    rate_limit_token: str = Field(
        "30/minute", description="Token requests per address and per client id; off."
    )
    cors_origins: str = Field(
        "", description="Browser origins allowed to call the hub (comma-separated); none."
    )
    graphiql: bool | None = Field(
        None, description="Serve GraphiQL at GET /graphql to browsers; default on when embedded."
    )
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token a /metrics scrape must carry; unset: this machine only."
    )
    log_level: str = Field("INFO", description="Python log level.")
    log_format: Literal["json", "text"] = Field(
        "json", description="Log lines as JSON objects (structlog) or as plain text."
    )
    access_log: bool = Field(True, description="One log line per HTTP request (level INFO).")
    schema_gc_freeze: bool = Field(
        True,
        description=(
            "Keep each built GraphQL schema out of the garbage collector's full passes "
            "(gc.freeze), freeing the previous one by one full collection after a rebuild. "
            "Off where many short-lived hubs share one process (the test suite)."
        ),
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"expected DEBUG, INFO, WARNING or ERROR, got {value!r}")
        return upper

    @field_validator(
        "rate_limit_client", "rate_limit_agency", "rate_limit_anonymous", "rate_limit_token"
    )
    @classmethod
    def _rate(cls, value: str) -> str:
        from hub.rate_limits import parse_allowance

        parse_allowance(value)  # a ValueError says what a rate looks like
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in _parts(value):
            if origin and origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin[:100]!r} is not an origin such as https://portal.example.gov.vn "
                    "(scheme, host and port only)"
                )
        return value

    @field_validator("backup_schedule")
    @classmethod
    def _backup_schedule(cls, value: str) -> str:
        from catalog.errors import HubError
        from connectors.spec import parse_schedule

        try:
            return parse_schedule(value).text
        except HubError as exc:
            raise ValueError(exc.message) from None

    @field_validator("database_replica_urls")
    @classmethod
    def _replica_urls(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from hub.database_url import parse_database_url

            for position, url in enumerate(_parts(value.get_secret_value()), start=1):
                try:
                    parse_database_url(url)
                except ValueError as exc:  # the URL may carry a password: name its place
                    raise ValueError(f"replica {position}: {exc}") from None
        return value

    @property
    def replica_urls(self) -> list[str]:
        if self.database_replica_urls is None:
            return []
        return [url for url in _parts(self.database_replica_urls.get_secret_value()) if url]

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin for origin in _parts(self.cors_origins) if origin]

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from hub.rate_limits import redis_storage_url

            redis_storage_url(value.get_secret_value())
        return value

    @field_validator("search_index_prefix")
    @classmethod
    def _index_prefix(cls, value: str) -> str:
        # OpenSearch index names: lowercase, no leading "_", "-" or "+", none of \/*?"<>| ,#:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,40}", value):
            raise ValueError(
                "expected 1-41 lowercase letters, digits, '.', '_' or '-', starting with a "
                f"letter or digit, got {value!r}"
            )
        return value

    @field_validator("opensearch_ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        # Checked here: the search client only reads it at its first request.
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("public_url", "oidc_issuer", "opensearch_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/") if value else value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from hub.database_url import parse_database_url

            parse_database_url(value.get_secret_value())  # DatabaseUrlError is a ValueError
        return value

    @property
    def resolved_keys_file(self) -> Path:
        return self.keys_file or self.data_dir / "keys.json"

    @property
    def runs_worker_in_process(self) -> bool:
        """Whether ``hub serve`` runs scheduled connectors itself (HUB_WORKER_IN_PROCESS)."""
        if self.worker_in_process is None:
            return self.database_url is None
        return self.worker_in_process

    @property
    def reindexes_search_at_start(self) -> bool:
        """Whether ``hub serve`` rebuilds the index at start (HUB_SEARCH_REINDEX_AT_START)."""
        if self.search_reindex_at_start is None:
            return self.opensearch_url is None
        return self.search_reindex_at_start

    @property
    def serves_graphiql(self) -> bool:
        """Whether browsers get GraphiQL at GET /graphql (HUB_GRAPHIQL)."""
        if self.graphiql is None:
            return self.database_url is None
        return self.graphiql

    @property
    def uses_embedded_issuer(self) -> bool:
        return self.oidc_issuer is None

    @property
    def token_issuer(self) -> str:
        """The ``iss`` that tokens must carry: the IdP's or the embedded issuer's."""
        return self.oidc_issuer or self.public_url


def _parts(listed: str) -> list[str]:
    """The items of a comma-separated setting, stripped (empty ones kept: validators name
    each item by its position)."""
    return [part.strip() for part in listed.split(",")]


def load_settings(settings_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment (and a TOML file); raise SettingsError naming the
    variable when a value is wrong."""
    cls: type[Settings] = Settings
    if settings_file is not None:
        if not settings_file.is_file():
            raise SettingsError(f"settings file {settings_file} does not exist")
        cls = _with_toml(settings_file)
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        # Only the settings file is read here; a malformed one must not end in a traceback.
        raise SettingsError(f"settings file {settings_file}: not valid TOML ({exc})") from None


def _with_toml(path: Path) -> type[Settings]:
    class FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            # Environment wins over the file, as operators expect for one-off overrides.
            return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, path))

    return FileSettings


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        name = "HUB_" + "_".join(str(p) for p in error["loc"]).upper()
        if error["type"] == "extra_forbidden":
            parts.append(f"{name}: unknown setting")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            parts.append(f"{name}: {message}")
    return "; ".join(parts)


__all__ = ["Settings", "SettingsError", "load_settings"]
