"""approval notices keep their parameters (worded in each reader's language when shown)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-22

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '0019'
down_revision: Union[str, Sequence[str], None] = '0018'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# JSONB on PostgreSQL, JSON text on SQLite (gateway.db.base.JSONType).
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Upgrade schema (notices written before keep their English text, and show it)."""
    with op.batch_alter_table('approval_notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('params', JSON, nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('approval_notices', schema=None) as batch_op:
        batch_op.drop_column('params')
