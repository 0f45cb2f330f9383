"""running costs and disposal (issue 25): insurance, inspections, other costs, a fuel slip's order,
a car's units over time, the steps of its disposal

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 02:01:17.874443
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('fleet_cost',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('spent_on', sa.Date(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('document_no', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['vehicle_id'], ['fleet_vehicle.id'], name=op.f('fk_fleet_cost_vehicle_id_fleet_vehicle')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fleet_cost')),
    sa.UniqueConstraint('vehicle_id', 'spent_on', 'category', 'reason', 'document_no', name=op.f('uq_fleet_cost_vehicle_id_spent_on_category_reason_document_no'))
    )
    with op.batch_alter_table('fleet_cost', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fleet_cost_vehicle_id'), ['vehicle_id'], unique=False)

    op.create_table('fleet_disposal_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('stage', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('on_day', sa.Date(), nullable=False),
    sa.Column('document_no', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('income_fen', sa.BigInteger(), nullable=True),
    sa.Column('to_unit_id', sa.Integer(), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['to_unit_id'], ['core_unit.id'], name=op.f('fk_fleet_disposal_step_to_unit_id_core_unit')),
    sa.ForeignKeyConstraint(['vehicle_id'], ['fleet_vehicle.id'], name=op.f('fk_fleet_disposal_step_vehicle_id_fleet_vehicle')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fleet_disposal_step'))
    )
    with op.batch_alter_table('fleet_disposal_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fleet_disposal_step_vehicle_id'), ['vehicle_id'], unique=False)

    op.create_table('fleet_inspection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('inspected_on', sa.Date(), nullable=False),
    sa.Column('next_due_on', sa.Date(), nullable=False),
    sa.Column('station', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['vehicle_id'], ['fleet_vehicle.id'], name=op.f('fk_fleet_inspection_vehicle_id_fleet_vehicle')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fleet_inspection')),
    sa.UniqueConstraint('vehicle_id', 'inspected_on', name=op.f('uq_fleet_inspection_vehicle_id_inspected_on'))
    )
    with op.batch_alter_table('fleet_inspection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fleet_inspection_vehicle_id'), ['vehicle_id'], unique=False)

    op.create_table('fleet_insurance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('insurer', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('policy_no', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('start_on', sa.Date(), nullable=False),
    sa.Column('end_on', sa.Date(), nullable=False),
    sa.Column('premium_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['vehicle_id'], ['fleet_vehicle.id'], name=op.f('fk_fleet_insurance_vehicle_id_fleet_vehicle')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fleet_insurance')),
    sa.UniqueConstraint('vehicle_id', 'policy_no', name=op.f('uq_fleet_insurance_vehicle_id_policy_no'))
    )
    with op.batch_alter_table('fleet_insurance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fleet_insurance_vehicle_id'), ['vehicle_id'], unique=False)

    op.create_table('fleet_vehicle_unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('from_on', sa.Date(), nullable=True),
    sa.Column('to_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['core_unit.id'], name=op.f('fk_fleet_vehicle_unit_unit_id_core_unit')),
    sa.ForeignKeyConstraint(['vehicle_id'], ['fleet_vehicle.id'], name=op.f('fk_fleet_vehicle_unit_vehicle_id_fleet_vehicle')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fleet_vehicle_unit'))
    )
    with op.batch_alter_table('fleet_vehicle_unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fleet_vehicle_unit_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fleet_vehicle_unit_vehicle_id'), ['vehicle_id'], unique=False)

    with op.batch_alter_table('fleet_fuel', schema=None) as batch_op:
        batch_op.add_column(sa.Column('order_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_fleet_fuel_order_id'), ['order_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_fleet_fuel_order_id_fleet_order'), 'fleet_order', ['order_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('fleet_fuel', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_fleet_fuel_order_id_fleet_order'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_fleet_fuel_order_id'))
        batch_op.drop_column('order_id')

    with op.batch_alter_table('fleet_vehicle_unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fleet_vehicle_unit_vehicle_id'))
        batch_op.drop_index(batch_op.f('ix_fleet_vehicle_unit_unit_id'))

    op.drop_table('fleet_vehicle_unit')
    with op.batch_alter_table('fleet_insurance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fleet_insurance_vehicle_id'))

    op.drop_table('fleet_insurance')
    with op.batch_alter_table('fleet_inspection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fleet_inspection_vehicle_id'))

    op.drop_table('fleet_inspection')
    with op.batch_alter_table('fleet_disposal_step', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fleet_disposal_step_vehicle_id'))

    op.drop_table('fleet_disposal_step')
    with op.batch_alter_table('fleet_cost', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fleet_cost_vehicle_id'))

    op.drop_table('fleet_cost')
