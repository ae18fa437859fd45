"""the PPF directory (annuaire): its local mirror by generations, its state row, the lines we published

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('annuaire_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=256), nullable=False),
    sa.Column('siren', sa.String(length=9), nullable=False),
    sa.Column('siret', sa.String(length=14), nullable=True),
    sa.Column('routing_code', sa.String(length=100), nullable=True),
    sa.Column('suffix', sa.String(length=100), nullable=True),
    sa.Column('platform_id', sa.String(length=4), nullable=False),
    sa.Column('platform_name', sa.String(length=200), nullable=True),
    sa.Column('platform_type', sa.String(length=3), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('id_instance', sa.BigInteger(), nullable=True),
    sa.Column('addressing_id', sa.String(length=125), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_annuaire_lines')),
    sa.UniqueConstraint('generation', 'id_instance', name=op.f('uq_annuaire_lines_generation_id_instance'))
    )
    with op.batch_alter_table('annuaire_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annuaire_lines_generation_address'), ['generation', 'address'], unique=False)

    state = op.create_table('annuaire_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_generation', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('line_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('succeeded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refresh_error', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=1000), nullable=True),
    sa.Column('platform_id', sa.String(length=4), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_annuaire_state'))
    )
    # the one state row (gateway.db.annuaire.STATE_ID): generation 0, an empty mirror
    op.bulk_insert(state, [{'id': 1, 'generation': 0, 'last_generation': 0, 'line_count': 0}])
    op.create_table('annuaire_publications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('address', sa.String(length=256), nullable=False),
    sa.Column('platform_id', sa.String(length=4), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id_instance', sa.BigInteger(), nullable=True),
    sa.Column('addressing_id', sa.String(length=125), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_annuaire_publications_partner_id_partners'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_annuaire_publications')),
    sa.UniqueConstraint('address', 'platform_id', name=op.f('uq_annuaire_publications_address_platform_id'))
    )
    with op.batch_alter_table('annuaire_publications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annuaire_publications_partner_id'), ['partner_id'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('annuaire_publications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_annuaire_publications_partner_id'))

    op.drop_table('annuaire_publications')
    op.drop_table('annuaire_state')
    with op.batch_alter_table('annuaire_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_annuaire_lines_generation_address'))

    op.drop_table('annuaire_lines')
