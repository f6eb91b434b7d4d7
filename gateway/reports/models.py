"""The deadline monitor's own record: one snapshot per run (decision 6.1, daily monitoring)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.models import Base


class DeadlineSnapshot(Base):
    """What was open and overdue at one moment, city-wide or for the hourly (emergency, SOS) items."""

    __tablename__ = "gw_deadline_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(index=True)
    scope: Mapped[str] = mapped_column(String(16))  # city | urgent
    open_requests: Mapped[int] = mapped_column(Integer)
    overdue: Mapped[int] = mapped_column(Integer)
    newly_overdue: Mapped[int] = mapped_column(Integer)
    by_executor: Mapped[dict[str, Any]]  # executor id -> {"open": n, "overdue": n}
