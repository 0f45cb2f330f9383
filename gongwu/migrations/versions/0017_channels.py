"""notification channels (e-mail, DingTalk, WeCom robots) and their deliveries (issue 24)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 23:55:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'core_notify_channel',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('kinds', sa.JSON(), nullable=True),
        sa.Column('quiet_from', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column('quiet_to', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column('digest_only', sa.Boolean(), nullable=False),
        sa.Column('is_active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['core_user.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('core_notify_channel', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_core_notify_channel_user_id'), ['user_id'], unique=False)
    op.create_table(
        'core_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('notification_id', sa.Integer(), nullable=False),
        sa.Column('channel_id', sa.Integer(), nullable=False),
        sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.ForeignKeyConstraint(['channel_id'], ['core_notify_channel.id'], ),
        sa.ForeignKeyConstraint(['notification_id'], ['core_notification.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('notification_id', 'channel_id'),
    )
    with op.batch_alter_table('core_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_core_delivery_due', ['state', 'next_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('core_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_core_delivery_due')
    op.drop_table('core_delivery')
    with op.batch_alter_table('core_notify_channel', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_core_notify_channel_user_id'))
    op.drop_table('core_notify_channel')
