"""Alembic environment: the URL comes from the config the gateway builds (gateway.db.alembic_config)."""

from __future__ import annotations

from alembic import context
from alembic.script import ScriptDirectory
from sqlalchemy import engine_from_config, pool

import gateway.reports.models  # noqa: F401  (its table belongs to the same metadata, for autogenerate)
from gateway.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                     poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
            if _at_head():
                _apply_classifier_changes(connection)
        if connection.in_transaction():  # SQLite: alembic commits per migration, not what runs after them
            connection.commit()


def _at_head() -> bool:
    heads = set(ScriptDirectory.from_config(config).get_heads())
    return set(context.get_context().get_current_heads()) == heads


def _apply_classifier_changes(connection) -> None:
    """Every classifier change file not yet in the database, in the same transaction as the schema:
    the generic step (gateway.migrations.classifier_step) that makes a change file all a person writes."""
    from gateway.classifier import default_classifier
    from gateway.migrations.classifier_step import apply_classifier_versions

    apply_classifier_versions(connection, default_classifier())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
