"""``edigate partner / cert / org`` (gateway.cli.partner, cert, org): outcomes read back from the database,
exit codes, and refusals that write nothing."""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from gateway.cli.cert import cert_group
from gateway.cli.org import org_group
from gateway.cli.partner import partner_group
from gateway.certs import KeyPair, load_private_key, make_self_signed
from gateway.db import AS2Identity, Certificate, Organisation, Partner, PartnerIdentifier, migrate, session_scope

SIRET, SIREN, GLN, VAT_FR = "73282932000074", "732829320", "4000001000005", "FR44732829320"
NOW = datetime.now(timezone.utc)


@click.group()
def cli() -> None:
    """The three groups as the main ``edigate`` command will carry them."""


for _group in (partner_group, cert_group, org_group):
    cli.add_command(_group)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    monkeypatch.setenv("EDIGATE_CERTS_DIR", str(tmp_path / "certs"))
    monkeypatch.delenv("EDIGATE_DATABASE_URL", raising=False)
    migrate(url(tmp_path))
    return tmp_path


def url(home: Path) -> str:
    return f"sqlite:///{home}/edigate.db"


def run(*args: Any) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args: Any) -> Result:
    result = run(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def refused(*args: Any, says: str) -> Result:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert says in result.stderr, result.stderr
    return result


# --- reading the database back ---------------------------------------------------------------

TABLES = (Organisation, AS2Identity, Partner, PartnerIdentifier, Certificate)


def snapshot(home: Path) -> dict[str, list[tuple]]:
    """Every row of the tables these commands write: equal snapshots = nothing written."""
    with session_scope(url(home)) as s:
        return {m.__tablename__: sorted(tuple(r) for r in s.execute(sa.select(m.__table__)).all())
                for m in TABLES}


def partner(home: Path, name: str) -> dict[str, Any]:
    with session_scope(url(home)) as s:
        p = s.scalar(sa.select(Partner).where(Partner.name == name))
        assert p is not None, f"no partner {name}"
        row = {c.key: getattr(p, c.key) for c in sa.inspect(Partner).column_attrs}
        row["ids"] = {(i.scheme, i.value) for i in p.identifiers}
        row["identity"] = p.as2_identity.as2_name if p.as2_identity else None
        return row


def certs(home: Path) -> list[dict[str, Any]]:
    with session_scope(url(home)) as s:
        return [{"id": c.id, "owner": c.partner.name if c.partner else c.organisation.name,
                 "org": c.organisation is not None, "active": c.active, "usage": c.usage,
                 "fingerprint": c.fingerprint_sha256, "key_ref": c.key_ref, "pem": c.pem, "not_after": c.not_after}
                for c in s.scalars(sa.select(Certificate).order_by(Certificate.id))]


def identities(home: Path) -> list[dict[str, Any]]:
    with session_scope(url(home)) as s:
        return [{"org": i.organisation.name, "as2_name": i.as2_name, "signing": i.signing_key_ref,
                 "encryption": i.encryption_key_ref}
                for i in s.scalars(sa.select(AS2Identity).order_by(AS2Identity.id))]


# --- certificates to import ------------------------------------------------------------------

@lru_cache(maxsize=None)
def keypair(name: str, days: int = 365, start: int = 0) -> KeyPair:
    """A 2048-bit self-signed pair (fast), valid ``days`` from ``start`` days from now."""
    return make_self_signed(name, key_size=2048, days=days, not_before=NOW + timedelta(days=start))


def fingerprint(kp: KeyPair) -> str:
    return kp.fingerprint


def write(home: Path, name: str, data: bytes) -> Path:
    path = home / name
    path.write_bytes(data)
    return path


@pytest.fixture
def acme(home: Path) -> Path:
    """Partner ACME with a SIRET, AS2 settings and certificate A."""
    ok("partner", "add", "ACME", "--as2-id", "ACME-AS2", "--url", "https://as2.acme.example/receive",
       "--format", "ubl", "--channel", "as2", "--id", f"SIRET:{SIRET}",
       "--cert", write(home, "a.pem", keypair("acme-a").cert_pem))
    return home


# --- partner add ---------------------------------------------------------------------------------

def test_partner_add_stores_every_setting(home: Path) -> None:
    ok("org", "add", "Ours", "--as2-name", "OURS-AS2")
    ok("partner", "add", "ACME", "--as2-id", "ACME-AS2", "--url", "https://as2.acme.example/receive",
       "--format", "cii", "--channel", "as2", "--id", "siret:732 829 320 00074", "--id", f"GLN:{GLN}",
       "--id", f"VAT:{VAT_FR}", "--id", "0060:150483782",
       "--cert", write(home, "a.pem", keypair("acme-a").cert_pem),
       "--mdn", "async", "--mdn-unsigned", "--sign", "SHA-384", "--encrypt", "AES128",
       "--no-require-signed", "--no-require-encrypted", "--micalg-spelling", "rfc3851", "--no-compress",
       "--compress-after-signing", "--cte", "base64", "--identity", "OURS-AS2")
    p = partner(home, "ACME")
    assert p["ids"] == {("0009", SIRET), ("0088", GLN), ("9957", VAT_FR), ("0060", "150483782")}
    assert (p["as2_id"], p["as2_url"], p["preferred_format"], p["preferred_channel"]) == \
        ("ACME-AS2", "https://as2.acme.example/receive", "cii", "as2")
    assert (p["as2_signing_algorithm"], p["as2_encryption_algorithm"]) == ("sha384", "aes_128_cbc")
    assert (p["as2_mdn_mode"], p["as2_mdn_signed"], p["as2_require_signed"], p["as2_require_encrypted"]) == \
        ("async", False, False, False)
    assert (p["as2_micalg_spelling"], p["as2_compress"], p["as2_compress_before_signing"],
            p["as2_content_transfer_encoding"]) == ("rfc3851", False, False, "base64")
    assert p["identity"] == "OURS-AS2" and p["active"] is True
    [cert] = [c for c in certs(home) if c["owner"] == "ACME"]
    assert cert["fingerprint"] == fingerprint(keypair("acme-a")) and cert["active"] and cert["usage"] == "both"


def test_partner_add_defaults_are_the_safe_ones(home: Path) -> None:
    result = ok("partner", "add", "Plain", "--channel", "as2")
    p = partner(home, "Plain")
    assert (p["as2_signing_algorithm"], p["as2_encryption_algorithm"], p["as2_require_signed"],
            p["as2_require_encrypted"], p["as2_mdn_mode"], p["as2_mdn_signed"]) == \
        ("sha256", "aes_256_cbc", True, True, "sync", True)
    assert p["ids"] == set() and p["identity"] is None
    assert "has no identifier" in result.stderr
    assert "still missing an AS2 id, a URL and a certificate" in result.stderr
    assert "missing" not in run("partner", "add", "NotAS2", "--channel", "sftp").stderr


def test_no_sign_and_no_encrypt_store_null(home: Path) -> None:
    ok("partner", "add", "Clear", "--no-sign", "--no-encrypt")
    p = partner(home, "Clear")
    assert p["as2_signing_algorithm"] is None and p["as2_encryption_algorithm"] is None


@pytest.mark.parametrize("args, says", [
    (["--id", "SIRET:73282932000075"], "Luhn"),
    (["--id", "SIREN:73282932"], "9 digits"),
    (["--id", "GLN:4000001000006"], "GS1 check digit"),
    (["--id", "SIRTE:73282932000074"], "unknown identifier scheme 'SIRTE'"),
    (["--id", "VAT:12345678901"], "ambiguous"),
    (["--id", "73282932000074"], "expected SCHEME:VALUE"),
    (["--sign", "sha1"], "SHA-1 is too weak for signing"),
    (["--sign", "md5"], "MD5 is too weak"),
    (["--sign", "sha3"], "unknown signing algorithm"),
    (["--encrypt", "3DES"], "too weak for encryption"),
    (["--encrypt", "des_ede3_cbc"], "too weak for encryption"),
    (["--encrypt", "rc2_40_cbc"], "too weak for encryption"),
    (["--encrypt", "aes_256_gcm"], "unknown encryption algorithm"),
    (["--sign", "sha256", "--no-sign"], "contradict"),
    (["--format", "pdf"], "unknown format 'pdf'"),
    (["--channel", "fax"], "unknown channel 'fax'"),
    (["--url", "ftp://acme.example/in"], "not an http:// or https:// URL"),
    (["--url", "acme.example"], "not an http:// or https:// URL"),
    (["--as2-id", 'AC"ME'], "not a usable AS2 name"),
    (["--identity", "NOBODY"], "no AS2 identity of ours named 'NOBODY'"),
    (["--mdn", "later"], "Invalid value for '--mdn'"),
])
def test_partner_add_refusals_write_nothing(home: Path, args: list[str], says: str) -> None:
    before = snapshot(home)
    refused("partner", "add", "NEW", "--id", f"GLN:{GLN}", "--cert",
            write(home, "n.pem", keypair("new").cert_pem), *args, says=says)
    assert snapshot(home) == before


@pytest.mark.parametrize("which, says", [
    ("key", "contains a private key"), ("expired", "`edigate cert import --allow-expired` imports it anyway"),
    ("garbage", "not an X.509 certificate"),
])
def test_partner_add_refuses_bad_certificate_files(home: Path, which: str, says: str) -> None:
    data = {"key": keypair("k").bundle_pem, "expired": keypair("old", days=30, start=-400).cert_pem,
            "garbage": b"hello"}[which]
    before = snapshot(home)
    refused("partner", "add", "NEW", "--id", f"SIREN:{SIREN}", "--cert", write(home, "c.pem", data), says=says)
    assert snapshot(home) == before


def test_unique_violations_name_the_partner_holding_it(acme: Path) -> None:
    before = snapshot(acme)
    refused("partner", "add", "ACME", says="a partner named 'ACME' already exists")
    # the same SIRET spelt differently: label vs code, blanks
    refused("partner", "add", "Other", "--id", "0009:732 829 320 00074", says="already belongs to partner 'ACME'")
    refused("partner", "add", "Other", "--as2-id", "ACME-AS2", says="already belongs to partner 'ACME'")
    refused("partner", "add", "Other", "--id", f"GLN:{GLN}", "--id", f"SIRET:{SIRET}",
            says="already belongs to partner 'ACME'")
    assert snapshot(acme) == before


def test_partner_as2_id_cannot_be_one_of_ours(home: Path) -> None:
    ok("org", "add", "Ours", "--as2-name", "OURS-AS2")
    before = snapshot(home)
    refused("partner", "add", "Other", "--as2-id", "OURS-AS2", says="already ours (organisation Ours)")
    assert snapshot(home) == before


# --- partner set / id / disable -----------------------------------------------------------------

def test_partner_set_changes_only_what_is_given(acme: Path) -> None:
    before = partner(acme, "ACME")
    ok("partner", "set", "ACME", "--url", "https://new.acme.example/as2", "--no-sign", "--no-require-signed")
    after = partner(acme, "ACME")
    assert after["as2_url"] == "https://new.acme.example/as2"
    assert after["as2_signing_algorithm"] is None and after["as2_require_signed"] is False
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"as2_url", "as2_signing_algorithm", "as2_require_signed", "updated_at"}


def test_partner_set_clears_renames_and_links(acme: Path) -> None:
    ok("org", "add", "Ours", "--as2-name", "OURS-AS2")
    ok("partner", "set", f"SIRET:{SIRET}", "--identity", "OURS-AS2", "--format", "facturx")
    assert partner(acme, "ACME")["identity"] == "OURS-AS2"
    ok("partner", "set", "ACME-AS2", "--identity", "", "--url", "", "--rename", "Acme SA")
    p = partner(acme, "Acme SA")
    assert p["identity"] is None and p["as2_url"] is None and p["preferred_format"] == "facturx"


def test_partner_set_refusal_changes_nothing(acme: Path) -> None:
    ok("partner", "add", "Beta", "--id", f"GLN:{GLN}")
    before = snapshot(acme)
    refused("partner", "set", "ACME", "--url", "https://changed.example/", "--encrypt", "rc4",
            says="too weak for encryption")
    refused("partner", "set", "ACME", "--url", "https://changed.example/", "--id", f"GLN:{GLN}",
            says="already belongs to partner 'Beta'")
    refused("partner", "set", "ACME", "--rename", "Beta", says="has that name")
    refused("partner", "set", "Nobody", "--url", "https://x.example/", says="no partner 'Nobody'")
    assert snapshot(acme) == before


def test_partner_set_cert_adds_beside_the_old_one(acme: Path) -> None:
    result = ok("partner", "set", "ACME", "--cert", write(acme, "b.pem", keypair("acme-b").cert_pem))
    active = [c["fingerprint"] for c in certs(acme) if c["owner"] == "ACME" and c["active"]]
    assert active == [fingerprint(keypair("acme-a")), fingerprint(keypair("acme-b"))]
    assert "2 active certificates" in result.output


def test_partner_id_add_and_remove(acme: Path) -> None:
    ok("partner", "id", "add", "ACME", f"gln:{GLN}")
    ok("partner", "id", "add", "ACME", f"vat:{VAT_FR.lower()}")
    assert partner(acme, "ACME")["ids"] == {("0009", SIRET), ("0088", GLN), ("9957", VAT_FR)}
    again = ok("partner", "id", "add", "ACME", f"0088:{GLN}")
    assert "already has" in again.output
    ok("partner", "id", "remove", "ACME", f"SIRET:{SIRET}")
    assert partner(acme, "ACME")["ids"] == {("0088", GLN), ("9957", VAT_FR)}

    ok("partner", "add", "Beta")
    before = snapshot(acme)
    refused("partner", "id", "add", "Beta", f"GLN:{GLN}", says="already belongs to partner 'ACME'")
    refused("partner", "id", "add", "Beta", "SIREN:732829321", says="check digit")
    refused("partner", "id", "remove", "Beta", f"GLN:{GLN}", says="has no identifier 0088:4000001000005")
    assert snapshot(acme) == before


def test_a_wrong_identifier_stored_before_can_still_be_removed(acme: Path) -> None:
    with session_scope(url(acme)) as s:
        s.scalar(sa.select(Partner).where(Partner.name == "ACME")).add_identifier("0009", "11111111111111")
    ok("partner", "id", "remove", "ACME", "SIRET:11111111111111")
    assert partner(acme, "ACME")["ids"] == {("0009", SIRET)}


def test_partner_disable_and_enable(acme: Path) -> None:
    ok("partner", "disable", "ACME")
    assert partner(acme, "ACME")["active"] is False
    assert "(disabled)" in ok("partner", "list").output
    ok("partner", "enable", "ACME")
    assert partner(acme, "ACME")["active"] is True


# --- partner list / show ---------------------------------------------------------------------------

def test_partner_list_json(acme: Path) -> None:
    ok("partner", "add", "Beta", "--id", f"GLN:{GLN}", "--format", "cii", "--channel", "sftp")
    rows = {p["name"]: p for p in json.loads(ok("partner", "list", "--json").stdout)}
    assert set(rows) == {"ACME", "Beta"}
    assert rows["ACME"]["identifiers"] == [{"scheme": "0009", "value": SIRET, "label": "SIRET"}]
    assert (rows["ACME"]["as2_id"], rows["ACME"]["format"], rows["ACME"]["channel"]) == ("ACME-AS2", "ubl", "as2")
    expiry = datetime.fromisoformat(rows["ACME"]["certificate_expiry"])
    assert expiry == keypair("acme-a").certificate.not_valid_after_utc
    assert rows["Beta"]["certificate_expiry"] is None and rows["Beta"]["channel"] == "sftp"


def test_partner_list_text(acme: Path) -> None:
    out = ok("partner", "list").stdout
    line = next(line for line in out.splitlines() if "ACME" in line)
    assert SIRET in line and "ACME-AS2" in line and "ubl/as2" in line
    assert f"{keypair('acme-a').certificate.not_valid_after_utc:%Y-%m-%d}" in line


@pytest.mark.parametrize("ref", ["ACME", "acme", "1", f"SIRET:{SIRET}", f"0009:{SIRET}", "ACME-AS2"])
def test_partner_show_finds_by_name_number_identifier_or_as2_id(acme: Path, ref: str) -> None:
    shown = json.loads(ok("partner", "show", ref, "--json").stdout)
    assert shown["name"] == "ACME" and shown["id"] == 1


def test_partner_show_everything(acme: Path) -> None:
    ok("cert", "import", "ACME", write(acme, "b.pem", keypair("acme-b").cert_pem))
    ok("cert", "retire", "1")
    shown = json.loads(ok("partner", "show", "ACME", "--json").stdout)
    assert shown["as2_url"] == "https://as2.acme.example/receive"
    assert shown["signing_algorithm"] == "sha256" and shown["require_encrypted"] is True
    assert [(c["id"], c["active"], c["state"]) for c in shown["certificates"]] == \
        [(1, False, "retired"), (2, True, "valid")]
    text = ok("partner", "show", "ACME").stdout
    assert "retired" in text and "days left" in text and SIRET in text


def test_partner_show_unknown(home: Path) -> None:
    refused("partner", "show", "Nobody", says="no partner 'Nobody'")


# --- cert --------------------------------------------------------------------------------------------

def test_cert_import_rollover_keeps_both_active(acme: Path) -> None:
    result = ok("cert", "import", "ACME", write(acme, "b.pem", keypair("acme-b").cert_pem), "--usage", "signing")
    rows = [c for c in certs(acme) if c["owner"] == "ACME"]
    assert [(c["fingerprint"], c["active"], c["usage"]) for c in rows] == [
        (fingerprint(keypair("acme-a")), True, "both"), (fingerprint(keypair("acme-b")), True, "signing")]
    assert "2 active certificates" in result.stdout and "Rollover" in result.stdout


def test_cert_import_der_and_future(acme: Path) -> None:
    kp = keypair("acme-next", start=10)
    der = kp.certificate.public_bytes(serialization.Encoding.DER)
    result = ok("cert", "import", "ACME", write(acme, "next.der", der))
    [row] = [c for c in certs(acme) if c["fingerprint"] == fingerprint(kp)]
    assert x509.load_pem_x509_certificate(row["pem"].encode()) == kp.certificate
    assert "not valid before" in result.stdout


def test_cert_import_chain_keeps_the_first(acme: Path) -> None:
    leaf, ca = keypair("acme-leaf"), keypair("some-ca")
    result = ok("cert", "import", "ACME", write(acme, "chain.pem", leaf.cert_pem + ca.cert_pem))
    fps = {c["fingerprint"] for c in certs(acme)}
    assert fingerprint(leaf) in fps and fingerprint(ca) not in fps
    assert "holds 2 certificates" in result.stderr


def test_cert_import_refusals_write_nothing(acme: Path) -> None:
    before = snapshot(acme)
    refused("cert", "import", "ACME", write(acme, "a-again.pem", keypair("acme-a").cert_pem),
            says="already has this certificate as #1")
    refused("cert", "import", "ACME", write(acme, "key.pem", keypair("acme-b").bundle_pem),
            says="contains a private key")
    refused("cert", "import", "ACME", write(acme, "key-only.pem", keypair("acme-b").key_pem),
            says="contains a private key")
    der_key = keypair("acme-b").private_key().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    refused("cert", "import", "ACME", write(acme, "key.der", der_key), says="contains a private key")
    refused("cert", "import", "ACME", write(acme, "old.pem", keypair("old", days=30, start=-400).cert_pem),
            says="--allow-expired")
    refused("cert", "import", "Nobody", write(acme, "b.pem", keypair("acme-b").cert_pem), says="no partner")
    refused("cert", "import", "ACME", write(acme, "b.pem", keypair("acme-b").cert_pem), "--org",
            says="no organisation of ours named 'ACME'")
    assert snapshot(acme) == before


def test_cert_import_expired_when_allowed(acme: Path) -> None:
    old = keypair("old", days=30, start=-400)
    result = ok("cert", "import", "ACME", write(acme, "old.pem", old.cert_pem), "--allow-expired")
    assert fingerprint(old) in {c["fingerprint"] for c in certs(acme)}
    assert "has expired" in result.stderr


def test_cert_import_for_an_organisation(home: Path) -> None:
    ok("org", "add", "Ours", "--as2-name", "OURS-AS2")
    ok("cert", "import", "OURS-AS2", write(home, "o.pem", keypair("ours").cert_pem), "--org")
    [row] = certs(home)
    assert row["org"] and row["owner"] == "Ours" and row["fingerprint"] == fingerprint(keypair("ours"))


def renewed(kp: KeyPair, days: int = 730) -> bytes:
    """A new certificate for the same key (what a renewal by a CA gives)."""
    key = kp.private_key()
    cert = (x509.CertificateBuilder().subject_name(kp.certificate.subject).issuer_name(kp.certificate.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(minutes=5)).not_valid_after(NOW + timedelta(days=days))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_cert_import_for_an_organisation_finds_our_key(home: Path) -> None:
    kp = keypair("ours")
    key = write(home, "ours.key.pem", kp.key_pem)
    os.chmod(key, 0o600)
    ok("org", "add", "Ours", "--as2-name", "OURS-AS2", "--key", key, "--cert", write(home, "ours.pem", kp.cert_pem))
    result = ok("cert", "import", "Ours", write(home, "renewed.pem", renewed(kp)), "--org")
    assert [(c["key_ref"], c["active"]) for c in certs(home)] == [(str(key.resolve()), True)] * 2
    assert "2 active certificates" in result.stdout
    stranger = ok("cert", "import", "Ours", write(home, "other.pem", keypair("other").cert_pem), "--org")
    assert certs(home)[2]["key_ref"] is None and "no key of organisation Ours matches" in stranger.stderr


def test_cert_retire(acme: Path) -> None:
    ok("cert", "import", "ACME", write(acme, "b.pem", keypair("acme-b").cert_pem))
    ok("cert", "retire", "1")
    assert [(c["id"], c["active"]) for c in certs(acme)] == [(1, False), (2, True)]
    again = ok("cert", "retire", "1")
    assert "already retired" in again.stdout
    last = ok("cert", "retire", "2")
    assert "no valid active certificate for signing" in last.stderr
    refused("cert", "retire", "99", says="no certificate #99")


def test_cert_list_and_owner_filter(acme: Path) -> None:
    ok("org", "add", "Ours", "--as2-name", "OURS-AS2", "--dev")
    every = json.loads(ok("cert", "list", "--json").stdout)
    assert sorted(c["owner"] for c in every) == ["org Ours", "partner ACME"]
    mine = json.loads(ok("cert", "list", "--owner", "Ours", "--json").stdout)
    assert [c["owner"] for c in mine] == ["org Ours"] and mine[0]["key_ref"].endswith("OURS-AS2.key.pem")
    theirs = json.loads(ok("cert", "list", "--owner", f"SIRET:{SIRET}", "--json").stdout)
    assert [c["id"] for c in theirs] == [1]
    refused("cert", "list", "--owner", "Nobody", says="no partner nor organisation 'Nobody'")


def test_cert_expiring_exit_codes(home: Path) -> None:
    none = run("cert", "expiring")
    assert none.exit_code == 0 and none.stdout == ""
    ok("partner", "add", "Long", "--cert", write(home, "long.pem", keypair("long", days=400).cert_pem))
    assert run("cert", "expiring").exit_code == 0
    ok("partner", "add", "Soon", "--cert", write(home, "soon.pem", keypair("soon", days=10).cert_pem))
    soon = run("cert", "expiring")
    assert soon.exit_code == 1 and "partner Soon" in soon.stdout and "Long" not in soon.stdout
    assert run("cert", "expiring", "--within", "5").exit_code == 0
    assert run("cert", "expiring", "--within", "500").exit_code == 1
    listed = json.loads(run("cert", "expiring", "--json").stdout)
    assert [c["owner"] for c in listed] == ["partner Soon"]


def test_cert_expiring_counts_expired_but_not_retired(home: Path) -> None:
    ok("partner", "add", "Late")
    ok("cert", "import", "Late", write(home, "old.pem", keypair("old", days=30, start=-400).cert_pem),
       "--allow-expired")
    late = run("cert", "expiring", "--within", "0")
    assert late.exit_code == 1 and "expired" in late.stdout
    ok("cert", "retire", "1")
    assert run("cert", "expiring").exit_code == 0


def test_cert_export_gives_our_current_certificate_in_pem_or_der_and_never_a_key(home: Path) -> None:
    kp = keypair("ours")
    key = write(home, "ours.key.pem", kp.key_pem)
    os.chmod(key, 0o600)
    ok("org", "add", "Ours", "--as2-name", "OURS-AS2", "--key", key, "--cert", write(home, "ours.pem", kp.cert_pem))
    pem = ok("cert", "export").stdout_bytes
    assert x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex() == fingerprint(kp)
    assert b"PRIVATE KEY" not in pem
    out = home / "ours.cer"
    said = ok("cert", "export", "--org", "Ours", "--der", "-o", out)
    assert x509.load_der_x509_certificate(out.read_bytes()).fingerprint(hashes.SHA256()).hex() == fingerprint(kp)
    assert fingerprint(kp) in said.stderr and "DER" in said.stderr
    # A renewal makes the newer one current; the old one stays exportable by its number.
    ok("cert", "import", "Ours", write(home, "renewed.pem", renewed(kp)), "--org")
    newest = x509.load_pem_x509_certificate(ok("cert", "export").stdout_bytes)
    assert newest.serial_number != kp.certificate.serial_number
    first = x509.load_pem_x509_certificate(ok("cert", "export", "1").stdout_bytes)
    assert first.serial_number == kp.certificate.serial_number
    refused("cert", "export", "99", says="no certificate #99")
    ok("org", "add", "Second", "--as2-name", "SECOND-AS2", "--dev")
    refused("cert", "export", says="several organisations of ours")


def test_cert_export_without_an_organisation(home: Path) -> None:
    refused("cert", "export", says="no organisation of ours yet")


# --- org ---------------------------------------------------------------------------------------------

def test_org_add_dev_makes_and_records_a_key_pair(home: Path) -> None:
    ok("org", "add", "Ours", "--as2-name", "OURS AS2/FR", "--dev")
    key_path = home / "certs" / "OURS_AS2_FR.key.pem"
    [ident] = identities(home)
    assert ident == {"org": "Ours", "as2_name": "OURS AS2/FR", "signing": str(key_path),
                     "encryption": str(key_path)}
    assert key_path.stat().st_mode & 0o077 == 0
    [cert] = certs(home)
    assert cert["org"] and cert["owner"] == "Ours" and cert["key_ref"] == str(key_path) and cert["active"]
    public = x509.load_pem_x509_certificate(cert["pem"].encode()).public_key()
    assert public.public_numbers() == load_private_key(key_path).public_key().public_numbers()


def test_org_add_with_key_and_cert(home: Path) -> None:
    kp = keypair("ours")
    key = write(home, "ours.key.pem", kp.key_pem)
    os.chmod(key, 0o600)
    ok("org", "add", "Ours", "--as2-name", "OURS-AS2", "--key", key, "--cert", write(home, "ours.pem", kp.cert_pem))
    assert identities(home)[0]["signing"] == str(key.resolve())
    assert [c["fingerprint"] for c in certs(home)] == [fingerprint(kp)]


def test_org_add_refusals_write_nothing(home: Path) -> None:
    kp, other = keypair("ours"), keypair("other")
    key, cert = write(home, "k.pem", kp.key_pem), write(home, "c.pem", kp.cert_pem)
    wrong = write(home, "w.pem", other.cert_pem)
    enc = write(home, "enc.pem", make_self_signed("enc", key_size=2048, password="pw").key_pem)
    before = snapshot(home)
    refused("org", "add", "Ours", "--as2-name", "A", "--key", key, "--cert", wrong, says="is not the certificate of")
    refused("org", "add", "Ours", "--as2-name", "A", "--key", key, says="--key and --cert go together")
    refused("org", "add", "Ours", "--as2-name", "A", "--dev", "--cert", cert, says="either --dev or --key")
    refused("org", "add", "Ours", "--as2-name", "A", "--key", enc, "--cert", cert, says="encrypted key")
    refused("org", "add", "Ours", "--as2-name", "A", "--key", cert, "--cert", cert, says="not a private key")
    refused("org", "add", "Ours", "--as2-name", " A", says="not a usable AS2 name")
    expired = keypair("old", days=30, start=-400)
    refused("org", "add", "Ours", "--as2-name", "A", "--key", write(home, "old.key", expired.key_pem),
            "--cert", write(home, "old.pem", expired.cert_pem), says="make or obtain a new certificate")
    refused("org", "add", "Ours", says="Missing option '--as2-name'")
    assert snapshot(home) == before
    assert not (home / "certs").exists()


def test_org_conflicts_name_the_holder(home: Path) -> None:
    ok("org", "add", "Ours", "--as2-name", "OURS-AS2")
    ok("partner", "add", "ACME", "--as2-id", "ACME-AS2")
    before = snapshot(home)
    refused("org", "add", "Ours", "--as2-name", "OTHER", says="organisation 'Ours' already exists")
    refused("org", "add", "Second", "--as2-name", "OURS-AS2", "--dev", says="already ours (organisation Ours)")
    refused("org", "identity", "add", "Ours", "--as2-name", "ACME-AS2", says="already belongs to partner 'ACME'")
    refused("org", "identity", "add", "Nobody", "--as2-name", "X", says="no organisation of ours named 'Nobody'")
    assert snapshot(home) == before
    assert not (home / "certs").exists()          # the refused --dev made no key files


def test_org_identity_add_and_show(home: Path) -> None:
    ok("org", "add", "Ours", "--as2-name", "OURS-1", "--dev")
    ok("org", "identity", "add", "Ours", "--as2-name", "OURS-2", "--dev")
    ok("org", "identity", "add", "OURS-1", "--as2-name", "OURS-3")
    assert [(i["org"], i["as2_name"]) for i in identities(home)] == [("Ours", "OURS-1"), ("Ours", "OURS-2"),
                                                                     ("Ours", "OURS-3")]
    assert identities(home)[2]["signing"] is None
    ok("partner", "add", "ACME", "--identity", "OURS-2")
    shown = json.loads(ok("org", "show", "Ours", "--json").stdout)
    assert [(i["as2_name"], i["partners"]) for i in shown["as2_identities"]] == \
        [("OURS-1", 0), ("OURS-2", 1), ("OURS-3", 0)]
    assert len(shown["certificates"]) == 2 and all(c["state"] == "valid" for c in shown["certificates"])
    listed = json.loads(ok("org", "list", "--json").stdout)
    assert listed[0]["as2_names"] == ["OURS-1", "OURS-2", "OURS-3"]


def test_dev_key_pairs_are_not_shared_between_identities(home: Path) -> None:
    ok("org", "add", "Ours", "--as2-name", "OURS/1", "--dev")
    before = snapshot(home)
    refused("org", "identity", "add", "Ours", "--as2-name", "OURS_1", "--dev", says="is already AS2 identity 'OURS/1'")
    assert snapshot(home) == before


def test_bad_settings_are_a_setup_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDIGATE_DATABASE_URL", "edigate.db")
    result = run("partner", "list")
    assert result.exit_code == 3 and "EDIGATE_DATABASE_URL" in result.stderr
