"""refused inbound attempts keep the Message-ID they claimed, outside the duplicate key

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('exchanges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refused', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.drop_constraint('uq_exchanges_direction_partner_id_message_id', type_='unique')
        batch_op.create_index('ux_exchanges_accepted_message_id', ['direction', 'partner_id', 'message_id'],
                              unique=True, sqlite_where=sa.text('NOT refused'),
                              postgresql_where=sa.text('NOT refused'))


def downgrade() -> None:
    """Downgrade schema (refused attempts lose the Message-ID they claimed)."""
    op.execute("UPDATE exchanges SET message_id = NULL WHERE refused")
    with op.batch_alter_table('exchanges', schema=None) as batch_op:
        batch_op.drop_index('ux_exchanges_accepted_message_id', sqlite_where=sa.text('NOT refused'),
                            postgresql_where=sa.text('NOT refused'))
        batch_op.create_unique_constraint('uq_exchanges_direction_partner_id_message_id',
                                          ['direction', 'partner_id', 'message_id'])
        batch_op.drop_column('refused')
