"""sftp_accounts and sftp_remotes: partners on our SFTP server, and we on theirs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('sftp_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('authorized_keys', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_sftp_accounts_partner_id_partners'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sftp_accounts')),
    sa.UniqueConstraint('username', name=op.f('uq_sftp_accounts_username'))
    )
    op.create_index(op.f('ix_sftp_accounts_partner_id'), 'sftp_accounts', ['partner_id'], unique=False)
    op.create_table('sftp_remotes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), server_default=sa.text('22'), nullable=False),
    sa.Column('username', sa.String(length=128), nullable=False),
    sa.Column('private_key_ref', sa.String(length=500), nullable=False),
    sa.Column('host_key', sa.Text(), nullable=False),
    sa.Column('push_dir', sa.String(length=500), nullable=True),
    sa.Column('poll_dir', sa.String(length=500), nullable=True),
    sa.Column('archive_dir', sa.String(length=500), nullable=True),
    sa.Column('poll_interval_seconds', sa.Integer(), server_default=sa.text('300'), nullable=False),
    sa.Column('last_poll_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_poll_error', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_sftp_remotes_partner_id_partners'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sftp_remotes')),
    sa.UniqueConstraint('partner_id', name=op.f('uq_sftp_remotes_partner_id'))
    )


def downgrade() -> None:
    op.drop_table('sftp_remotes')
    op.drop_index(op.f('ix_sftp_accounts_partner_id'), table_name='sftp_accounts')
    op.drop_table('sftp_accounts')
