"""``edigate serve`` (what ``make serve`` runs) on an empty home: it prepares everything itself.

Started as a newcomer would, in its own process: the schema is migrated, our
development key pair is generated under the certs directory (0600, never in
the repository), the demo setup (an organisation and two partners) is loaded
once, a first admin account is made with a password printed once and kept
0600, and the AS2 endpoint, the API and the operator pages answer. A second
start changes none of it.
"""
from __future__ import annotations

import re
import stat

import requests
import sqlalchemy as sa

from gateway.db import AS2Identity, Certificate, Partner
from gateway.db.access import User
from gateway.server import DEMO_IDENTITY, DEMO_PARTNERS

from tests.support.gateway_process import GatewayProcess


def _login(base: str, username: str, password: str) -> requests.Session:
    s = requests.Session()
    page = s.get(base + "/login", timeout=10)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    r = s.post(base + "/login", data={"username": username, "password": password, "csrf_token": token},
               timeout=10, allow_redirects=False)
    assert r.status_code in (302, 303), r.text[:500]
    return s


def test_serve_prepares_a_fresh_home_and_answers(tmp_path):
    server = GatewayProcess(tmp_path / "home", demo=True)
    try:
        server.start()
        log = server.log_tail()
        for what in ("operator pages", "REST API", "AS2 endpoint", "database", "jobs", "certificates"):
            assert what in log, log
        assert f"http://127.0.0.1:{server.port}/as2" in log
        password = re.search(r"first login\s+admin / (\S+)", log).group(1)
        pw_file = server.home / "admin-password"
        assert pw_file.read_text().strip() == password
        assert stat.S_IMODE(pw_file.stat().st_mode) == 0o600

        key = server.home / "certs" / "dev" / "edigate-demo.key.pem"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600

        gw = server.gateway()
        with gw.session() as s:
            assert s.scalar(sa.select(AS2Identity.as2_name)) == DEMO_IDENTITY
            partners = {p.as2_id: p for p in s.scalars(sa.select(Partner))}
            assert set(partners) == {p[1] for p in DEMO_PARTNERS}
            for name, as2_id, idents, fmt in DEMO_PARTNERS:
                assert {(i.scheme, i.value) for i in partners[as2_id].identifiers} == set(idents)
                assert partners[as2_id].preferred_format == fmt
            assert s.scalar(sa.select(sa.func.count()).select_from(Certificate)) == 3
            assert [u.role for u in s.scalars(sa.select(User))] == ["admin"]
        gw.close()

        # Everything but /as2 and the OpenAPI description wants credentials.
        assert requests.get(server.base + "/api/v1/partners", timeout=10).status_code == 401
        assert requests.get(server.base + "/api/v1/openapi.json", timeout=10).status_code == 200
        r = requests.get(server.base + "/exchanges", timeout=10, allow_redirects=False)
        assert r.status_code in (302, 303) and "/login" in r.headers["Location"]
        session = _login(server.base, "admin", password)
        page = session.get(server.base + "/partners", timeout=10)
        assert page.status_code == 200 and "Demo Buyer GmbH" in page.text

        server.stop()
        assert server.proc.returncode == 0          # SIGTERM: a clean stop
        server.start()                               # a second start: nothing made again
        assert "first login" not in server.log_tail() and "demo setup" not in server.log_tail()
        assert pw_file.read_text().strip() == password
        gw = server.gateway()
        with gw.session() as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(Partner)) == len(DEMO_PARTNERS)
            assert s.scalar(sa.select(sa.func.count()).select_from(User)) == 1
        gw.close()
    finally:
        server.stop()
