"""audit log chained and sealed (no replace on SQLite); sign-in lock-out per user and address; import jobs

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 01:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
import core.models

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONTENT = ("id", "at", "actor", "action", "entity", "entity_id", "before", "after", "detail")

# SQLite: an update may only seal a row (set seq, prev_hash and hash once, content unchanged); an insert
# may not land on an existing id (INSERT OR REPLACE deletes without firing the DELETE trigger) nor come
# sealed already.
SQLITE_TRIGGERS = [
    """CREATE TRIGGER trg_core_audit_log_no_update BEFORE UPDATE ON core_audit_log
WHEN NOT (OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.hash IS NOT NULL AND """
    + " AND ".join(f"NEW.{c} IS OLD.{c}" for c in CONTENT)
    + """)
BEGIN SELECT RAISE(ABORT, 'core_audit_log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER trg_core_audit_log_no_replace BEFORE INSERT ON core_audit_log
WHEN NEW.seq IS NOT NULL OR NEW.hash IS NOT NULL
  OR (NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM core_audit_log WHERE id = NEW.id))
BEGIN SELECT RAISE(ABORT, 'core_audit_log is append-only: INSERT onto an existing or sealed row refused'); END""",
]

PG_TRIGGERS = """
DROP TRIGGER IF EXISTS trg_core_audit_log_append_only ON core_audit_log;
CREATE TRIGGER trg_core_audit_log_append_only
    BEFORE DELETE OR TRUNCATE ON core_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION core_audit_log_append_only();
CREATE OR REPLACE FUNCTION core_audit_log_seal_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.seq IS NOT NULL OR NEW.hash IS NOT NULL THEN
            RAISE EXCEPTION 'core_audit_log is append-only: INSERT of a sealed row refused';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.hash IS NOT NULL AND """ + " AND ".join(
    f"NEW.{c}::text IS NOT DISTINCT FROM OLD.{c}::text" for c in CONTENT
) + """ THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'core_audit_log is append-only: UPDATE refused';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_core_audit_log_seal_only
    BEFORE INSERT OR UPDATE ON core_audit_log
    FOR EACH ROW EXECUTE FUNCTION core_audit_log_seal_only();
"""


def upgrade() -> None:
    op.create_table('core_login_throttle',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('client', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('first_at', core.models.UtcDateTime(), nullable=False),
    sa.Column('locked_until', core.models.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['core_user.id'], name=op.f('fk_core_login_throttle_user_id_core_user')),
    sa.PrimaryKeyConstraint('user_id', 'client', name=op.f('pk_core_login_throttle'))
    )
    op.create_table('scheduler_import_job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('stored_as', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('worker', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', core.models.UtcDateTime(), nullable=False),
    sa.Column('started_at', core.models.UtcDateTime(), nullable=True),
    sa.Column('finished_at', core.models.UtcDateTime(), nullable=True),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=True),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['core_user.id'], name=op.f('fk_scheduler_import_job_user_id_core_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduler_import_job'))
    )
    with op.batch_alter_table('scheduler_import_job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduler_import_job_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduler_import_job_user_id'), ['user_id'], unique=False)
    # plain ALTER TABLE … ADD COLUMN on both databases: the table is not rebuilt (its triggers stay)
    op.add_column('core_audit_log', sa.Column('seq', sa.BigInteger(), nullable=True))
    op.add_column('core_audit_log', sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.add_column('core_audit_log', sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.create_index('ix_core_audit_log_seq', 'core_audit_log', ['seq'], unique=True)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(PG_TRIGGERS)
    else:
        op.execute("DROP TRIGGER IF EXISTS trg_core_audit_log_no_update")
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
    from core.audit import seal

    seal(bind)  # the rows written so far start the chain


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_core_audit_log_seal_only ON core_audit_log")
        op.execute("DROP FUNCTION IF EXISTS core_audit_log_seal_only()")
        op.execute("DROP TRIGGER IF EXISTS trg_core_audit_log_append_only ON core_audit_log")
    else:
        for name in ("no_replace", "no_update", "no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_core_audit_log_{name}")
    op.drop_index('ix_core_audit_log_seq', table_name='core_audit_log')
    with op.batch_alter_table('core_audit_log', schema=None) as batch_op:  # rebuilds the table on SQLite
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('seq')
    if bind.dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER trg_core_audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON core_audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION core_audit_log_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER trg_core_audit_log_no_{verb.lower()} BEFORE {verb} ON core_audit_log "
                f"BEGIN SELECT RAISE(ABORT, 'core_audit_log is append-only: {verb} refused'); END"
            )
    op.drop_table('core_login_throttle')
    op.drop_table('scheduler_import_job')
