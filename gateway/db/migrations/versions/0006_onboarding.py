"""onboarding: counterparties, imports, campaigns, waves, templates, invitations, mails, tracking, registrations

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, JSON text on SQLite (gateway.db.base.JSONType).
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='draft', nullable=False),
    sa.Column('information_lead_days', sa.Integer(), nullable=True),
    sa.Column('reminder_count', sa.Integer(), server_default=sa.text('3'), nullable=False),
    sa.Column('reminder_interval_days', sa.Integer(), server_default=sa.text('5'), nullable=False),
    sa.Column('link_valid_days', sa.Integer(), server_default=sa.text('30'), nullable=False),
    sa.Column('mail_rate_per_minute', sa.Integer(), nullable=True),
    sa.Column('from_address', sa.String(length=320), nullable=True),
    sa.Column('created_by', sa.String(length=150), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('name', name=op.f('uq_campaigns_name'))
    )
    op.create_table('onboarding_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=150), nullable=True),
    sa.Column('rows_total', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('rows_accepted', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('rows_rejected', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('rows_duplicate', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('report', JSON, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_onboarding_imports'))
    )
    op.create_table('campaign_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('segment', sa.String(length=64), server_default=sa.text("''"), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('updated_by', sa.String(length=150), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("language IN ('fr', 'en')", name=op.f('ck_campaign_templates_language')),
    sa.CheckConstraint("step IN ('information', 'invitation', 'reminder')", name=op.f('ck_campaign_templates_step')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_templates_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_templates')),
    sa.UniqueConstraint('campaign_id', 'step', 'language', 'segment', name=op.f('uq_campaign_templates_campaign_id_step_language_segment'))
    )
    op.create_table('campaign_waves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('segment', sa.String(length=64), server_default=sa.text("''"), nullable=False),
    sa.Column('send_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='scheduled', nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_waves_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_waves')),
    sa.UniqueConstraint('campaign_id', 'name', name=op.f('uq_campaign_waves_campaign_id_name'))
    )
    op.create_table('counterparties',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('siren', sa.String(length=9), nullable=True),
    sa.Column('siret', sa.String(length=14), nullable=True),
    sa.Column('vat', sa.String(length=32), nullable=True),
    sa.Column('gln', sa.String(length=13), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('contact_name', sa.String(length=200), nullable=True),
    sa.Column('segment', sa.String(length=64), server_default=sa.text("''"), nullable=False),
    sa.Column('language', sa.String(length=2), server_default='fr', nullable=False),
    sa.Column('dedupe_key', sa.String(length=400), nullable=False),
    sa.Column('status', sa.String(length=24), server_default='new', nullable=False),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=16), server_default='import', nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('network_id', sa.Integer(), nullable=True),
    sa.Column('import_batch_id', sa.Integer(), nullable=True),
    sa.Column('opted_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('bounced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('bounce_reason', sa.Text(), nullable=True),
    sa.Column('enrolled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("language IN ('fr', 'en')", name=op.f('ck_counterparties_language')),
    sa.ForeignKeyConstraint(['import_batch_id'], ['onboarding_imports.id'], name=op.f('fk_counterparties_import_batch_id_onboarding_imports'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['network_id'], ['networks.id'], name=op.f('fk_counterparties_network_id_networks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_counterparties_partner_id_partners'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counterparties')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_counterparties_dedupe_key'))
    )
    with op.batch_alter_table('counterparties', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_counterparties_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_counterparties_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_counterparties_gln'), ['gln'], unique=False)
        batch_op.create_index(batch_op.f('ix_counterparties_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_counterparties_siren'), ['siren'], unique=False)
        batch_op.create_index(batch_op.f('ix_counterparties_siret'), ['siret'], unique=False)
        batch_op.create_index(batch_op.f('ix_counterparties_status_segment'), ['status', 'segment'], unique=False)
        batch_op.create_index(batch_op.f('ix_counterparties_vat'), ['vat'], unique=False)

    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('wave_id', sa.Integer(), nullable=False),
    sa.Column('counterparty_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('token_nonce', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_clicked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_invitations_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['counterparty_id'], ['counterparties.id'], name=op.f('fk_invitations_counterparty_id_counterparties'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['wave_id'], ['campaign_waves.id'], name=op.f('fk_invitations_wave_id_campaign_waves'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('campaign_id', 'counterparty_id', name=op.f('uq_invitations_campaign_id_counterparty_id')),
    sa.UniqueConstraint('token_nonce', name=op.f('uq_invitations_token_nonce'))
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitations_counterparty_id'), ['counterparty_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invitations_wave_id'), ['wave_id'], unique=False)

    op.create_table('campaign_mails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='scheduled', nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('smtp_reply', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_campaign_mails_invitation_id_invitations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_mails')),
    sa.UniqueConstraint('invitation_id', 'step', name=op.f('uq_campaign_mails_invitation_id_step')),
    sa.UniqueConstraint('message_id', name=op.f('uq_campaign_mails_message_id'))
    )
    with op.batch_alter_table('campaign_mails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_mails_status_due_at'), ['status', 'due_at'], unique=False)

    op.create_table('registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('counterparty_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('data', JSON, nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['counterparty_id'], ['counterparties.id'], name=op.f('fk_registrations_counterparty_id_counterparties'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_registrations_invitation_id_invitations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_registrations_partner_id_partners'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations')),
    sa.UniqueConstraint('invitation_id', name=op.f('uq_registrations_invitation_id'))
    )
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registrations_counterparty_id'), ['counterparty_id'], unique=False)

    op.create_table('tracking_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('counterparty_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('wave_id', sa.Integer(), nullable=True),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('mail_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', JSON, nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_tracking_events_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['counterparty_id'], ['counterparties.id'], name=op.f('fk_tracking_events_counterparty_id_counterparties'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_tracking_events_invitation_id_invitations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['mail_id'], ['campaign_mails.id'], name=op.f('fk_tracking_events_mail_id_campaign_mails'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['wave_id'], ['campaign_waves.id'], name=op.f('fk_tracking_events_wave_id_campaign_waves'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracking_events'))
    )
    with op.batch_alter_table('tracking_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tracking_events_campaign_id_kind'), ['campaign_id', 'kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_tracking_events_counterparty_id_at'), ['counterparty_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_tracking_events_wave_id_kind'), ['wave_id', 'kind'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('tracking_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tracking_events_wave_id_kind'))
        batch_op.drop_index(batch_op.f('ix_tracking_events_counterparty_id_at'))
        batch_op.drop_index(batch_op.f('ix_tracking_events_campaign_id_kind'))

    op.drop_table('tracking_events')
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registrations_counterparty_id'))

    op.drop_table('registrations')
    with op.batch_alter_table('campaign_mails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_mails_status_due_at'))

    op.drop_table('campaign_mails')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitations_wave_id'))
        batch_op.drop_index(batch_op.f('ix_invitations_counterparty_id'))

    op.drop_table('invitations')
    with op.batch_alter_table('counterparties', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_counterparties_vat'))
        batch_op.drop_index(batch_op.f('ix_counterparties_status_segment'))
        batch_op.drop_index(batch_op.f('ix_counterparties_siret'))
        batch_op.drop_index(batch_op.f('ix_counterparties_siren'))
        batch_op.drop_index(batch_op.f('ix_counterparties_partner_id'))
        batch_op.drop_index(batch_op.f('ix_counterparties_gln'))
        batch_op.drop_index(batch_op.f('ix_counterparties_email'))
        batch_op.drop_index(batch_op.f('ix_counterparties_created_at'))

    op.drop_table('counterparties')
    op.drop_table('campaign_waves')
    op.drop_table('campaign_templates')
    op.drop_table('onboarding_imports')
    op.drop_table('campaigns')
