"""Settings, from the CLI, the environment (prefix ``ATLAS_SA_``) or a TOML file; SQLite on loopback by default.

Which source wins, and how a file is chosen, is :mod:`atlas_sa.config`'s; this class declares the order."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, FilePath, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

POLICY_PATTERN = r"^[1-9][0-9]*/[1-9][0-9]*/[1-9][0-9]*$"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATLAS_SA_", extra="ignore")

    profile: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./atlas-sa.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # The base URL tokens name as their issuer; defaults to the address the server listens on.
    issuer: str | None = None
    # The master key (atlas_sa.kit.crypto); checked here so that every command refuses a short one alike.
    secret_key: SecretStr | None = Field(default=None, min_length=16)
    # Where a development master key is generated and kept when the database is not a SQLite file (whose key lives
    # beside it); without it, PostgreSQL needs ``secret_key``. Never the current directory (docs/security.md).
    data_dir: Path | None = None
    trusted_proxies: list[str] = Field(default_factory=list)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # ``json``: one JSON object per line (atlas_sa.kit.logs).
    log_format: Literal["text", "json"] = "text"
    # Serve ``/metrics`` on this port only (same host), not on the main one: for deployments that must not expose
    # metrics where the API is reachable.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # The ``atlas_sa_secrets_expiring`` gauge counts secrets expiring within this many days.
    secret_expiry_warning_days: int = Field(default=7, ge=1)
    # One line per request on stderr; the benchmarks turn it off (it costs ~10% of a cheap request).
    access_log: bool = True
    # The event loop under uvicorn. asyncio by default: under saturation uvloop answers some connections many times
    # later than others (measured with 64 connections on one core: p99/p50 of 5.4x for uvloop, 1.1x for asyncio,
    # at equal throughput for requests costing 0.3 ms or more; docs/performance.md).
    event_loop: Literal["asyncio", "uvloop"] = "asyncio"
    # FastAPI's own OpenTelemetry request spans and metrics, exported over OTLP/HTTP as the standard OTEL_*
    # variables say (needs the ``otel`` extra; atlas_sa.app). Off by default: even with no provider configured,
    # looking for one on every request cost ~7% of a token request.
    opentelemetry: bool = False
    # Token minting and cached service-account reads answered without FastAPI's router (atlas_sa.kit.fastpath);
    # the answers are the same either way, off only to compare the two.
    fast_paths: bool = True
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    db_pool_size: int = Field(default=10, ge=1)
    # Token buckets (docs/security.md), each "capacity/refill/period-seconds". Atlas's figures by default.
    rate_limits_enabled: bool = True
    rate_limit_org_service_accounts: str = Field(default="500/250/60", pattern=POLICY_PATTERN)
    rate_limit_project_service_accounts: str = Field(default="1200/500/60", pattern=POLICY_PATTERN)
    rate_limit_org_settings: str = Field(default="10/5/60", pattern=POLICY_PATTERN)
    rate_limit_default: str = Field(default="1000/500/60", pattern=POLICY_PATTERN)
    rate_limit_token: str = Field(default="50/50/60", pattern=POLICY_PATTERN)
    # Brute-force protection of the token endpoint and Digest: failures allowed per (client id, address), per
    # address and per client id before refusal; the lockout window they refill over; the delay added to each
    # failure once a (client id, address) has failed ``auth_failures_before_delay`` times.
    auth_throttle_enabled: bool = True
    auth_failures_per_client_address: int = Field(default=10, ge=1)
    auth_failures_per_address: int = Field(default=50, ge=1)
    auth_failures_per_client: int = Field(default=100, ge=1)
    auth_lockout_seconds: int = Field(default=900, ge=1)
    auth_failures_before_delay: int = Field(default=3, ge=0)
    auth_failure_delay_seconds: float = Field(default=1.0, ge=0)
    # Memory bounds of both: buckets kept per policy in the memory store (SQLite), lockouts held per instance.
    throttle_memory_entries: int = Field(default=20_000, ge=8)
    # Slow clients: the whole request body must arrive within this many seconds of the request start (else 408);
    # the request line and headers likewise within ``header_timeout`` of the first byte or of the connection.
    request_timeout: float = Field(default=30.0, gt=0)
    header_timeout: float = Field(default=10.0, gt=0)
    # Request heads, checked as they are read (docs/security.md): the request line and header fields in all, one
    # field's name and value, the number of fields (431 past any), and the request target (414).
    max_header_bytes: int = Field(default=65_536, ge=1024)
    max_header_field_bytes: int = Field(default=8192, ge=256)
    max_header_fields: int = Field(default=100, ge=10)
    max_url_bytes: int = Field(default=8192, ge=256)
    # HTTPS (atlas_sa.kit.tls): a PEM certificate chain and its key; or ``tls_dev``, a development CA and a server
    # certificate made and kept beside the database. Either way the issuer and links name https://.
    tls_cert: FilePath | None = None
    tls_key: FilePath | None = None
    tls_dev: bool = False
    # The events' background watch (atlas_sa.events.expiry): how often it runs (0: never, in this process) and how
    # long events are kept before it purges them. It reports secrets entering ``secret_expiry_warning_days``.
    event_watch_interval_seconds: float = Field(default=60.0, ge=0)
    event_retention_days: int = Field(default=730, ge=1, le=36500)
    # A seed file (atlas_sa.onboarding.seed) that ``serve`` applies at start, after migrations, before listening.
    seed: FilePath | None = None
    # Seeds name fixed secrets and API keys, known to whoever reads the file: the production profile refuses them
    # unless this says they are meant (a CI stand-in run with production settings).
    allow_fixed_credentials: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest first: the command's options, the environment, the config file (``toml_file``, none unless
        # atlas_sa.config names one), then the defaults. No .env or secrets directory.
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)

    @field_validator("data_dir")
    @classmethod
    def _data_dir_is_absolute(cls, value: Path | None) -> Path | None:
        # A relative folder would name another folder, and so another key, from every working directory.
        if value is not None and not value.is_absolute():
            raise ValueError("must be an absolute path")
        return value

    @model_validator(mode="after")
    def _production_needs_a_key(self) -> Settings:
        if self.profile == "production" and self.secret_key is None:
            raise ValueError("ATLAS_SA_SECRET_KEY is required when ATLAS_SA_PROFILE=production")
        return self

    @model_validator(mode="after")
    def _metrics_port_is_another(self) -> Settings:
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError("ATLAS_SA_METRICS_PORT must differ from ATLAS_SA_PORT")
        return self

    @property
    def issuer_url(self) -> str:
        return self.issuer or self.listen_url()

    def listen_url(self, port: int | None = None) -> str:
        """``http(s)://HOST:PORT`` where ``serve`` listens (``port``: the one it got, for port 0)."""
        # An IPv6 address is bracketed in a URL (RFC 3986 §3.2.2).
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port if port is None else port}"

    @property
    def tls(self) -> bool:
        return self.tls_dev or self.tls_cert is not None

    @model_validator(mode="after")
    def _tls_one_way(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("ATLAS_SA_TLS_CERT and ATLAS_SA_TLS_KEY go together: set both or neither")
        if self.tls_dev and self.tls_cert is not None:
            raise ValueError("ATLAS_SA_TLS_DEV makes its own certificate: set it or ATLAS_SA_TLS_CERT, not both")
        if self.tls_dev and self.profile == "production":
            raise ValueError("ATLAS_SA_TLS_DEV is for development: in production set ATLAS_SA_TLS_CERT and _KEY")
        if self.tls and self.issuer is not None and not self.issuer.lower().startswith("https://"):
            # Tokens and metadata would name a URL that clients cannot reach, and official clients refuse.
            raise ValueError("ATLAS_SA_ISSUER must be an https:// URL when TLS is on")
        return self
