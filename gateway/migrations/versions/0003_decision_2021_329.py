"""Data: decision №329 of 21.07.2021 — insert 3.18, renumber the old 3.18–3.27 to 3.19–3.28, add
section 32 «SOS» (gateway/data/classifier_changes/2021-329.yaml), through the generic classifier step.
Requests point at items, not codes, so every request stays on its item; only the code each item
carries in the new version changes. Later changes need no migration file of their own.

Revision ID: 0003_decision_2021_329
Revises: 0002_classifier_2020
"""

from __future__ import annotations

from alembic import op

from gateway.classifier import default_classifier
from gateway.migrations.classifier_step import apply_classifier_versions, revert_classifier_version

revision = "0003_decision_2021_329"
down_revision = "0002_classifier_2020"
branch_labels = None
depends_on = None

NEW_VERSION = "2021-329"


def upgrade() -> None:
    apply_classifier_versions(op.get_bind(), default_classifier(), up_to=NEW_VERSION)


def downgrade() -> None:
    revert_classifier_version(op.get_bind(), default_classifier(), NEW_VERSION)
