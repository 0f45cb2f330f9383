"""course in tenths of a degree

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 07:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # fleet_position.course was whole degrees; the column stays an integer, now of 0.1° (COURSE_SCALE)
    op.execute("UPDATE fleet_position SET course = course * 10 WHERE course IS NOT NULL")


def downgrade() -> None:
    op.execute("UPDATE fleet_position SET course = course / 10 WHERE course IS NOT NULL")
