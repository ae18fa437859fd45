"""indexes for the indicators and /metrics at scale

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-23

The indicators start each query from the period's column (life-cycle events by status and
time, approvals by when they ended); /metrics groups exchanges and deliveries by their labels
from an index holding them instead of reading every row.
"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0020'
down_revision: Union[str, Sequence[str], None] = '0019'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES = (
    ('ix_document_status_events_status_at', 'document_status_events', ['status', 'at']),
    ('ix_approval_cases_closed_at', 'approval_cases', ['closed_at']),
    ('ix_exchanges_direction_channel_status', 'exchanges', ['direction', 'channel', 'status']),
    ('ix_deliveries_channel_status', 'deliveries', ['channel', 'status']),
)


def upgrade() -> None:
    """Upgrade schema."""
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
