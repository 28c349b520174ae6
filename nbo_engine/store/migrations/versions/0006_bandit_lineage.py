"""bandit state lineage: the state a retune carried a version's bandit from

Revision ID: 0006_lineage
Revises: 0005_loop
Create Date: 2026-11-25 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_lineage"
down_revision = "0005_loop"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bandit_states", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("carried_from_state_id", sa.Integer(), nullable=True)
        )
        batch_op.create_foreign_key(
            "fk_bandit_states_carried_from",
            "bandit_states",
            ["carried_from_state_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("bandit_states", schema=None) as batch_op:
        batch_op.drop_constraint("fk_bandit_states_carried_from", type_="foreignkey")
        batch_op.drop_column("carried_from_state_id")
