"""validation profiles: a partner's (which rule sets its invoices are checked with) and a document's

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema (documents already checked were checked with EN 16931, the only profile then)."""
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('validation_profile', sa.String(length=40), nullable=True))
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('validation_profile', sa.String(length=40), server_default='en16931',
                                      nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('validation_profile')
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_column('validation_profile')
