"""``derived_commit``: a processing transaction commits without waiting for the disk, and only it.

On SQLite the connection is ``synchronous=NORMAL`` for that transaction and back to
``FULL`` when it returns to the pool, so the next transaction on the same connection (a
reception, whose commit is an acknowledgement) waits for the disk again; a transaction
already writing is left as it is (SQLite refuses the change there). On PostgreSQL
``synchronous_commit`` is off for that transaction only. The processing pipeline uses it
and leaves every pooled connection durable.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.db.session import derived_commit, make_engine, make_sessionmaker

FULL, NORMAL = 2, 1


def _sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    return engine, make_sessionmaker(engine)


def _raw(s):
    return s.connection().connection.dbapi_connection


def test_sqlite_derived_commit_is_normal_for_its_transaction_and_full_after(tmp_path):
    engine, Session = _sqlite(tmp_path)
    with Session() as s:
        derived_commit(s)
        raw = _raw(s)
        assert s.scalar(sa.text("PRAGMA synchronous")) == NORMAL
        s.execute(sa.text("INSERT INTO t VALUES (1)"))
        s.commit()
    with Session() as s:                    # the same pooled connection, durable again
        assert _raw(s) is raw
        assert s.scalar(sa.text("PRAGMA synchronous")) == FULL
        assert s.scalar(sa.text("SELECT count(*) FROM t")) == 1


def test_sqlite_derived_commit_after_the_first_write_changes_nothing(tmp_path):
    engine, Session = _sqlite(tmp_path)
    with Session() as s:
        s.execute(sa.text("INSERT INTO t VALUES (1)"))      # the transaction has begun: too late
        derived_commit(s)
        assert s.scalar(sa.text("PRAGMA synchronous")) == FULL
        s.commit()


def test_postgresql_derived_commit_is_for_its_transaction_only(postgres_server):
    engine = make_engine(postgres_server.create_database())
    Session = make_sessionmaker(engine)
    with Session() as s:
        s.execute(sa.text("SET SESSION synchronous_commit TO on"))    # the test server runs with it off
        s.commit()
        derived_commit(s)
        assert s.scalar(sa.text("SHOW synchronous_commit")) == "off"
        s.commit()
        assert s.scalar(sa.text("SHOW synchronous_commit")) == "on"
    engine.dispose()


def test_processing_leaves_every_pooled_connection_durable(tmp_path):
    from tests.support.gateway_process import GatewayProcess, setup_records
    from gateway import certs
    from gateway.flow.process import process_exchange
    from gateway.flow.receive import receive_file
    from gateway.db import Exchange

    server = GatewayProcess(tmp_path / "home")
    gw = server.gateway()
    ours = certs.ensure_dev_keypair(tmp_path / "keys", "edigate")
    rec = setup_records(gw, identity="EDIGATE", our_key=ours.key_path, partners=[dict(name="Supplier")])
    gw.jobs.process = lambda exchange_id: None
    from pathlib import Path
    data = (Path(__file__).resolve().parents[2] / "samples" / "demo-invoice.xml").read_bytes()
    ex = receive_file(gw, data, channel="sftp", partner_id=rec.partner_ids["Supplier"],
                      filename="a.xml", message_id="t:1")
    assert process_exchange(gw, ex.id) == "processed"
    with gw.session() as s:
        assert s.get(Exchange, ex.id).status == "processed"
    pool = gw.engine.pool
    held = [pool.connect() for _ in range(pool.checkedin())]
    try:
        assert held and {c.dbapi_connection.execute("PRAGMA synchronous").fetchone()[0] for c in held} == {FULL}
    finally:
        for c in held:
            c.close()
    gw.close()
