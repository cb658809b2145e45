"""Settings, from the environment (prefix ``ATLAS_SA_``) or the CLI; SQLite on loopback by default."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATLAS_SA_", extra="ignore")

    profile: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./atlas-sa.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # The base URL tokens name as their issuer; defaults to the address the server listens on.
    issuer: str | None = None
    secret_key: SecretStr | None = None
    trusted_proxies: list[str] = Field(default_factory=list)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # One line per request on stderr; the benchmarks turn it off (it costs ~10% of a cheap request).
    access_log: bool = True
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    db_pool_size: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _production_needs_a_key(self) -> Settings:
        if self.profile == "production" and self.secret_key is None:
            raise ValueError("ATLAS_SA_SECRET_KEY is required when ATLAS_SA_PROFILE=production")
        return self

    @property
    def issuer_url(self) -> str:
        return self.issuer or f"http://{self.host}:{self.port}"
