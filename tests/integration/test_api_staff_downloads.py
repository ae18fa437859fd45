"""Staff follow the lists through the API, as on the pages, but do not download an invoice's content.

The pages never let a ``staff`` login open an invoice or download a file, a message or an MDN
(``documents.open``); the API's download routes now refuse its token the same way (403), while
an operator's token downloads the same bytes. Its lists and the document's summary stay open to
staff. Real files through the real pipeline (tests/support/portal_seed.py); the Flask app's test
client.
"""
from __future__ import annotations

import sqlalchemy as sa

from gateway.db import DocumentRecord
from gateway.web import create_app

from tests.support.portal_seed import INVOICES, seed_partners, send


def test_staff_tokens_cannot_download_what_staff_cannot_open(make_gateway) -> None:
    gw = make_gateway()
    seeded = seed_partners(gw)
    spec = next(s for s in INVOICES if s.sender == "globex")
    document_id = send(gw, seeded, spec)
    with gw.session() as s:
        doc = s.get(DocumentRecord, document_id)
        exchange_id = doc.exchange_id
        rendering_id = doc.renderings[0].id if doc.renderings else None
    client = create_app(gw, testing=True).test_client()
    downloads = [f"/api/v1/documents/{document_id}/original", f"/api/v1/exchanges/{exchange_id}/raw",
                 f"/api/v1/exchanges/{exchange_id}/content"]
    if rendering_id is not None:
        downloads.append(f"/api/v1/documents/{document_id}/renderings/{rendering_id}")
    for url in downloads:
        refused = client.get(url, headers=seeded.auth("sam"))
        assert refused.status_code == 403 and refused.get_json()["error"], (url, refused.status_code)
        allowed = client.get(url, headers=seeded.auth("olivia"))
        assert allowed.status_code == 200 and allowed.data, (url, allowed.status_code)
    assert client.get(f"/api/v1/exchanges/{exchange_id}/mdn", headers=seeded.auth("sam")).status_code == 403
    # what staff may follow: the lists and the summary
    assert client.get("/api/v1/documents", headers=seeded.auth("sam")).status_code == 200
    assert client.get(f"/api/v1/documents/{document_id}", headers=seeded.auth("sam")).status_code == 200
