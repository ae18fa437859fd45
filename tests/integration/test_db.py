"""The gateway's records on SQLite and on a real PostgreSQL: migrations, tables, constraints, queries."""
from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from gateway.config import ConfigError, load_settings, parse_size
from gateway.db import (AS2Identity, Base, Certificate, Delivery, DocumentRecord, Exchange, Organisation, Partner,
                        RenderingRecord, StatusError, current_revision, head_revision,
                        make_engine, migrate, session_scope)
from gateway.model.findings import WARNING, Finding
from gateway.store import PayloadStore
import onboarding.models  # noqa: F401  (onboarding's tables are in the same schema)
from tests.support.invoice_builder import build_invoice

REPO = Path(__file__).resolve().parents[2]
UTC = timezone.utc
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.real_migrations      # the migrations are what is tested here: no migrated copies


# --- fixtures: a migrated database per test, on each engine ---------------------------------

@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_migrated(postgres_url) -> str:
    """The session's PostgreSQL database, migrated once; emptied before each test that uses it
    (TRUNCATE: ~20 ms, where CREATE DATABASE takes ~0.4 s)."""
    migrate(postgres_url)
    return postgres_url


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_name(request) -> str:
    return request.param


@pytest.fixture
def fresh_url(engine_name, tmp_path, request) -> str:
    """An empty database (not migrated)."""
    if engine_name == "sqlite":
        return f"sqlite:///{tmp_path}/edigate.db"
    return request.getfixturevalue("postgres_server").create_database()


@pytest.fixture
def db_url(engine_name, tmp_path, request) -> str:
    """A database migrated to head, with no rows."""
    if engine_name == "sqlite":
        path = tmp_path / "edigate.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_migrated")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
    return url


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    with Session(engine, expire_on_commit=False) as s:
        yield s


def fresh(engine) -> Session:
    """A new session: what comes back from it was really read from the database."""
    return Session(engine, expire_on_commit=False)


def make_partner(session: Session, name: str, *ids: tuple[str, str], **columns) -> Partner:
    p = Partner(name=name, **columns)
    for scheme, value in ids:
        p.add_identifier(scheme, value)
    session.add(p)
    session.flush()
    return p


# --- settings --------------------------------------------------------------------------------

def test_settings_embedded_defaults() -> None:
    s = load_settings({})
    assert s.home == Path("var")
    assert s.database_url == "sqlite:///var/edigate.db" and s.is_sqlite
    assert s.payload_dir == Path("var/payloads")
    assert s.certs_dir == Path("certs")
    assert s.max_inbound_size == 100 * 1024 * 1024
    assert s.jobs_url == "sqlite:///var/jobs.db"
    assert (s.host, s.http_port, s.sftp_port) == ("127.0.0.1", 8080, 2222)
    assert s.public_url == "http://127.0.0.1:8080"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.home = Path("/elsewhere")                 # type: ignore[misc]


def test_settings_from_environment(tmp_path) -> None:
    env = {"EDIGATE_HOME": str(tmp_path), "EDIGATE_MAX_INBOUND_SIZE": "5M", "EDIGATE_HTTP_PORT": "9000",
           "EDIGATE_CERTS_DIR": "/etc/edigate/certs", "EDIGATE_DATABASE_URL": "",   # empty = unset
           "EDIGATE_PUBLIC_URL": "https://as2.example.com/"}
    s = load_settings(env)
    assert s.database_url == f"sqlite:///{tmp_path}/edigate.db"
    assert s.payload_dir == tmp_path / "payloads"
    assert s.certs_dir == Path("/etc/edigate/certs")
    assert s.max_inbound_size == 5 * 1024 * 1024 and s.http_port == 9000
    assert s.public_url == "https://as2.example.com"
    s = load_settings({"EDIGATE_DATABASE_URL": "postgresql://gw@db/edigate", "EDIGATE_PAYLOAD_DIR": "/srv/p"})
    assert s.database_url == "postgresql://gw@db/edigate" and not s.is_sqlite
    assert s.payload_dir == Path("/srv/p")
    assert [parse_size(x) for x in ("1024", "2k", "3 MiB", "1G")] == [1024, 2048, 3 << 20, 1 << 30]
    for bad in ({"EDIGATE_HTTP_PORT": "http"}, {"EDIGATE_SFTP_PORT": "70000"},
                {"EDIGATE_MAX_INBOUND_SIZE": "lots"}, {"EDIGATE_DATABASE_URL": "var/edigate.db"}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            load_settings(bad)


# --- migrations --------------------------------------------------------------------------------

def schema_diff(url: str, metadata: sa.MetaData = Base.metadata) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return compare_metadata(ctx, metadata)
    finally:
        engine.dispose()


def test_migration_schema_equals_the_orm(fresh_url) -> None:
    assert current_revision(fresh_url) is None
    migrate(fresh_url)
    assert current_revision(fresh_url) == head_revision()
    assert schema_diff(fresh_url) == []
    migrate(fresh_url)                              # at head already: nothing to do, no error
    assert current_revision(fresh_url) == head_revision()


def test_schema_comparison_detects_drift(db_url) -> None:
    """The check above can fail: a model that differs from the migrations shows up in the diff."""
    drifted = sa.MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["documents"].append_column(sa.Column("po_number", sa.String(50)))
    drifted.tables["exchanges"].c.mic.type = sa.String(10)
    sa.Index("ix_partners_as2_url", drifted.tables["partners"].c.as2_url)
    diff = schema_diff(db_url, drifted)
    kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in diff}
    assert {"add_column", "modify_type", "add_index"} <= kinds, diff


def test_downgrade_and_upgrade_again(fresh_url) -> None:
    from alembic import command
    from gateway.db import alembic_config

    migrate(fresh_url)
    command.downgrade(alembic_config(fresh_url), "base")
    engine = make_engine(fresh_url)
    try:
        assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
    migrate(fresh_url)
    assert schema_diff(fresh_url) == []


def test_alembic_command_line(tmp_path) -> None:
    """alembic.ini at the repository root works from the command line, with -x url=…"""
    url = f"sqlite:///{tmp_path}/cli.db"
    alembic = [sys.executable, "-m", "alembic", "-x", f"url={url}"]
    run = dict(cwd=REPO, capture_output=True, text=True, timeout=60)
    r = subprocess.run([*alembic, "upgrade", "head"], **run)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([*alembic, "check"], **run)      # autogenerate finds nothing to do
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No new upgrade operations detected" in r.stdout + r.stderr
    assert current_revision(url) == head_revision()


def test_concurrent_migrations_are_serialised(fresh_url) -> None:
    """Several workers starting at once may all call migrate(): one migrates, the others wait."""
    code = "import sys; from gateway.db import migrate; migrate(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code, fresh_url], cwd=REPO, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert current_revision(fresh_url) == head_revision()
    assert schema_diff(fresh_url) == []


def test_migrate_defaults_to_the_configured_database(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EDIGATE_DATABASE_URL", raising=False)
    migrate()
    assert (tmp_path / "home" / "edigate.db").exists()
    assert current_revision(load_settings().database_url) == head_revision()
    with session_scope() as s:                       # the configured database, too
        s.add(Partner(name="Configured"))
    with session_scope() as s:
        assert s.scalars(sa.select(Partner.name)).all() == ["Configured"]


# --- engines ---------------------------------------------------------------------------------

def test_sqlite_engine_settings(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/sub/dir/e.db")    # missing directories are created
    try:
        with engine.connect() as conn:
            pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()   # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 30000
            assert pragma("synchronous") == 2       # FULL: a commit survives a power cut
    finally:
        engine.dispose()


def test_postgresql_urls_use_psycopg3(postgres_server) -> None:
    engine = make_engine(postgres_server.url().replace("postgresql+psycopg://", "postgresql://"))
    try:
        assert engine.dialect.driver == "psycopg"
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW server_version").scalar().startswith(("15", "16", "17"))
    finally:
        engine.dispose()


def test_session_scope_commits_or_rolls_back(engine) -> None:
    with session_scope(engine) as s:
        s.add(Partner(name="Kept"))
    with pytest.raises(RuntimeError):
        with session_scope(engine) as s:
            s.add(Partner(name="Dropped"))
            s.flush()
            raise RuntimeError("boom")
    with fresh(engine) as s:
        assert s.scalars(sa.select(Partner.name)).all() == ["Kept"]


# --- partners, organisations, identifiers -------------------------------------------------------

def test_partner_and_organisation_round_trip(engine, session) -> None:
    org = Organisation(name="Hub SAS")
    org.as2_identities = [AS2Identity(as2_name="HUB", signing_key_ref="certs/hub-sign.key",
                                      encryption_key_ref="certs/hub-enc.key"),
                          AS2Identity(as2_name="HUB-TEST", signing_key_ref="certs/hub-test.key")]
    session.add(org)
    session.flush()
    p = make_partner(session, "Acme", ("0009", "123 456 789 00012"), ("9957", "fr12345678901"), ("0088", "3012345000014"),
                     preferred_format="cii", preferred_channel="as2", as2_id="ACME", as2_url="https://acme/as2",
                     as2_identity=org.as2_identities[1], as2_mdn_mode="async", as2_micalg_spelling="rfc3851",
                     as2_compress_before_signing=False, as2_content_transfer_encoding="base64",
                     as2_options={"http_chunked": False})
    session.commit()

    with fresh(engine) as s:
        got = s.scalar(Partner.by_identifier("0009", "12345678900012"))
        assert got is not None and got.id == p.id
        assert s.scalar(Partner.by_identifier("9957", "FR 1234 5678 901")).id == p.id   # spelling normalised
        assert [(i.scheme, i.value, i.label) for i in got.identifiers] == [
            ("0009", "12345678900012", "SIRET"), ("9957", "FR12345678901", "VAT (FR)"),
            ("0088", "3012345000014", "GLN")]
        assert (got.preferred_format, got.preferred_channel, got.as2_id, got.as2_url) == (
            "cii", "as2", "ACME", "https://acme/as2")
        # secure defaults; the switches as set
        assert (got.as2_signing_algorithm, got.as2_encryption_algorithm) == ("sha256", "aes_256_cbc")
        assert got.as2_compress and got.as2_mdn_signed and got.as2_require_signed and got.as2_require_encrypted
        assert (got.as2_mdn_mode, got.as2_micalg_spelling, got.as2_compress_before_signing,
                got.as2_content_transfer_encoding) == ("async", "rfc3851", False, "base64")
        assert got.as2_options == {"http_chunked": False}
        assert got.as2_identity.as2_name == "HUB-TEST" and got.as2_identity.organisation.name == "Hub SAS"
        assert [i.as2_name for i in s.get(Organisation, org.id).as2_identities] == ["HUB", "HUB-TEST"]
        assert got.created_at.tzinfo is not None


def test_database_defaults_are_the_secure_ones(engine) -> None:
    """A partner inserted without the ORM (raw SQL) still gets sha256 + AES-256, signed MDNs."""
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO partners (name, as2_options, created_at, updated_at) "
                             "VALUES ('Raw', '{}', :t, :t)"), {"t": "2025-01-01 00:00:00"})
        row = conn.execute(sa.text("SELECT as2_signing_algorithm, as2_encryption_algorithm, as2_mdn_mode, "
                                   "as2_mdn_signed, as2_compress, active FROM partners")).one()
    assert tuple(row[:3]) == ("sha256", "aes_256_cbc", "sync")
    assert all(bool(v) for v in row[3:])


def test_identifiers_are_unique_per_scheme_and_value(session) -> None:
    make_partner(session, "Acme", ("0009", "12345678900012"))
    make_partner(session, "Other", ("0088", "12345678900012"))          # same value, other scheme: fine
    session.commit()
    impostor = Partner(name="Impostor")
    impostor.add_identifier("0009", " 123 456 789 00012 ")                # same identifier, other spelling
    session.add(impostor)
    with pytest.raises(IntegrityError):
        session.flush()


def test_refused_settings(session) -> None:
    with pytest.raises(IntegrityError):             # 3DES is refused by the database itself
        make_partner(session, "Legacy", as2_encryption_algorithm="tripledes_192_cbc")
    session.rollback()
    with pytest.raises(IntegrityError):
        make_partner(session, "Weaker", as2_encryption_algorithm="rc2_128_cbc")
    session.rollback()
    with pytest.raises(IntegrityError):
        make_partner(session, "Weak", as2_signing_algorithm="md5")
    session.rollback()
    with pytest.raises(ValueError, match="preferred format"):
        Partner(name="x", preferred_format="docx")
    with pytest.raises(ValueError, match="channel"):
        Partner(name="x", preferred_channel="fax")
    with pytest.raises(ValueError):
        Partner(name="x").add_identifier("0009", "   ")


# --- certificates -----------------------------------------------------------------------------

def make_pem(cn: str, not_before: datetime, not_after: datetime, serial: int) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_certificate_rollover_and_expiry(engine, session) -> None:
    pytest.importorskip("cryptography")
    now = datetime.now(UTC).replace(microsecond=0)
    acme = make_partner(session, "Acme")
    org = Organisation(name="Hub")
    old = Certificate.from_pem(make_pem("acme-2024", now - timedelta(days=365), now + timedelta(days=10), 0x1A2B),
                               usage="both", partner=acme)
    new = Certificate.from_pem(make_pem("acme-2025", now - timedelta(days=1), now + timedelta(days=400), 0x1A2C),
                               usage="both", partner=acme)
    retired = Certificate.from_pem(make_pem("acme-2023", now - timedelta(days=700), now - timedelta(days=5), 7),
                                   usage="signing", partner=acme, active=False)
    enc_only = Certificate.from_pem(make_pem("acme-enc", now - timedelta(days=2), now + timedelta(days=20), 8),
                                    usage="encryption", partner=acme)
    ours = Certificate.from_pem(make_pem("hub", now - timedelta(days=30), now + timedelta(days=25), 9),
                                usage="signing", organisation=org, key_ref="certs/hub-sign.key")
    session.add_all([org, old, new, retired, enc_only, ours])
    session.commit()
    assert (old.subject, old.issuer, old.serial) == ("CN=acme-2024", "CN=acme-2024", "1a2b")
    assert len(old.fingerprint_sha256) == 64 and old.not_after == now + timedelta(days=10)

    with fresh(engine) as s:
        acme = s.get(Partner, acme.id)
        # During the rollover both are valid for signatures; the newest comes first.
        signing = s.scalars(Certificate.valid(usage="signing", partner=acme)).all()
        assert [c.subject for c in signing] == ["CN=acme-2025", "CN=acme-2024"]
        assert [c.subject for c in s.scalars(Certificate.valid(usage="encryption", partner=acme))] == [
            "CN=acme-2025", "CN=acme-enc", "CN=acme-2024"]
        later = s.scalars(Certificate.valid(usage="signing", partner=acme, at=now + timedelta(days=30))).all()
        assert [c.subject for c in later] == ["CN=acme-2025"]
        # Expiry warnings: active certificates ending within the window, soonest first.
        assert [c.subject for c in s.scalars(Certificate.expiring(timedelta(days=30), now=now))] == [
            "CN=acme-2024", "CN=acme-enc", "CN=hub"]
        assert [c.subject for c in s.scalars(Certificate.expiring(timedelta(days=15), now=now))] == ["CN=acme-2024"]
        assert s.scalars(Certificate.expiring(timedelta(days=1), now=now)).all() == []
        s.get(Certificate, old.id).active = False       # rollover done
        s.commit()
        assert [c.subject for c in s.scalars(Certificate.valid(usage="signing", partner=acme))] == ["CN=acme-2025"]
        hub = s.scalar(sa.select(Organisation).where(Organisation.name == "Hub"))
        assert [c.key_ref for c in s.scalars(Certificate.valid(usage="signing", organisation=hub))] == [
            "certs/hub-sign.key"]


def test_a_certificate_has_exactly_one_owner(session) -> None:
    pytest.importorskip("cryptography")
    now = datetime.now(UTC)
    pem = make_pem("orphan", now, now + timedelta(days=1), 1)
    session.add(Certificate.from_pem(pem, usage="signing"))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    both = Certificate.from_pem(pem, usage="signing", partner=Partner(name="P"), organisation=Organisation(name="O"))
    session.add(both)
    with pytest.raises(IntegrityError):
        session.flush()


# --- exchanges --------------------------------------------------------------------------------

def inbound(partner: Partner, message_id: str, at: datetime = T0, **columns) -> Exchange:
    return Exchange.inbound("as2", partner=partner, message_id=message_id, at=at, **columns)


def test_exchange_round_trip_with_status_history(engine, session) -> None:
    acme = make_partner(session, "Acme", as2_id="ACME")
    org = Organisation(name="Hub")
    ex = inbound(acme, "<20250106.1@acme>", organisation=org, as2_from="ACME", as2_to="HUB",
                 filename="inv-1.xml", content_type="application/xml", payload_key="a" * 64, payload_size=51234,
                 content_sha256="b" * 64, content_size=48000, mdn_mode="sync")
    session.add(ex)
    session.flush()
    ex.set_status("stored", at=T0 + timedelta(milliseconds=3))
    ex.mdn_payload_key, ex.mdn_disposition = "c" * 64, "automatic-action/MDN-sent-automatically; processed"
    ex.mic, ex.mic_algorithm, ex.mdn_at = "q2Vj9X6Jk1t4PZ1sB9b1sQeZ0Hh8rY3y2k1x0w9v8u4=", "sha256", T0 + timedelta(seconds=1)
    ex.set_status("acknowledged", "signed MDN sent", at=T0 + timedelta(seconds=1))
    ex.set_status("processed", at=T0 + timedelta(seconds=2))
    session.commit()

    with fresh(engine) as s:
        got = s.get(Exchange, ex.id)
        assert (got.direction, got.channel, got.partner.name, got.organisation.name) == ("in", "as2", "Acme", "Hub")
        assert (got.message_id, got.as2_from, got.as2_to, got.payload_size, got.content_size) == (
            "<20250106.1@acme>", "ACME", "HUB", 51234, 48000)
        assert (got.mdn_disposition, got.mic_algorithm, got.mdn_at) == (
            "automatic-action/MDN-sent-automatically; processed", "sha256", T0 + timedelta(seconds=1))
        assert [(e.status, e.at, e.reason) for e in got.history] == [
            ("received", T0, None),
            ("stored", T0 + timedelta(milliseconds=3), None),
            ("acknowledged", T0 + timedelta(seconds=1), "signed MDN sent"),
            ("processed", T0 + timedelta(seconds=2), None)]
        assert (got.status, got.status_at) == ("processed", T0 + timedelta(seconds=2))
        assert all(e.at.tzinfo == UTC for e in got.history)
        with pytest.raises(StatusError, match="processed"):
            got.set_status("stored")                 # a final state is final


def test_status_history_order(engine, session) -> None:
    """History is in the order changes were made, even with equal or out-of-order timestamps."""
    acme = make_partner(session, "Acme")
    ex = inbound(acme, "m1", at=T0)
    session.add(ex)
    ex.set_status("stored", at=T0)                               # same instant
    ex.set_status("acknowledged", at=T0)
    ex.note("duplicate Message-ID received again: answered from the first MDN", at=T0)
    ex.set_status("failed", "mapping crashed", at=T0 - timedelta(minutes=5))   # a clock behind: clamped
    ex.set_status("acknowledged", "operator retry", at=T0 + timedelta(minutes=1))
    session.commit()
    with fresh(engine) as s:
        history = s.get(Exchange, ex.id).history
        assert [e.status for e in history] == ["received", "stored", "acknowledged", "acknowledged", "failed",
                                               "acknowledged"]
        assert [e.at for e in history] == [T0] * 5 + [T0 + timedelta(minutes=1)]
        assert history[3].reason.startswith("duplicate Message-ID")
        # the order is the database's too, not just the session's
        rows = s.execute(sa.select(sa.literal_column("status")).select_from(sa.table("exchange_events"))
                         .order_by(sa.text("at, id"))).scalars().all()
        assert rows == [e.status for e in history]
    with pytest.raises(StatusError):
        Exchange(direction="in", channel="as2").set_status("stored")     # must start at received
    with pytest.raises(ValueError):
        Exchange.inbound("fax")


def test_duplicate_message_id_is_refused_by_the_database(engine, session) -> None:
    acme, other = make_partner(session, "Acme"), make_partner(session, "Other")
    session.add(inbound(acme, "<msg-1@acme>"))
    session.commit()
    # Another process (another session) receives the same Message-ID from the same partner.
    with fresh(engine) as s2:
        s2.add(inbound(s2.get(Partner, acme.id), "<msg-1@acme>"))
        with pytest.raises(IntegrityError):
            s2.commit()
    # The same Message-ID from another partner, or going out, is another message.
    session.add(inbound(other, "<msg-1@acme>"))
    session.add(Exchange.outbound("as2", partner=acme, message_id="<msg-1@acme>"))
    session.commit()
    with fresh(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Exchange)) == 3


def test_outbound_retries(engine, session) -> None:
    acme = make_partner(session, "Acme")
    ex = Exchange.outbound("as2", partner=acme, message_id="<out-1@hub>", at=T0)
    session.add(ex)
    session.commit()
    assert session.scalars(Exchange.due(T0)).all() == [ex]
    ex.set_status("sending", at=T0)
    ex.retry_at(T0 + timedelta(minutes=5), "HTTP 503 from partner")
    session.commit()
    with fresh(engine) as s:
        assert s.scalars(Exchange.due(T0 + timedelta(minutes=4))).all() == []
        again = s.scalars(Exchange.due(T0 + timedelta(minutes=5))).one()
        assert (again.attempts, again.status, again.reason) == (1, "retrying", "HTTP 503 from partner")
        again.set_status("sending")
        again.set_status("awaiting_mdn")
        again.set_status("failed", "no MDN within 30 minutes")
        assert again.attempts == 2
        with pytest.raises(StatusError):
            again.set_status("sent")                 # never "sent" after a failure
        again.set_status("queued", "operator retry")
        s.commit()
        assert [e.status for e in s.get(Exchange, ex.id).history] == [
            "queued", "sending", "retrying", "sending", "awaiting_mdn", "failed", "queued"]


# --- documents, renderings, deliveries ---------------------------------------------------------

def test_document_rendering_delivery_round_trip(engine, session, tmp_path) -> None:
    from gateway.syntaxes import write_document

    acme = make_partner(session, "Acme")
    beta = make_partner(session, "Beta", preferred_format="cii", preferred_channel="as2")
    ex = inbound(acme, "<d1@acme>")
    invoice = build_invoice()
    warn = Finding("BR-FR-EXAMPLE", "a warning for the record", severity=WARNING, terms=("BT-10",),
                   path="buyer_reference", location="/Invoice/cbc:BuyerReference", line=12)
    doc = DocumentRecord.from_invoice(invoice, syntax="ubl", mapping="ubl-invoice", exchange=ex, findings=[warn],
                                      recipient=beta)
    rendering = write_document(invoice, "cii")
    ref = PayloadStore(tmp_path / "payloads").put(rendering.data)
    doc.renderings.append(RenderingRecord.from_rendering(rendering, payload_key=ref.key, size=ref.size))
    session.add(doc)
    session.flush()
    delivery = Delivery.new(doc, beta, format="cii", channel="as2", rendering=doc.renderings[0], at=T0)
    session.add(delivery)
    delivery.set_status("sending", at=T0 + timedelta(seconds=1))
    delivery.set_status("acknowledged", "signed MDN: processed", at=T0 + timedelta(seconds=2))
    session.commit()

    with fresh(engine) as s:
        got = s.get(DocumentRecord, doc.id)
        assert (got.syntax, got.mapping, got.number, got.type_code, got.issue_date, got.currency) == (
            "ubl", "ubl-invoice", invoice.number, "380", invoice.issue_date, "EUR")
        assert (got.seller_name, got.buyer_name) == (invoice.seller.name, invoice.buyer.name)
        assert got.seller_vat_id == invoice.seller.vat_identifier
        totals = invoice.totals
        assert (got.total_without_vat, got.total_vat, got.total_with_vat, got.amount_due) == (
            totals.total_without_vat, totals.total_vat, totals.total_with_vat, totals.amount_due)
        assert isinstance(got.total_with_vat, Decimal)
        assert got.valid and got.status == "valid" and (got.fatal_count, got.warning_count) == (0, 1)
        assert got.findings == [warn.as_dict()]
        assert (got.sender.name, got.recipient.name, got.exchange.message_id) == ("Acme", "Beta", "<d1@acme>")
        assert got.duplicate_key and len(got.duplicate_key) == 64
        (r,) = got.renderings
        assert (r.syntax, r.payload_key, r.size, r.media_type) == ("cii", ref.key, len(rendering.data),
                                                                    rendering.media_type)
        assert r.dropped == [{"term": d.term, "path": d.path} for d in rendering.dropped]
        (d,) = got.deliveries
        assert (d.recipient.name, d.format, d.channel, d.rendering_id, d.status, d.reason, d.attempts) == (
            "Beta", "cii", "as2", r.id, "acknowledged", "signed MDN: processed", 1)
        assert [(e.status, e.at) for e in d.history] == [
            ("pending", T0), ("sending", T0 + timedelta(seconds=1)), ("acknowledged", T0 + timedelta(seconds=2))]
        # one delivery per recipient
        s.add(Delivery.new(got, s.get(Partner, beta.id), format="ubl", channel="sftp"))
        with pytest.raises(IntegrityError):
            s.flush()


def test_invalid_and_duplicate_documents(engine, session) -> None:
    acme = make_partner(session, "Acme")
    first = DocumentRecord.from_invoice(build_invoice(), syntax="ubl", mapping="ubl-invoice",
                                        exchange=inbound(acme, "a"))
    fatal = Finding("BR-CO-15", "BT-112 must equal BT-109 + BT-110", terms=("BT-112",))
    again = DocumentRecord.from_invoice(build_invoice(), syntax="cii", mapping="cii", exchange=inbound(acme, "b"),
                                        findings=[fatal])
    session.add_all([first, again])
    session.flush()
    assert (again.valid, again.status, again.fatal_count) == (False, "invalid", 1)
    assert again.duplicate_key == first.duplicate_key
    assert session.scalars(DocumentRecord.duplicates_of(again)).all() == [first]
    assert session.scalars(DocumentRecord.duplicates_of(first)).all() == []
    with pytest.raises(ValueError):
        again.status = "lost"


# --- timestamps and amounts --------------------------------------------------------------------

def test_timestamps_are_utc_and_naive_ones_refused(engine, session, engine_name) -> None:
    paris = timezone(timedelta(hours=1))
    acme = make_partner(session, "Acme")
    ex = inbound(acme, "tz", at=datetime(2025, 1, 6, 10, 0, tzinfo=paris))
    session.add(ex)
    session.commit()
    with fresh(engine) as s:
        got = s.get(Exchange, ex.id)
        assert got.status_at == datetime(2025, 1, 6, 9, 0, tzinfo=UTC) and got.status_at.tzinfo == UTC
        assert s.scalar(sa.select(Exchange.id).where(Exchange.status_at == datetime(2025, 1, 6, 9, 0, tzinfo=UTC)))
        got.mdn_at = datetime(2025, 1, 6, 9, 0)                      # naive: a bug
        with pytest.raises(StatementError, match="naive"):
            s.flush()
    if engine_name == "sqlite":                                      # stored as the UTC wall time
        raw = sqlite3.connect(engine.url.database).execute("SELECT status_at FROM exchanges").fetchone()[0]
        assert raw.startswith("2025-01-06 09:00:00")
    with pytest.raises(ValueError):
        inbound(acme, "naive", at=datetime(2025, 1, 6, 9, 0))


def test_amounts_are_exact(engine, session) -> None:
    acme = make_partner(session, "Acme")
    doc = DocumentRecord.from_invoice(build_invoice(), syntax="ubl", mapping="ubl-invoice",
                                      exchange=inbound(acme, "x"), total_with_vat=Decimal("98765432.1234"),
                                      total_vat=Decimal("0.01"))
    session.add(doc)
    session.commit()
    with fresh(engine) as s:
        got = s.get(DocumentRecord, doc.id)
        assert (got.total_with_vat, got.total_vat) == (Decimal("98765432.1234"), Decimal("0.01"))


# --- search ----------------------------------------------------------------------------------

@pytest.fixture
def corpus(session):
    """3 partners; 12 documents over 4 months, in various states, each from its own exchange."""
    acme = make_partner(session, "Acme")
    beta = make_partner(session, "Beta")
    gamma = make_partner(session, "Gamma")
    states = ["valid", "invalid", "routed", "delivered"]
    docs = []
    for i in range(12):
        sender, recipient = [(acme, beta), (beta, gamma), (gamma, acme)][i % 3]
        ex = inbound(sender, f"<{i}@x>", at=T0 + timedelta(days=10 * i))
        inv = build_invoice()
        inv.number = f"INV-{i:03d}"
        inv.issue_date = date(2025, 1, 1) + timedelta(days=10 * i)
        doc = DocumentRecord.from_invoice(inv, syntax="ubl", mapping="ubl-invoice", exchange=ex,
                                          recipient=recipient, created_at=T0 + timedelta(days=10 * i))
        doc.status = states[i % 4]
        doc.valid = doc.status != "invalid"
        ex.set_status("stored")
        if i % 4 == 1:
            ex.set_status("rejected", "BR-CO-15")
        docs.append(doc)
    session.add_all(docs)
    session.commit()
    return {"acme": acme, "beta": beta, "gamma": gamma, "docs": docs}


def numbers(session, query) -> list[str]:
    return [d.number for d in session.scalars(query)]


def test_document_search(session, corpus) -> None:
    acme = corpus["acme"]
    assert numbers(session, DocumentRecord.search(number="INV-007")) == ["INV-007"]
    assert numbers(session, DocumentRecord.search(number="INV-999")) == []
    # acme sends i = 0, 3, 6, 9 and receives i = 2, 5, 8, 11; newest first
    assert numbers(session, DocumentRecord.search(partner_id=acme.id)) == [
        f"INV-{i:03d}" for i in (11, 9, 8, 6, 5, 3, 2, 0)]
    assert numbers(session, DocumentRecord.search(status="invalid")) == ["INV-009", "INV-005", "INV-001"]
    assert numbers(session, DocumentRecord.search(issued_from=date(2025, 2, 1), issued_to=date(2025, 3, 2))) == [
        "INV-006", "INV-005", "INV-004"]               # 2025-03-03 is out, 2025-01-31 is out
    assert numbers(session, DocumentRecord.search(partner_id=acme.id, status="routed")) == ["INV-006", "INV-002"]
    assert numbers(session, DocumentRecord.search(partner_id=acme.id, status="routed",
                                                  since=T0 + timedelta(days=21))) == ["INV-006"]
    assert numbers(session, DocumentRecord.search(valid=False, until=T0 + timedelta(days=50))) == ["INV-001"]
    page = DocumentRecord.search(partner_id=acme.id).limit(3).offset(3)
    assert numbers(session, page) == ["INV-006", "INV-005", "INV-003"]


def test_exchange_search(session, corpus) -> None:
    beta = corpus["beta"]
    ids = lambda q: [e.message_id for e in session.scalars(q)]      # noqa: E731
    assert ids(Exchange.search(partner_id=beta.id)) == ["<10@x>", "<7@x>", "<4@x>", "<1@x>"]
    assert ids(Exchange.search(status="rejected")) == ["<9@x>", "<5@x>", "<1@x>"]
    assert ids(Exchange.search(partner_id=beta.id, status="stored", since=T0 + timedelta(days=40),
                               until=T0 + timedelta(days=100))) == ["<7@x>", "<4@x>"]
    assert ids(Exchange.search(message_id="<3@x>", direction="in", channel="as2")) == ["<3@x>"]
    assert ids(Exchange.search(direction="out")) == []


_LARGE: dict[str, tuple[str, dict]] = {}


@pytest.fixture
def large_corpus(engine_name, request, tmp_path_factory):
    """5,000 exchanges and documents among 20 partners (bulk inserts), statistics gathered:
    enough rows for a planner to prefer an index when the query is selective. Built once
    per engine and only read by the tests."""
    if engine_name not in _LARGE:
        if engine_name == "sqlite":
            path = tmp_path_factory.mktemp("large") / "large.db"
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
            url = f"sqlite:///{path}"
        else:
            url = request.getfixturevalue("postgres_server").create_database("large")
            migrate(url)
        engine = make_engine(url)
        try:
            _LARGE[engine_name] = (url, fill_large(engine))
        finally:
            engine.dispose()
    url, info = _LARGE[engine_name]
    engine = make_engine(url)
    with Session(engine) as session:
        yield session, info
    engine.dispose()


def fill_large(engine) -> dict:
    n, parties = 5000, 20
    with engine.begin() as conn:
        conn.execute(sa.insert(Partner), [{"name": f"P{i}", "as2_options": {}, "created_at": T0, "updated_at": T0}
                                          for i in range(parties)])
        pids = conn.execute(sa.select(Partner.id).order_by(Partner.id)).scalars().all()
        exchanges, documents = [], []
        for i in range(n):
            at = T0 + timedelta(hours=i)
            out = i % 500 == 7
            status = ("queued" if i % 1000 == 7 else "acknowledged") if out else (
                "rejected" if i % 100 == 3 else "processed")
            exchanges.append({"id": i + 1, "direction": "out" if out else "in", "channel": "as2",
                              "partner_id": pids[i % parties], "message_id": f"<{i}@bulk>", "status": status,
                              "status_at": at, "attempts": 0, "next_attempt_at": at if out else None,
                              "created_at": at, "updated_at": at})
            documents.append({"exchange_id": i + 1, "position": 0, "syntax": "ubl", "mapping": "ubl-invoice",
                              "number": f"B-{i:05d}", "issue_date": date(2020, 1, 1) + timedelta(days=i // 3),
                              "sender_partner_id": pids[i % parties],
                              "recipient_partner_id": pids[(i + 1) % parties],
                              "valid": i % 100 != 3, "findings": [], "line_count": 1,
                              "fatal_count": 0, "warning_count": 0,
                              "status": "invalid" if i % 100 == 3 else "delivered",
                              "created_at": at, "updated_at": at})
        conn.execute(sa.insert(Exchange), exchanges)
        conn.execute(sa.insert(DocumentRecord), documents)
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT setval('exchanges_id_seq', :n)"), {"n": n})
        conn.execute(sa.text("ANALYZE"))
    return {"partners": pids}


SEARCHES = {   # query -> the indexes it may use (any one of them)
    "number": (lambda c: DocumentRecord.search(number="B-00042"), ["ix_documents_number"]),
    "status": (lambda c: DocumentRecord.search(status="invalid"), ["ix_documents_status_created_at"]),
    "issue date": (lambda c: DocumentRecord.search(issued_from=date(2021, 2, 1), issued_to=date(2021, 2, 10)),
                   ["ix_documents_issue_date"]),
    "partner": (lambda c: DocumentRecord.search(partner_id=c["partners"][3]),
                ["ix_documents_sender_partner_id_created_at"]),
    "exchanges of a partner": (lambda c: Exchange.search(partner_id=c["partners"][5]),
                               ["ix_exchanges_partner_id_created_at"]),
    "exchanges by status": (lambda c: Exchange.search(status="rejected"),
                            ["ix_exchanges_status_created_at", "ix_exchanges_status_next_attempt_at"]),
    "due retries": (lambda c: Exchange.due(T0 + timedelta(days=1000)), ["ix_exchanges_status_next_attempt_at"]),
}
# SQLite has no value histograms: for "sent by OR received by, newest first" it walks the
# created_at index rather than merging the two partner indexes (PostgreSQL does a BitmapOr).
SQLITE_PLANS = {"partner": ["ix_documents_created_at"]}


def plan(session: Session, query, engine_name: str) -> str:
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if engine_name == "sqlite":
        rows = session.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        return "\n".join(str(r[-1]) for r in rows)
    return "\n".join(r[0] for r in session.execute(sa.text(f"EXPLAIN {compiled}")))


@pytest.mark.parametrize("search", list(SEARCHES))
def test_searches_use_indexes(large_corpus, engine_name, search) -> None:
    session, info = large_corpus
    make_query, indexes = SEARCHES[search]
    if engine_name == "sqlite":
        indexes = SQLITE_PLANS.get(search, indexes)
    query = make_query(info)
    text = plan(session, query, engine_name)
    assert any(index in text for index in indexes), text
    if search == "partner" and engine_name == "postgresql":     # sent by OR received by: both indexes
        assert "ix_documents_recipient_partner_id_created_at" in text, text
    assert session.scalars(query.limit(1)).first() is not None
