"""channel profiles, networks and their directories, the invoice life cycle, print batches, recipient logins

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, JSON text on SQLite (gateway.db.base.JSONType).
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('print_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('payload_key', sa.String(length=64), nullable=True),
    sa.Column('document_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('page_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('printed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('printed_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_print_batches'))
    )
    with op.batch_alter_table('print_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_print_batches_created_at'), ['created_at'], unique=False)

    op.create_table('networks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('formats', JSON, nullable=False),
    sa.Column('addressing', JSON, nullable=False),
    sa.Column('directory_source', sa.String(length=1000), nullable=True),
    sa.Column('directory_format', sa.String(length=16), server_default='csv', nullable=False),
    sa.Column('refresh_interval_seconds', sa.Integer(), server_default=sa.text('86400'), nullable=False),
    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refresh_error', sa.Text(), nullable=True),
    sa.Column('participant_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_networks_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_networks')),
    sa.UniqueConstraint('code', name=op.f('uq_networks_code'))
    )
    with op.batch_alter_table('networks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_networks_partner_id'), ['partner_id'], unique=False)

    op.create_table('network_participants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('network_id', sa.Integer(), nullable=False),
    sa.Column('scheme', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=256), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=True),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['network_id'], ['networks.id'], name=op.f('fk_network_participants_network_id_networks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_network_participants')),
    sa.UniqueConstraint('network_id', 'scheme', 'value', name=op.f('uq_network_participants_network_id_scheme_value'))
    )
    with op.batch_alter_table('network_participants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_network_participants_scheme_value'), ['scheme', 'value'], unique=False)

    op.create_table('document_status_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('reason_code', sa.String(length=16), nullable=True),
    sa.Column('set_by', sa.String(length=200), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('report_exchange_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_document_status_events_document_id_documents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['report_exchange_id'], ['exchanges.id'], name=op.f('fk_document_status_events_report_exchange_id_exchanges')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document_status_events'))
    )
    with op.batch_alter_table('document_status_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_status_events_document_id_at'), ['document_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_document_status_events_reported_at'), ['reported_at'], unique=False)

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('network_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('print_batch_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_deliveries_network_id'), ['network_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_print_batch_id'), ['print_batch_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_deliveries_network_id_networks'), 'networks', ['network_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_deliveries_print_batch_id_print_batches'), 'print_batches', ['print_batch_id'], ['id'])

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('business_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('business_status_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('preceding_number', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('corrects_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_documents_business_status'), ['business_status'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_corrects_id'), ['corrects_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_documents_corrects_id_documents'), 'documents', ['corrects_id'], ['id'])

    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel_settings', JSON, nullable=True))
        batch_op.add_column(sa.Column('contact_email', sa.String(length=320), nullable=True))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partner_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_partner_id'), ['partner_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_users_partner_id_partners'), 'partners', ['partner_id'], ['id'], ondelete='CASCADE')
        batch_op.drop_constraint(batch_op.f('ck_users_role'), type_='check')
        batch_op.create_check_constraint('role', "role IN ('admin', 'operator', 'staff', 'recipient')")
        batch_op.create_check_constraint('recipient_partner', "(role = 'recipient') = (partner_id IS NOT NULL)")



def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DELETE FROM users WHERE role = 'recipient'")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_users_recipient_partner'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_users_role'), type_='check')
        batch_op.create_check_constraint('role', "role IN ('admin', 'operator', 'staff')")
        batch_op.drop_constraint(batch_op.f('fk_users_partner_id_partners'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_users_partner_id'))
        batch_op.drop_column('partner_id')

    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_column('contact_email')
        batch_op.drop_column('channel_settings')

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_documents_corrects_id_documents'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_documents_corrects_id'))
        batch_op.drop_index(batch_op.f('ix_documents_business_status'))
        batch_op.drop_column('corrects_id')
        batch_op.drop_column('preceding_number')
        batch_op.drop_column('business_status_at')
        batch_op.drop_column('business_status')

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_deliveries_print_batch_id_print_batches'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_deliveries_network_id_networks'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_deliveries_print_batch_id'))
        batch_op.drop_index(batch_op.f('ix_deliveries_network_id'))
        batch_op.drop_column('print_batch_id')
        batch_op.drop_column('network_id')

    with op.batch_alter_table('document_status_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_status_events_reported_at'))
        batch_op.drop_index(batch_op.f('ix_document_status_events_document_id_at'))

    op.drop_table('document_status_events')
    with op.batch_alter_table('network_participants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_network_participants_scheme_value'))

    op.drop_table('network_participants')
    with op.batch_alter_table('networks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_networks_partner_id'))

    op.drop_table('networks')
    with op.batch_alter_table('print_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_print_batches_created_at'))

    op.drop_table('print_batches')
