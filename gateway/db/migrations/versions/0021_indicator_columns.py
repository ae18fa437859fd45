"""columns recorded once for the indicators, and indexes that cover their queries

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-24

At 200,000 documents the volume and delivery-time indicators spent their time visiting each
document of the period, its exchange and its delivery's events. A document now records its
inbound exchange's channel, and a delivery when its document arrived (``received_at``) and
when it first reached its recipient (``reached_at``); one index each holds every column those
queries read, so a period is one range scan of an index. Existing rows are filled from the
record they summarise.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0021'
down_revision: Union[str, Sequence[str], None] = '0020'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BACKFILL = (
    "UPDATE documents SET channel = (SELECT exchanges.channel FROM exchanges "
    "WHERE exchanges.id = documents.exchange_id)",
    "UPDATE deliveries SET received_at = (SELECT exchanges.created_at FROM documents "
    "JOIN exchanges ON exchanges.id = documents.exchange_id WHERE documents.id = deliveries.document_id), "
    "reached_at = (SELECT min(delivery_events.at) FROM delivery_events WHERE delivery_events.delivery_id = "
    "deliveries.id AND delivery_events.status IN ('delivered', 'acknowledged'))",
)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=16), nullable=True))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('received_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reached_at', sa.DateTime(timezone=True), nullable=True))
    for statement in BACKFILL:
        op.execute(statement)
    op.create_index('ix_documents_indicators', 'documents',
                    ['created_at', 'channel', 'syntax', 'sender_partner_id', 'valid', 'business_status'], unique=False)
    op.create_index('ix_deliveries_indicators', 'deliveries', ['received_at', 'channel', 'reached_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_deliveries_indicators', table_name='deliveries')
    op.drop_index('ix_documents_indicators', table_name='documents')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('reached_at')
        batch_op.drop_column('received_at')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('channel')
