"""Dispatch ownership and the contact-centre outbox.

- gw_dispatches: ``owner`` (the claim's token: every write after a call compares it), ``state_since``
  (when the dispatch entered its state: every non-final state has a timeout), ``address_key`` (the
  normalised street + house, so linking is one indexed query), ``checked_at`` (the last time a
  ``sent`` job was seen at the utility by the reconciliation).
- gw_step_locks: one step of one utility at a time where there are no advisory locks (SQLite).
- gw_outbound_updates becomes a transactional outbox: written with the contact-centre change that
  causes it (request, not dispatch: the job may not exist yet), claimed with owner and lease, with a
  due time for backoff.

Revision ID: 0006_dispatch_ownership
Revises: 0005_revision_bigint
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.models import UTCDateTime

revision = "0006_dispatch_ownership"
down_revision = "0005_revision_bigint"
branch_labels = None
depends_on = None

TZ = UTCDateTime(timezone=True)


def _address_key(street: str, house: str) -> str:
    from gateway.addresses import house_key, street_key

    return f"{street_key(street)}|{house_key(house)}"


def upgrade() -> None:
    with op.batch_alter_table("gw_dispatches") as batch:
        batch.add_column(sa.Column("owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("state_since", TZ, nullable=True))
        batch.add_column(sa.Column("address_key", sa.String(300), nullable=True))
        batch.add_column(sa.Column("checked_at", TZ, nullable=True))
        batch.create_index("ix_gw_dispatches_address", ["provider", "address_key"])
        batch.create_index("ix_gw_dispatches_linked", ["linked_dispatch_id"])
    bind = op.get_bind()
    dispatches = sa.table("gw_dispatches", sa.column("id"), sa.column("request_id"), sa.column("address_key"),
                          sa.column("state_since"), sa.column("updated_at"))
    requests = sa.table("requests", sa.column("id"), sa.column("street"), sa.column("house"))
    rows = bind.execute(sa.select(dispatches.c.id, requests.c.street, requests.c.house)
                        .join(requests, requests.c.id == dispatches.c.request_id)).all()
    for dispatch_id, street, house in rows:
        bind.execute(sa.update(dispatches).where(dispatches.c.id == dispatch_id)
                     .values(address_key=_address_key(street, house)))
    bind.execute(sa.update(dispatches).values(state_since=dispatches.c.updated_at))

    op.create_table(
        "gw_step_locks",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("lease_until", TZ, nullable=True),
        sa.Column("acquired_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_gw_step_locks"),
    )

    with op.batch_alter_table("gw_outbound_updates") as batch:
        batch.add_column(sa.Column("request_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", TZ, nullable=True))
        batch.add_column(sa.Column("owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_until", TZ, nullable=True))
        batch.alter_column("dispatch_id", existing_type=sa.Integer(), nullable=True)
        batch.drop_constraint("uq_gw_outbound_updates_history_id", type_="unique")
    outbox = sa.table("gw_outbound_updates", sa.column("dispatch_id"), sa.column("request_id"),
                      sa.column("next_attempt_at"), sa.column("created_at"))
    bind.execute(sa.update(outbox).values(
        request_id=sa.select(dispatches.c.request_id).where(dispatches.c.id == outbox.c.dispatch_id)
        .scalar_subquery(),
        next_attempt_at=outbox.c.created_at,
    ))
    with op.batch_alter_table("gw_outbound_updates") as batch:
        batch.alter_column("request_id", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("next_attempt_at", existing_type=TZ, nullable=False)
        batch.create_foreign_key("fk_gw_outbound_updates_request_id_requests", "requests", ["request_id"], ["id"])
        batch.create_unique_constraint("uq_gw_outbound_updates_history_id", ["history_id"])
        batch.create_index("ix_gw_outbound_updates_due", ["state", "next_attempt_at"])
        batch.create_index("ix_gw_outbound_updates_request_id", ["request_id"])


def downgrade() -> None:
    with op.batch_alter_table("gw_outbound_updates") as batch:
        batch.drop_index("ix_gw_outbound_updates_request_id")
        batch.drop_index("ix_gw_outbound_updates_due")
        batch.drop_constraint("uq_gw_outbound_updates_history_id", type_="unique")
        batch.drop_constraint("fk_gw_outbound_updates_request_id_requests", type_="foreignkey")
    op.execute("DELETE FROM gw_outbound_updates WHERE dispatch_id IS NULL")
    with op.batch_alter_table("gw_outbound_updates") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("owner")
        batch.drop_column("next_attempt_at")
        batch.drop_column("request_id")
        batch.alter_column("dispatch_id", existing_type=sa.Integer(), nullable=False)
        batch.create_unique_constraint("uq_gw_outbound_updates_history_id", ["history_id", "dispatch_id"])
    op.drop_table("gw_step_locks")
    with op.batch_alter_table("gw_dispatches") as batch:
        batch.drop_index("ix_gw_dispatches_linked")
        batch.drop_index("ix_gw_dispatches_address")
        batch.drop_column("checked_at")
        batch.drop_column("address_key")
        batch.drop_column("state_since")
        batch.drop_column("owner")
