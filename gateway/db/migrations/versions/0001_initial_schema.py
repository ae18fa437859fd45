"""initial schema: organisations, partners, certificates, exchanges, documents, deliveries

Revision ID: 0001
Revises:
Create Date: 2026-11-22

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, JSON text on SQLite (gateway.db.base.JSONType).
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('organisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
    sa.UniqueConstraint('name', name=op.f('uq_organisations_name'))
    )
    op.create_table('as2_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('as2_name', sa.String(length=128), nullable=False),
    sa.Column('signing_key_ref', sa.String(length=500), nullable=True),
    sa.Column('encryption_key_ref', sa.String(length=500), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_as2_identities_organisation_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_as2_identities')),
    sa.UniqueConstraint('as2_name', name=op.f('uq_as2_identities_as2_name'))
    )
    op.create_index(op.f('ix_as2_identities_organisation_id'), 'as2_identities', ['organisation_id'])

    op.create_table('partners',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('preferred_format', sa.String(length=40), nullable=True),
    sa.Column('preferred_channel', sa.String(length=16), nullable=True),
    sa.Column('as2_identity_id', sa.Integer(), nullable=True),
    sa.Column('as2_id', sa.String(length=128), nullable=True),
    sa.Column('as2_url', sa.String(length=1000), nullable=True),
    sa.Column('as2_signing_algorithm', sa.String(length=32), server_default='sha256', nullable=True),
    sa.Column('as2_encryption_algorithm', sa.String(length=32), server_default='aes_256_cbc', nullable=True),
    sa.Column('as2_compress', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('as2_mdn_mode', sa.String(length=8), server_default='sync', nullable=False),
    sa.Column('as2_mdn_signed', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('as2_require_signed', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('as2_require_encrypted', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('as2_micalg_spelling', sa.String(length=8), server_default='rfc5751', nullable=False),
    sa.Column('as2_compress_before_signing', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('as2_content_transfer_encoding', sa.String(length=8), server_default='binary', nullable=False),
    sa.Column('as2_options', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("as2_content_transfer_encoding IN ('binary', 'base64', '8bit')", name=op.f('ck_partners_as2_content_transfer_encoding')),
    sa.CheckConstraint("as2_encryption_algorithm IN ('aes_128_cbc', 'aes_192_cbc', 'aes_256_cbc')", name=op.f('ck_partners_as2_encryption_algorithm')),
    sa.CheckConstraint("as2_mdn_mode IN ('sync', 'async', 'none')", name=op.f('ck_partners_as2_mdn_mode')),
    sa.CheckConstraint("as2_micalg_spelling IN ('rfc5751', 'rfc3851')", name=op.f('ck_partners_as2_micalg_spelling')),
    sa.CheckConstraint("as2_signing_algorithm IN ('sha1', 'sha224', 'sha256', 'sha384', 'sha512')", name=op.f('ck_partners_as2_signing_algorithm')),
    sa.ForeignKeyConstraint(['as2_identity_id'], ['as2_identities.id'], name=op.f('fk_partners_as2_identity_id_as2_identities'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partners')),
    sa.UniqueConstraint('as2_id', name=op.f('uq_partners_as2_id')),
    sa.UniqueConstraint('name', name=op.f('uq_partners_name'))
    )
    op.create_table('certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('usage', sa.String(length=16), nullable=False),
    sa.Column('pem', sa.Text(), nullable=False),
    sa.Column('subject', sa.String(length=1000), nullable=False),
    sa.Column('issuer', sa.String(length=1000), nullable=True),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('fingerprint_sha256', sa.String(length=64), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('key_ref', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("usage IN ('signing', 'encryption', 'both')", name=op.f('ck_certificates_usage')),
    sa.CheckConstraint('(partner_id IS NULL) <> (organisation_id IS NULL)', name=op.f('ck_certificates_one_owner')),
    sa.CheckConstraint('not_before < not_after', name=op.f('ck_certificates_validity')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_certificates_organisation_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_certificates_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificates'))
    )
    op.create_index(op.f('ix_certificates_active_not_after'), 'certificates', ['active', 'not_after'])
    op.create_index(op.f('ix_certificates_fingerprint_sha256'), 'certificates', ['fingerprint_sha256'])
    op.create_index(op.f('ix_certificates_organisation_id'), 'certificates', ['organisation_id'])
    op.create_index(op.f('ix_certificates_partner_id'), 'certificates', ['partner_id'])

    op.create_table('exchanges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('as2_from', sa.String(length=128), nullable=True),
    sa.Column('as2_to', sa.String(length=128), nullable=True),
    sa.Column('message_id', sa.String(length=1000), nullable=True),
    sa.Column('filename', sa.String(length=500), nullable=True),
    sa.Column('content_type', sa.String(length=200), nullable=True),
    sa.Column('payload_key', sa.String(length=64), nullable=True),
    sa.Column('payload_size', sa.BigInteger(), nullable=True),
    sa.Column('content_sha256', sa.String(length=64), nullable=True),
    sa.Column('content_size', sa.BigInteger(), nullable=True),
    sa.Column('mdn_mode', sa.String(length=8), nullable=True),
    sa.Column('mdn_message_id', sa.String(length=1000), nullable=True),
    sa.Column('mdn_payload_key', sa.String(length=64), nullable=True),
    sa.Column('mdn_disposition', sa.String(length=500), nullable=True),
    sa.Column('mdn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('mdn_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('mic', sa.String(length=200), nullable=True),
    sa.Column('mic_algorithm', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("direction IN ('in', 'out')", name=op.f('ck_exchanges_direction')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_exchanges_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_exchanges_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchanges')),
    sa.UniqueConstraint('direction', 'partner_id', 'message_id', name=op.f('uq_exchanges_direction_partner_id_message_id'))
    )
    op.create_index(op.f('ix_exchanges_content_sha256'), 'exchanges', ['content_sha256'])
    op.create_index(op.f('ix_exchanges_created_at'), 'exchanges', ['created_at'])
    op.create_index(op.f('ix_exchanges_organisation_id'), 'exchanges', ['organisation_id'])
    op.create_index(op.f('ix_exchanges_partner_id_created_at'), 'exchanges', ['partner_id', 'created_at'])
    op.create_index(op.f('ix_exchanges_status_created_at'), 'exchanges', ['status', 'created_at'])
    op.create_index(op.f('ix_exchanges_status_next_attempt_at'), 'exchanges', ['status', 'next_attempt_at'])

    op.create_table('partner_identifiers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('scheme', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=256), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_identifiers_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_identifiers')),
    sa.UniqueConstraint('scheme', 'value', name=op.f('uq_partner_identifiers_scheme_value'))
    )
    op.create_index(op.f('ix_partner_identifiers_partner_id'), 'partner_identifiers', ['partner_id'])

    op.create_table('documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exchange_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('syntax', sa.String(length=40), nullable=False),
    sa.Column('mapping', sa.String(length=200), nullable=False),
    sa.Column('number', sa.String(length=200), nullable=True),
    sa.Column('type_code', sa.String(length=8), nullable=True),
    sa.Column('issue_date', sa.Date(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('seller_name', sa.String(length=500), nullable=True),
    sa.Column('seller_vat_id', sa.String(length=64), nullable=True),
    sa.Column('seller_id_scheme', sa.String(length=16), nullable=True),
    sa.Column('seller_id', sa.String(length=256), nullable=True),
    sa.Column('seller_endpoint_scheme', sa.String(length=16), nullable=True),
    sa.Column('seller_endpoint_id', sa.String(length=256), nullable=True),
    sa.Column('buyer_name', sa.String(length=500), nullable=True),
    sa.Column('buyer_vat_id', sa.String(length=64), nullable=True),
    sa.Column('buyer_id_scheme', sa.String(length=16), nullable=True),
    sa.Column('buyer_id', sa.String(length=256), nullable=True),
    sa.Column('buyer_endpoint_scheme', sa.String(length=16), nullable=True),
    sa.Column('buyer_endpoint_id', sa.String(length=256), nullable=True),
    sa.Column('total_without_vat', sa.Numeric(precision=19, scale=4), nullable=True),
    sa.Column('total_vat', sa.Numeric(precision=19, scale=4), nullable=True),
    sa.Column('total_with_vat', sa.Numeric(precision=19, scale=4), nullable=True),
    sa.Column('amount_due', sa.Numeric(precision=19, scale=4), nullable=True),
    sa.Column('line_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('sender_partner_id', sa.Integer(), nullable=True),
    sa.Column('recipient_partner_id', sa.Integer(), nullable=True),
    sa.Column('valid', sa.Boolean(), nullable=False),
    sa.Column('fatal_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('warning_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('findings', JSON, nullable=False),
    sa.Column('duplicate_key', sa.String(length=64), nullable=True),
    sa.Column('duplicate_of_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['duplicate_of_id'], ['documents.id'], name=op.f('fk_documents_duplicate_of_id_documents')),
    sa.ForeignKeyConstraint(['exchange_id'], ['exchanges.id'], name=op.f('fk_documents_exchange_id_exchanges')),
    sa.ForeignKeyConstraint(['recipient_partner_id'], ['partners.id'], name=op.f('fk_documents_recipient_partner_id_partners')),
    sa.ForeignKeyConstraint(['sender_partner_id'], ['partners.id'], name=op.f('fk_documents_sender_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents')),
    sa.UniqueConstraint('exchange_id', 'position', name=op.f('uq_documents_exchange_id_position'))
    )
    op.create_index(op.f('ix_documents_created_at'), 'documents', ['created_at'])
    op.create_index(op.f('ix_documents_duplicate_key'), 'documents', ['duplicate_key'])
    op.create_index(op.f('ix_documents_issue_date'), 'documents', ['issue_date'])
    op.create_index(op.f('ix_documents_number'), 'documents', ['number'])
    op.create_index(op.f('ix_documents_recipient_partner_id_created_at'), 'documents', ['recipient_partner_id', 'created_at'])
    op.create_index(op.f('ix_documents_sender_partner_id_created_at'), 'documents', ['sender_partner_id', 'created_at'])
    op.create_index(op.f('ix_documents_status_created_at'), 'documents', ['status', 'created_at'])

    op.create_table('exchange_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exchange_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['exchange_id'], ['exchanges.id'], name=op.f('fk_exchange_events_exchange_id_exchanges'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_events'))
    )
    op.create_index(op.f('ix_exchange_events_exchange_id_at'), 'exchange_events', ['exchange_id', 'at'])

    op.create_table('renderings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('syntax', sa.String(length=40), nullable=False),
    sa.Column('mapping', sa.String(length=200), nullable=False),
    sa.Column('payload_key', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('dropped', JSON, nullable=False),
    sa.Column('findings', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_renderings_document_id_documents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_renderings')),
    sa.UniqueConstraint('document_id', 'syntax', 'mapping', name=op.f('uq_renderings_document_id_syntax_mapping'))
    )
    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('recipient_partner_id', sa.Integer(), nullable=False),
    sa.Column('format', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('rendering_id', sa.Integer(), nullable=True),
    sa.Column('exchange_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_deliveries_document_id_documents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['exchange_id'], ['exchanges.id'], name=op.f('fk_deliveries_exchange_id_exchanges')),
    sa.ForeignKeyConstraint(['recipient_partner_id'], ['partners.id'], name=op.f('fk_deliveries_recipient_partner_id_partners')),
    sa.ForeignKeyConstraint(['rendering_id'], ['renderings.id'], name=op.f('fk_deliveries_rendering_id_renderings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('document_id', 'recipient_partner_id', name=op.f('uq_deliveries_document_id_recipient_partner_id'))
    )
    op.create_index(op.f('ix_deliveries_created_at'), 'deliveries', ['created_at'])
    op.create_index(op.f('ix_deliveries_exchange_id'), 'deliveries', ['exchange_id'])
    op.create_index(op.f('ix_deliveries_recipient_partner_id'), 'deliveries', ['recipient_partner_id'])
    op.create_index(op.f('ix_deliveries_status_next_attempt_at'), 'deliveries', ['status', 'next_attempt_at'])

    op.create_table('delivery_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_delivery_events_delivery_id_deliveries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_events'))
    )
    op.create_index(op.f('ix_delivery_events_delivery_id_at'), 'delivery_events', ['delivery_id', 'at'])


def downgrade() -> None:
    """Downgrade schema: drop every table (their indexes go with them)."""
    op.drop_table('delivery_events')
    op.drop_table('deliveries')
    op.drop_table('renderings')
    op.drop_table('exchange_events')
    op.drop_table('documents')
    op.drop_table('partner_identifiers')
    op.drop_table('exchanges')
    op.drop_table('certificates')
    op.drop_table('partners')
    op.drop_table('as2_identities')
    op.drop_table('organisations')
