"""Lineage of the calculator state the ledger books, and snapshots of other lineages held in quarantine.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_lineages",
        sa.Column("lineage", sa.Text, primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),  # adopted | retired
        sa.Column("adopted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("adopted_by", sa.String(255), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('adopted', 'retired')", name="ck_ledger_lineages_state"),
    )
    # At most one adopted lineage.
    op.create_index("ux_ledger_lineages_adopted", "ledger_lineages", ["state"], unique=True,
                    postgresql_where=sa.text("state = 'adopted'"))
    op.create_table(
        "quarantined_snapshots",
        sa.Column("lineage", sa.Text, primary_key=True),
        sa.Column("rep_id", sa.String(255), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("snapshot_version", sa.BigInteger, nullable=False),  # the newest received
        sa.Column("snapshot", JSONB, nullable=False),
        sa.Column("received", sa.Integer, nullable=False, server_default="1"),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("resolution", sa.String(16), nullable=True),  # NULL: pending; adopted
    )


def downgrade() -> None:
    op.drop_table("quarantined_snapshots")
    op.drop_index("ux_ledger_lineages_adopted", table_name="ledger_lineages")
    op.drop_table("ledger_lineages")
