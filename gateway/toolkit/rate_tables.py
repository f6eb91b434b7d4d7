"""The shared rate limiter's tables: one row per limited client (its lock) and one per request in
its window."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.models import Base


class RateBucket(Base):
    """One limited client of one utility (endpoint | client id | limit); its row is the lock."""

    __tablename__ = "gw_rate_buckets"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    touched: Mapped[float] = mapped_column(Float)  # epoch seconds of the last admission


class RateSlot(Base):
    """A request of the bucket's window: from ``started`` until one window after ``finished``."""

    __tablename__ = "gw_rate_slots"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), ForeignKey("gw_rate_buckets.key", ondelete="CASCADE"), index=True)
    started: Mapped[float] = mapped_column(Float)
    finished: Mapped[float | None] = mapped_column(Float)


rate_buckets = RateBucket.__table__
rate_slots = RateSlot.__table__
