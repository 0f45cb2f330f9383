"""rent collection: a lease's instalments per year and its payments (收租)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 19:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'property_rent_payment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('lease_id', sa.Integer(), nullable=False),
        sa.Column('paid_on', sa.Date(), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('receipt_no', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('recorded_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['lease_id'], ['property_lease.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('property_rent_payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_property_rent_payment_lease_id'), ['lease_id'], unique=False)
    with op.batch_alter_table('property_lease', schema=None) as batch_op:
        batch_op.add_column(sa.Column('instalments', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('rent_from', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('property_lease', schema=None) as batch_op:
        batch_op.drop_column('rent_from')
        batch_op.drop_column('instalments')
    with op.batch_alter_table('property_rent_payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_property_rent_payment_lease_id'))
    op.drop_table('property_rent_payment')
