"""anomaly and fraud controls: facts learned per invoice, suppliers' bank accounts on record, holds, per-organisation settings

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-14

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '0015'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# JSONB on PostgreSQL, JSON text on SQLite (gateway.db.base.JSONType).
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Upgrade schema (no history is back-filled: each supplier's is learned from its next invoices)."""
    op.create_table('control_facts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('supplier_key', sa.String(length=300), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('number', sa.String(length=200), nullable=True),
    sa.Column('issue_date', sa.Date(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('amount', sa.Numeric(precision=19, scale=4), nullable=True),
    sa.Column('accounts', JSON, nullable=False),
    sa.Column('vat_rates', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_control_facts_document_id_documents'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['partners.id'],
                            name=op.f('fk_control_facts_organisation_id_partners'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_control_facts')),
    sa.UniqueConstraint('document_id', name=op.f('uq_control_facts_document_id'))
    )
    op.create_index(op.f('ix_control_facts_supplier_key_id'), 'control_facts', ['supplier_key', 'id'], unique=False)
    op.create_index(op.f('ix_control_facts_supplier_key_issue_date'), 'control_facts',
                    ['supplier_key', 'issue_date'], unique=False)
    op.create_table('supplier_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supplier_key', sa.String(length=300), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.Column('set_by', sa.String(length=200), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'],
                            name=op.f('fk_supplier_accounts_document_id_documents'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_accounts')),
    sa.UniqueConstraint('supplier_key', 'account', name=op.f('uq_supplier_accounts_supplier_key_account'))
    )
    op.create_index(op.f('ix_supplier_accounts_supplier_key'), 'supplier_accounts', ['supplier_key'], unique=False)
    op.create_table('control_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('control', sa.String(length=40), nullable=False),
    sa.Column('supplier_key', sa.String(length=300), nullable=False),
    sa.Column('evidence', JSON, nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_control_holds_document_id_documents'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_control_holds')),
    sa.UniqueConstraint('document_id', 'control', name=op.f('uq_control_holds_document_id_control'))
    )
    op.create_index(op.f('ix_control_holds_released_at_opened_at'), 'control_holds', ['released_at', 'opened_at'],
                    unique=False)
    op.create_index(op.f('ix_control_holds_supplier_key'), 'control_holds', ['supplier_key'], unique=False)
    op.create_table('control_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('control', sa.String(length=40), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=True),
    sa.Column('thresholds', JSON, nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_control_settings_partner_id_partners'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_control_settings')),
    sa.UniqueConstraint('partner_id', 'control', name=op.f('uq_control_settings_partner_id_control'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('control_settings')
    with op.batch_alter_table('control_holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_control_holds_supplier_key'))
        batch_op.drop_index(batch_op.f('ix_control_holds_released_at_opened_at'))
    op.drop_table('control_holds')
    with op.batch_alter_table('supplier_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supplier_accounts_supplier_key'))
    op.drop_table('supplier_accounts')
    with op.batch_alter_table('control_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_control_facts_supplier_key_issue_date'))
        batch_op.drop_index(batch_op.f('ix_control_facts_supplier_key_id'))
    op.drop_table('control_facts')
