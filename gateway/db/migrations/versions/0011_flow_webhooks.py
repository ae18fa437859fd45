"""the XP Z12-013 flow API: flows (what a member's ERP submitted or was made available), webhooks, their events and attempts

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# JSONB on PostgreSQL, JSON text on SQLite (gateway.db.base.JSONType).
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table('flow_webhooks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('callback_url', sa.String(length=2000), nullable=False),
    sa.Column('flow_types', JSON, nullable=True),
    sa.Column('flow_direction', sa.String(length=3), nullable=True),
    sa.Column('ack_status', sa.String(length=8), nullable=True),
    sa.Column('signing_key', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_flow_webhooks_partner_id_partners'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_webhooks')),
    sa.UniqueConstraint('uid', name=op.f('uq_flow_webhooks_uid'))
    )
    op.create_index(op.f('ix_flow_webhooks_partner_id'), 'flow_webhooks', ['partner_id'], unique=False)
    op.create_table('flows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exchange_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('flow_type', sa.String(length=40), nullable=False),
    sa.Column('flow_syntax', sa.String(length=16), nullable=False),
    sa.Column('flow_profile', sa.String(length=20), nullable=False),
    sa.Column('processing_rule', sa.String(length=16), nullable=False),
    sa.Column('processing_rule_source', sa.String(length=8), nullable=False),
    sa.Column('tracking_id', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('ack_status', sa.String(length=8), nullable=False),
    sa.Column('ack_details', JSON, nullable=False),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("ack_status IN ('Pending', 'Ok', 'Error')", name=op.f('ck_flows_ack_status')),
    sa.CheckConstraint("direction IN ('In', 'Out')", name=op.f('ck_flows_direction')),
    sa.ForeignKeyConstraint(['exchange_id'], ['exchanges.id'], name=op.f('fk_flows_exchange_id_exchanges')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_flows_partner_id_partners'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flows')),
    sa.UniqueConstraint('exchange_id', name=op.f('uq_flows_exchange_id'))
    )
    op.create_index(op.f('ix_flows_ack_status_direction'), 'flows', ['ack_status', 'direction'], unique=False)
    op.create_index(op.f('ix_flows_partner_id_tracking_id'), 'flows', ['partner_id', 'tracking_id'], unique=False)
    op.create_index(op.f('ix_flows_partner_id_updated_at_id'), 'flows', ['partner_id', 'updated_at', 'id'],
                    unique=False)
    op.create_table('flow_webhook_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('webhook_id', sa.Integer(), nullable=False),
    sa.Column('flow_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sending', 'delivered', 'failed')",
                       name=op.f('ck_flow_webhook_events_status')),
    sa.ForeignKeyConstraint(['flow_id'], ['flows.id'], name=op.f('fk_flow_webhook_events_flow_id_flows'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['webhook_id'], ['flow_webhooks.id'],
                            name=op.f('fk_flow_webhook_events_webhook_id_flow_webhooks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_webhook_events')),
    sa.UniqueConstraint('webhook_id', 'flow_id', 'version',
                        name=op.f('uq_flow_webhook_events_webhook_id_flow_id_version'))
    )
    op.create_index(op.f('ix_flow_webhook_events_flow_id'), 'flow_webhook_events', ['flow_id'], unique=False)
    op.create_index(op.f('ix_flow_webhook_events_status_next_attempt_at'), 'flow_webhook_events',
                    ['status', 'next_attempt_at'], unique=False)
    op.create_table('flow_webhook_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['flow_webhook_events.id'],
                            name=op.f('fk_flow_webhook_attempts_event_id_flow_webhook_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_webhook_attempts'))
    )
    op.create_index(op.f('ix_flow_webhook_attempts_event_id'), 'flow_webhook_attempts', ['event_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_flow_webhook_attempts_event_id'), table_name='flow_webhook_attempts')
    op.drop_table('flow_webhook_attempts')
    op.drop_index(op.f('ix_flow_webhook_events_status_next_attempt_at'), table_name='flow_webhook_events')
    op.drop_index(op.f('ix_flow_webhook_events_flow_id'), table_name='flow_webhook_events')
    op.drop_table('flow_webhook_events')
    op.drop_index(op.f('ix_flows_partner_id_updated_at_id'), table_name='flows')
    op.drop_index(op.f('ix_flows_partner_id_tracking_id'), table_name='flows')
    op.drop_index(op.f('ix_flows_ack_status_direction'), table_name='flows')
    op.drop_table('flows')
    op.drop_index(op.f('ix_flow_webhooks_partner_id'), table_name='flow_webhooks')
    op.drop_table('flow_webhooks')
