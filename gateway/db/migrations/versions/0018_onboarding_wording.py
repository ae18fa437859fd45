"""onboarding: who invites (sender name, inviting company), supplier campaigns, how a counterparty sends

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# revision identifiers, used by Alembic.
revision: str = '0018'
down_revision: Union[str, Sequence[str], None] = '0017'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema (existing campaigns invite customers, as before; nobody has said how it sends)."""
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('inviter', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='customers', nullable=False))
    with op.batch_alter_table('counterparties', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sends_by', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('sends_detail', JSON, nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('counterparties', schema=None) as batch_op:
        batch_op.drop_column('sends_detail')
        batch_op.drop_column('sends_by')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('kind')
        batch_op.drop_column('inviter')
        batch_op.drop_column('sender_name')
