"""the bidding increment (加价幅度) of an auction round

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 19:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('property_auction_round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('increment_fen', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('property_auction_round', schema=None) as batch_op:
        batch_op.drop_column('increment_fen')
