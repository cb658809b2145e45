"""Token buckets shared by every instance when PostgreSQL is the store."""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from atlas_sa.models.base import Base


class RateLimitBucket(Base):
    __tablename__ = "rate_limit_buckets"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    # Epoch seconds as a float: the refill arithmetic happens inside one SQL statement, in both databases.
    updated_at: Mapped[float] = mapped_column(Float)
