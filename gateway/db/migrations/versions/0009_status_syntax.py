"""status syntax: how a partner is told of its invoices' life cycle (aperak, cdar, none)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema (existing partners keep the behaviour they had: null, APERAK to EDIFACT senders)."""
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_syntax', sa.String(length=16), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_column('status_syntax')
