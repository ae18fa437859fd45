"""The audit trail of partner and certificate changes, whichever door they came through.

The operator pages always wrote who changed what; the partner service now writes it for the
command line (``cli:<login>``) and the REST API (``api:<user>``) too, the same actions with the
same detail: a partner created, its settings, identifiers and state changed, a certificate
imported and retired. A fresh database under tmp_path; the API served by the Flask app.
"""
from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from gateway.certs import ensure_dev_keypair
from gateway.cli import main
from gateway.db import AuditEvent, Certificate, Partner, User, issue_token
from gateway.web import create_app


def events(gw) -> list[tuple[str, str, str, dict]]:
    with gw.session() as s:
        return [(e.actor, e.action, e.subject_type, e.detail or {})
                for e in s.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))]


def test_command_line_changes_are_on_the_trail(make_gateway, tmp_path) -> None:
    gw = make_gateway()
    env = {"EDIGATE_HOME": str(gw.settings.home), "EDIGATE_DATABASE_URL": None}

    def run(*args: str) -> None:
        r = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert r.exit_code == 0, r.output

    cert = ensure_dev_keypair(tmp_path / "keys", "acme", common_name="ACME")
    run("partner", "add", "Acme", "--id", "SIRET:73282932000074")
    run("partner", "set", "Acme", "--url", "https://as2.acme.example/in")
    run("partner", "id", "add", "Acme", "GLN:4000001000005")
    run("partner", "disable", "Acme")
    run("cert", "import", "Acme", str(cert.cert_path))
    with gw.session() as s:
        cert_id = s.scalar(sa.select(Certificate.id))
    run("cert", "retire", str(cert_id))

    trail = events(gw)
    assert [(a, kind) for _, a, kind, _ in trail] == [
        ("partner.create", "partner"), ("partner.update", "partner"), ("partner.update", "partner"),
        ("partner.update", "partner"), ("certificate.import", "partner"), ("certificate.retire", "partner")]
    assert all(actor.startswith("cli") for actor, *_ in trail), trail
    assert trail[0][3]["identifiers"] == ["0009:73282932000074"] and trail[0][3]["name"] == "Acme"
    assert trail[1][3] == {"as2_url": [None, "https://as2.acme.example/in"]}
    assert trail[2][3] == {"identifiers": [["0009:73282932000074"], ["0009:73282932000074", "0088:4000001000005"]]}
    assert trail[3][3] == {"active": [True, False]}
    assert trail[4][3]["certificate_id"] == trail[5][3]["certificate_id"] == cert_id


def test_api_changes_are_on_the_trail(make_gateway) -> None:
    gw = make_gateway()
    with gw.session() as s:
        user = User.create("olivia", "a long password", "operator")
        s.add(user)
        s.flush()
        token = issue_token(s, user, "trail")[1]
    client = create_app(gw, testing=True).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    r = client.post("/api/v1/partners", json={"name": "Globex", "preferred_format": "ubl"}, headers=headers)
    assert r.status_code == 201, r.get_json()
    r = client.patch(f"/api/v1/partners/{r.get_json()['id']}", json={"contact_email": "ap@globex.example"},
                     headers=headers)
    assert r.status_code == 200, r.get_json()
    trail = events(gw)
    assert [(actor, action) for actor, action, _, _ in trail] == [("api:olivia", "partner.create"),
                                                                   ("api:olivia", "partner.update")]
    assert trail[1][3] == {"contact_email": [None, "ap@globex.example"]}
    with gw.session() as s:
        assert s.scalar(sa.select(Partner.contact_email)) == "ap@globex.example"
