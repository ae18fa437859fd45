"""Our XP Z12-013 services judged by AFNOR's own descriptions: schemathesis reads the official
OpenAPI files of the shared corpus (Annex A, Flow Service; Annex B, Directory Service, 1.3.0),
generates requests from them (valid ones, and invalid ones each breaking one rule: the
examples, coverage and fuzzing phases), sends them to the app served on a loopback port
(werkzeug's server in a thread) and checks every answer with all of its checks: no 5xx,
statuses, content types, headers and bodies as the description says, valid data accepted,
invalid data refused, no answer without the bearer token. Skipped when the corpus is absent.

The caller is a member's ERP (a recipient login's token, naming its own organisation in
``Organization-Id`` by its SIREN). Its organisation has flows of both directions (an invoice
it submitted and received, a CDAR) and directory lines, sent through the real pipeline before
the server starts; the served app queues jobs and runs none. Seeded and bounded:
``EDIGATE_XP_CHECK_EXAMPLES`` examples per operation and phase (8 here).

Where the description cannot state a rule, a schema-valid request may be refused, as these
operations document (the first [[operations]] an operation matches applies):

* ``createFlow`` 422: the file must be of the declared ``flowSyntax`` and not empty, ``FRR``
  (e-reporting) is not handled here, a ``sha256`` must be the file's, a ``trackingId`` is the
  upload's idempotency key;
* ``searchFlows`` 400: "Need at least one criterion" (the description's text, not its schema),
  and a ``cursor`` must be one the service issued (a signed bookmark);
* ``createWebhook`` 400 (its only refusal): the callback must be an http(s) URL of a public address.

And the ``getHealth`` operations document no refusal at all (200, 500, 503): the Flow Service's
ignores a ``Request-Id`` that is not a UUID there (everywhere else it is a 400); both want the
bearer token, as their security says, so a call without one is a 401 the Directory Service's
``getHealth`` does not list (its status check is left out for that operation alone).

One defect of the description is set right before testing, and only that: ``ReasonCode`` is a
``oneOf`` of ``ReasonCodeEnum`` and any string, so a code of the enumeration matches both
branches and no value of the enumeration could ever be valid; it is read as the ``anyOf``
it means.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import schemathesis

from gateway.config import load_settings
from gateway.db import Partner, User, issue_token, utcnow
from gateway.runtime import Gateway
from gateway.syntaxes import cdar, write_document
from gateway.syntaxes.cdar import CdarParty, StatusChange
from gateway.web import create_app
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.support.corpus import CORPUS
from tests.support.fr_invoice import BUYER_SIREN, SELLER_SIREN, build_french_invoice

FLOW_SPEC = CORPUS / "fr" / "annuaire" / "XP_Z12-013_AnnexA_Flow_Service-1.3.0-swagger.json"
DIRECTORY_SPEC = CORPUS / "fr" / "annuaire" / "XP_Z12-013_AnnexB_AFNOR-Directory_Service-1.3.0-swagger.json"
EXAMPLES = int(os.environ.get("EDIGATE_XP_CHECK_EXAMPLES", "8"))
SEED = int(os.environ.get("EDIGATE_XP_CHECK_SEED", "20261207"))
BUYER_SIRET = BUYER_SIREN + "00013"
FLOW_OPERATIONS = {"POST /v1/flows", "POST /v1/flows/search", "GET /v1/flows/{flowId}", "GET /v1/webhooks",
                   "POST /v1/webhooks", "DELETE /v1/webhooks/{webhookUid}", "GET /v1/healthcheck"}
DIRECTORY_OPERATIONS = {"POST /v1/siren/search", "GET /v1/siren/code-insee:{siren}", "POST /v1/siret/search",
                        "GET /v1/siret/code-insee:{siret}", "POST /v1/routing-code/search",
                        "GET /v1/routing-code/siret:{siret}/code:{routing-identifier}",
                        "POST /v1/directory-line/search", "GET /v1/directory-line/code:{addressing-identifier}",
                        "GET /v1/healthcheck"}

pytestmark = pytest.mark.skipif(not (FLOW_SPEC.is_file() and DIRECTORY_SPEC.is_file()),
                                reason=f"the XP Z12-013 descriptions are not in the shared corpus ({FLOW_SPEC.parent})")


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


def _post_flow(client, token: str, data: bytes, info: dict) -> dict:
    r = client.post("/xp-z12-013/flow-service/v1/flows", headers={"Authorization": f"Bearer {token}"},
                    data={"flowInfo": json.dumps(info), "file": (io.BytesIO(data), info["name"])},
                    content_type="multipart/form-data")
    assert r.status_code == 202, r.get_data(as_text=True)
    return r.get_json()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> SimpleNamespace:
    """Two members on the flow API, flows both ways through the real pipeline, then the app served."""
    home = tmp_path_factory.mktemp("xp-check")
    seeding = Gateway(load_settings({"EDIGATE_HOME": str(home)}), immediate_jobs=True)
    with seeding.session() as s:
        seller = Partner(name="Fournisseur SARL", preferred_channel="flow_api", status_syntax="cdar")
        seller.add_identifier("0002", SELLER_SIREN)
        buyer = Partner(name="Client SAS", preferred_channel="flow_api", preferred_format="ubl")
        for scheme, value in (("0225", BUYER_SIREN), ("0009", BUYER_SIRET), ("0225", f"{BUYER_SIREN}_{BUYER_SIRET}_SERV-1")):
            buyer.add_identifier(scheme, value)
        s.add_all([seller, buyer])
        s.flush()
        tokens = {}
        for name, partner in (("seller-erp", seller), ("buyer-erp", buyer)):
            user = User.create(name, "erp-password-123", "recipient", partner_id=partner.id)
            s.add(user)
            s.flush()
            tokens[name] = issue_token(s, user, "xp-check")[1]
    client = create_app(seeding).test_client()
    invoice = build_french_invoice()
    data = write_document(invoice, "ubl").data
    _post_flow(client, tokens["seller-erp"], data, {"flowSyntax": "UBL", "name": "FA-2026-001.xml",
                                                    "trackingId": "FA-2026-001", "sha256": hashlib.sha256(data).hexdigest()})
    refusal = cdar.build_cdar(StatusChange(
        status="refused", at=utcnow().replace(microsecond=0) + timedelta(minutes=1), invoice_number=invoice.number,
        invoice_date=date(2026, 9, 1), seller=CdarParty(SELLER_SIREN, "0002"),
        recipients=(CdarParty(SELLER_SIREN, "0002", "Fournisseur SARL", "SE", SELLER_SIREN, "0225"),),
        issuer=CdarParty(BUYER_SIREN, "0002", "Client SAS", "BY"), reason_code="TX_TVA_ERR", reason="TVA à 10 %"))
    _post_flow(client, tokens["buyer-erp"], refusal, {"flowSyntax": "CDAR", "name": "refus.xml"})
    seeding.close()
    gw = Gateway(load_settings({"EDIGATE_HOME": str(home)}))       # jobs go to the queue, no worker runs them
    app = create_app(gw)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(base=f"http://127.0.0.1:{server.server_port}/xp-z12-013", token=tokens["buyer-erp"])
    finally:
        server.shutdown()
        thread.join(10)
        gw.close()


def _description(path: Path) -> dict:
    doc = json.loads(path.read_text(encoding="utf-8"))
    schemas = doc["components"]["schemas"]
    if "ReasonCode" in schemas and "oneOf" in schemas["ReasonCode"]:      # see the module docstring
        schemas["ReasonCode"]["anyOf"] = schemas["ReasonCode"].pop("oneOf")
    return doc


DIRECTORY_HEALTH = "checks.status_code_conformance.enabled = false"


def _config(base: str, token: str, health: str = "") -> schemathesis.Config:
    return schemathesis.Config.from_str(f"""
seed = {SEED}
base-url = "{base}"
headers = {{ Authorization = "Bearer {token}", "Organization-Id" = "{BUYER_SIREN}" }}

[generation]
max-examples = {EXAMPLES}
mode = "all"
database = "none"

[phases.stateful]
enabled = false

[[operations]]
include-operation-id = "createFlow"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "413", "422"]

[[operations]]
include-operation-id = "searchFlows"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

[[operations]]
include-operation-id = "createWebhook"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

[[operations]]
include-operation-id = "getHealth"
checks.negative_data_rejection.expected-statuses = ["200", "401"]
{health}
""")


def check(schema) -> tuple[int, set[str], list[str]]:
    """Run schemathesis's engine on ``schema``: the requests sent, the operations tested, every problem."""
    from schemathesis.engine import Status, events

    requests, operations, problems = 0, set(), []
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            operations.add(event.recorder.label)
            requests += len(event.recorder.interactions)
            for case_id, nodes in event.recorder.checks.items():
                for node in nodes:
                    if node.status != Status.SUCCESS and node.failure_info is not None:
                        f = node.failure_info.failure
                        case = event.recorder.cases[case_id].value
                        problems.append(f"{event.recorder.label}: {node.name}: {f.title}: {f.message}\n"
                                        f"  {case.method} {case.formatted_path} query={case.query} "
                                        f"body={str(case.body)[:300]}")
        elif isinstance(event, events.NonFatalError):
            problems.append(f"{event.label}: error: {event.info.message}")
        elif isinstance(event, events.FatalError):
            problems.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            problems += [f"{f.operation}: {f.title}: {f.message}" for f in event.failures]
    return requests, operations, problems


def test_the_flow_service_keeps_afnors_description(world) -> None:
    schema = schemathesis.openapi.from_dict(_description(FLOW_SPEC),
                                            config=_config(world.base + "/flow-service", world.token))
    requests, operations, problems = check(schema)
    assert not problems, "\n".join(sorted(set(problems)))
    assert operations == FLOW_OPERATIONS and requests >= len(FLOW_OPERATIONS) * EXAMPLES, (operations, requests)


def test_the_directory_service_keeps_afnors_description(world) -> None:
    schema = schemathesis.openapi.from_dict(_description(DIRECTORY_SPEC),
                                            config=_config(world.base + "/directory-service", world.token,
                                                           DIRECTORY_HEALTH))
    requests, operations, problems = check(schema)
    assert not problems, "\n".join(sorted(set(problems)))
    assert operations == DIRECTORY_OPERATIONS and requests >= len(DIRECTORY_OPERATIONS) * EXAMPLES, \
        (operations, requests)
