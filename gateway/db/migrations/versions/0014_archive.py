"""archive: the hash chain over archived payloads, its RFC 3161 seals, the catch-up's cursors

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-14

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('archive_entries',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('owner', sa.String(length=40), nullable=False),
    sa.Column('exchange_id', sa.Integer(), nullable=True),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.Column('ref_seq', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_archive_entries')),
    sa.UniqueConstraint('entry_hash', name=op.f('uq_archive_entries_entry_hash')),
    sa.UniqueConstraint('kind', 'owner', 'sha256', name=op.f('uq_archive_entries_kind_owner_sha256'))
    )
    op.create_index(op.f('ix_archive_entries_at'), 'archive_entries', ['at'], unique=False)
    op.create_index(op.f('ix_archive_entries_owner'), 'archive_entries', ['owner'], unique=False)
    op.create_index(op.f('ix_archive_entries_sha256'), 'archive_entries', ['sha256'], unique=False)
    op.create_table('archive_seals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('head_seq', sa.Integer(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('tsa_url', sa.String(length=1000), nullable=False),
    sa.Column('gen_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('serial', sa.String(length=80), nullable=False),
    sa.Column('response', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_archive_seals'))
    )
    op.create_index(op.f('ix_archive_seals_at'), 'archive_seals', ['at'], unique=False)
    op.create_table('archive_cursors',
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('source', name=op.f('pk_archive_cursors'))
    )


def downgrade() -> None:
    op.drop_table('archive_cursors')
    op.drop_index(op.f('ix_archive_seals_at'), table_name='archive_seals')
    op.drop_table('archive_seals')
    op.drop_index(op.f('ix_archive_entries_sha256'), table_name='archive_entries')
    op.drop_index(op.f('ix_archive_entries_owner'), table_name='archive_entries')
    op.drop_index(op.f('ix_archive_entries_at'), table_name='archive_entries')
    op.drop_table('archive_entries')
