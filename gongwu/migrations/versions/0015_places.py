"""places (地名库): the gazetteer, each stop named by its nearest place, shopfronts located

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'fleet_place',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('lat', sa.Float(), nullable=False),
        sa.Column('lon', sa.Float(), nullable=False),
        sa.Column('radius_m', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name', 'kind'),
    )
    with op.batch_alter_table('fleet_stop', schema=None) as batch_op:
        batch_op.add_column(sa.Column('place_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('place_kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('place_m', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('place_bearing', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('place_inside', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('property_operating', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lat', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('lon', sa.Float(), nullable=True))
    op.create_table(
        'property_geocode_cache',
        sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('query', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column('lat', sa.Float(), nullable=True),
        sa.Column('lon', sa.Float(), nullable=True),
        sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('provider', 'query'),
    )


def downgrade() -> None:
    op.drop_table('property_geocode_cache')
    with op.batch_alter_table('property_operating', schema=None) as batch_op:
        batch_op.drop_column('lon')
        batch_op.drop_column('lat')
    with op.batch_alter_table('fleet_stop', schema=None) as batch_op:
        batch_op.drop_column('place_inside')
        batch_op.drop_column('place_bearing')
        batch_op.drop_column('place_m')
        batch_op.drop_column('place_kind')
        batch_op.drop_column('place_name')
    op.drop_table('fleet_place')
