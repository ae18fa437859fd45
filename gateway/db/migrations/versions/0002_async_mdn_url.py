"""exchanges.mdn_url: where an asynchronous MDN we owe goes (Receipt-Delivery-Option)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('exchanges') as batch:
        batch.add_column(sa.Column('mdn_url', sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('exchanges') as batch:
        batch.drop_column('mdn_url')
