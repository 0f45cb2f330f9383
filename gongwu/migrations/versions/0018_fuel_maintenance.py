"""running costs (issue 25, first part): fill-ups, workshop bills, a car's tank

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 00:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'fleet_fuel',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('vehicle_id', sa.Integer(), nullable=False),
        sa.Column('filled_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('litres', sa.Float(), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('card_no', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('station', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['vehicle_id'], ['fleet_vehicle.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('vehicle_id', 'filled_at'),
    )
    with op.batch_alter_table('fleet_fuel', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fleet_fuel_vehicle_id'), ['vehicle_id'], unique=False)
    op.create_table(
        'fleet_maintenance',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('vehicle_id', sa.Integer(), nullable=False),
        sa.Column('done_on', sa.Date(), nullable=False),
        sa.Column('workshop', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('odometer_km', sa.Integer(), nullable=True),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('document_no', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['vehicle_id'], ['fleet_vehicle.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('vehicle_id', 'done_on', 'workshop', 'kind'),
    )
    with op.batch_alter_table('fleet_maintenance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fleet_maintenance_vehicle_id'), ['vehicle_id'], unique=False)
    with op.batch_alter_table('fleet_vehicle', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tank_l', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('fleet_vehicle', schema=None) as batch_op:
        batch_op.drop_column('tank_l')
    with op.batch_alter_table('fleet_maintenance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fleet_maintenance_vehicle_id'))
    op.drop_table('fleet_maintenance')
    with op.batch_alter_table('fleet_fuel', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fleet_fuel_vehicle_id'))
    op.drop_table('fleet_fuel')
