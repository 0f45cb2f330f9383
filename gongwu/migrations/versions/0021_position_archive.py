"""the archived months of positions (issue 26): which China month went to which Parquet file

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08 03:05:35.206248
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('fleet_position_archive',
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('from_ts', sa.BigInteger(), nullable=False),
    sa.Column('to_ts', sa.BigInteger(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('file', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('archived_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('month', name=op.f('pk_fleet_position_archive'))
    )


def downgrade() -> None:
    op.drop_table('fleet_position_archive')
