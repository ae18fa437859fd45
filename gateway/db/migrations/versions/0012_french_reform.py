"""french reform: a partner subject to the French e-invoicing reform is held to the French rules

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema (existing partners are not marked: their checks do not change)."""
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('french_reform', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_column('french_reform')
