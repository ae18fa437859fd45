"""approval workflow: rule documents per organisation, cases, decisions, delegations, notices

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-21

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '0017'
down_revision: Union[str, Sequence[str], None] = '0016'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# JSONB on PostgreSQL, JSON text on SQLite (gateway.db.base.JSONType).
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Upgrade schema (nothing to back-fill: invoices received before wait for no approval)."""
    op.create_table('approval_rule_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('document', JSON, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', TZ, nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_approval_rule_sets_partner_id_partners'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_rule_sets')),
    sa.UniqueConstraint('partner_id', name=op.f('uq_approval_rule_sets_partner_id'))
    )
    op.create_table('approval_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('rule_name', sa.String(length=100), nullable=False),
    sa.Column('matched', JSON, nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('approvers', JSON, nullable=False),
    sa.Column('required', sa.Integer(), nullable=False),
    sa.Column('remind_after_hours', sa.Double(), nullable=True),
    sa.Column('escalate_after_hours', sa.Double(), nullable=True),
    sa.Column('escalate_to', JSON, nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('step_since', TZ, nullable=False),
    sa.Column('reminded_at', TZ, nullable=True),
    sa.Column('escalated_at', TZ, nullable=True),
    sa.Column('opened_at', TZ, nullable=False),
    sa.Column('closed_at', TZ, nullable=True),
    sa.CheckConstraint("state IN ('waiting', 'on_hold', 'approved', 'refused')", name=op.f('ck_approval_cases_state')),
    sa.CheckConstraint("mode IN ('in_order', 'any_of')", name=op.f('ck_approval_cases_mode')),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_approval_cases_document_id_documents'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['partners.id'],
                            name=op.f('fk_approval_cases_organisation_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_cases')),
    sa.UniqueConstraint('document_id', name=op.f('uq_approval_cases_document_id'))
    )
    op.create_index(op.f('ix_approval_cases_state_step_since'), 'approval_cases', ['state', 'step_since'],
                    unique=False)
    op.create_index(op.f('ix_approval_cases_organisation_id_state'), 'approval_cases', ['organisation_id', 'state'],
                    unique=False)
    op.create_table('approval_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=150), nullable=False),
    sa.Column('on_behalf_of_id', sa.Integer(), nullable=True),
    sa.Column('on_behalf_of', sa.String(length=150), nullable=True),
    sa.Column('capacity', sa.String(length=16), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('reason_code', sa.String(length=16), nullable=True),
    sa.Column('waiting_since', TZ, nullable=False),
    sa.Column('at', TZ, nullable=False),
    sa.Column('status_event_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("decision IN ('approved', 'refused', 'on_hold')", name=op.f('ck_approval_decisions_decision')),
    sa.CheckConstraint("capacity IN ('approver', 'delegate', 'escalation')",
                       name=op.f('ck_approval_decisions_capacity')),
    sa.ForeignKeyConstraint(['case_id'], ['approval_cases.id'], name=op.f('fk_approval_decisions_case_id_approval_cases'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'],
                            name=op.f('fk_approval_decisions_document_id_documents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_approval_decisions_user_id_users'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['on_behalf_of_id'], ['users.id'],
                            name=op.f('fk_approval_decisions_on_behalf_of_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['status_event_id'], ['document_status_events.id'],
                            name=op.f('fk_approval_decisions_status_event_id_document_status_events'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_decisions'))
    )
    op.create_index(op.f('ix_approval_decisions_at'), 'approval_decisions', ['at'], unique=False)
    op.create_index(op.f('ix_approval_decisions_case_id'), 'approval_decisions', ['case_id'], unique=False)
    op.create_index(op.f('ix_approval_decisions_document_id'), 'approval_decisions', ['document_id'], unique=False)
    op.create_table('approval_delegations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('delegate_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', TZ, nullable=False),
    sa.Column('ends_at', TZ, nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', TZ, nullable=False),
    sa.Column('ended_at', TZ, nullable=True),
    sa.CheckConstraint('user_id <> delegate_id', name=op.f('ck_approval_delegations_not_self')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_approval_delegations_period')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_approval_delegations_user_id_users'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['delegate_id'], ['users.id'], name=op.f('fk_approval_delegations_delegate_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_delegations'))
    )
    op.create_index(op.f('ix_approval_delegations_user_id'), 'approval_delegations', ['user_id'], unique=False)
    op.create_index(op.f('ix_approval_delegations_delegate_id_ends_at'), 'approval_delegations',
                    ['delegate_id', 'ends_at'], unique=False)
    op.create_table('approval_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('at', TZ, nullable=False),
    sa.CheckConstraint("kind IN ('waiting', 'reminder', 'escalation')", name=op.f('ck_approval_notices_kind')),
    sa.ForeignKeyConstraint(['case_id'], ['approval_cases.id'], name=op.f('fk_approval_notices_case_id_approval_cases'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_approval_notices_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_notices'))
    )
    op.create_index(op.f('ix_approval_notices_case_id'), 'approval_notices', ['case_id'], unique=False)
    op.create_index(op.f('ix_approval_notices_user_id_at'), 'approval_notices', ['user_id', 'at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('approval_notices')
    op.drop_table('approval_delegations')
    op.drop_table('approval_decisions')
    op.drop_table('approval_cases')
    op.drop_table('approval_rule_sets')
