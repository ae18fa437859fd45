"""The served OpenAPI against the code: schemathesis generates requests from /api/v1/openapi.json
(valid ones, and invalid ones each breaking one rule), sends them to the app served on a
loopback port (werkzeug's server in a thread) and checks every answer — no 5xx, only documented statuses, content types, headers and bodies,
valid data accepted, invalid data refused (all of schemathesis's checks, as ``--checks all``).

Two callers: an admin (every operation; on the ERP routes it acts for a partner, which an
admin's token must name) and a recipient login (its ERP pull, its documents' status and its
approvals; elsewhere a 403). Seeded and bounded: ``EDIGATE_API_CHECK_EXAMPLES`` examples per operation
and phase (10 here; ``make api-check`` runs many more). Jobs are queued, never run: nothing
leaves the machine whatever the generated partners say.
"""
from __future__ import annotations

import os
import re
import threading
from types import SimpleNamespace

import pytest
import schemathesis

from gateway.config import load_settings
from gateway.db import User, issue_token
from gateway.runtime import Gateway
from gateway.web import create_app
from gateway.web.api import erp as erp_api
from itsdangerous import URLSafeSerializer
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.support.portal_seed import PASSWORD, seed_documents, seed_partners

OPENAPI = "/api/v1/openapi.json"
EXAMPLES = int(os.environ.get("EDIGATE_API_CHECK_EXAMPLES", "10"))
SEED = int(os.environ.get("EDIGATE_API_CHECK_SEED", "20261207"))
RECIPIENT_OPERATIONS = r"^/(erp/|documents/\{document_id\}/status|approvals)"
ALL = {f"{m} {p}" for m, p in (("GET", "/openapi.json"), ("GET", "/partners"), ("POST", "/partners"),
                               ("GET", "/partners/{partner_id}"), ("PATCH", "/partners/{partner_id}"),
                               ("GET", "/exchanges"), ("GET", "/exchanges/{exchange_id}"),
                               ("GET", "/exchanges/{exchange_id}/raw"), ("GET", "/exchanges/{exchange_id}/content"),
                               ("GET", "/exchanges/{exchange_id}/mdn"), ("POST", "/exchanges/{exchange_id}/retry"),
                               ("POST", "/deliveries/{delivery_id}/redeliver"), ("GET", "/documents"),
                               ("POST", "/documents"), ("GET", "/documents/{document_id}"),
                               ("GET", "/documents/{document_id}/original"),
                               ("GET", "/documents/{document_id}/renderings/{rendering_id}"),
                               ("GET", "/documents/{document_id}/status"), ("POST", "/documents/{document_id}/status"),
                               ("GET", "/erp/invoices"), ("POST", "/erp/invoices/ack"),
                               ("GET", "/erp/invoices/{document_id}"), ("GET", "/erp/invoices/{document_id}/content"),
                               ("GET", "/controls"), ("GET", "/controls/holds"),
                               ("POST", "/controls/holds/{document_id}/confirm"), ("PATCH", "/controls/{name}"),
                               ("GET", "/approvals"), ("GET", "/approvals/{document_id}"),
                               ("POST", "/approvals/{document_id}/decision"), ("GET", "/approvals/delegations"),
                               ("POST", "/approvals/delegations"), ("POST", "/approvals/delegations/{delegation_id}/end"),
                               ("GET", "/approval-rules/{partner_id}"), ("PUT", "/approval-rules/{partner_id}"))}


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:     # thousands of requests: the failures say enough
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> SimpleNamespace:
    """Documents through the real pipeline, then the app on the same records with jobs only queued."""
    home = tmp_path_factory.mktemp("api-check")
    seeding = Gateway(load_settings({"EDIGATE_HOME": str(home)}), immediate_jobs=True)
    seeded = seed_documents(seeding, seed_partners(seeding))
    with seeding.session() as s:
        admin = User.create("admin", PASSWORD, "admin")
        s.add(admin)
        s.flush()
        seeded.tokens["admin"] = issue_token(s, admin, "api-check")[1]
    seeding.close()
    gw = Gateway(load_settings({"EDIGATE_HOME": str(home)}))       # jobs go to the queue, no worker runs them
    app = create_app(gw, testing=False)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # a cursor as the list hands out (signed with the app's key): what a client passes back
        cursor = URLSafeSerializer(app.secret_key, salt=erp_api.CURSOR_SALT).dumps({"p": seeded.partners["buyer"],
                                                                                    "after": 0})
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}{OPENAPI}", seeded=seeded, cursor=cursor)
    finally:
        server.shutdown()
        thread.join(10)
        gw.close()


# Rules a JSON schema cannot state, answered 422 as documented ("well-formed but invalid values"):
# identifiers' check digits (SIRET, GLN…) and channel settings' templates and networks on a
# partner; the life cycle's "refused needs a reason" on a status. For these operations only, a
# schema-valid request may be refused with 422; everything else schemathesis checks stands.
SEMANTIC_422 = ("createPartner", "updatePartner", "setDocumentStatus",
                "changeControl",       # a threshold's name and bounds are the control's own (GET /controls)
                # an approval's decision is its awaited approver's (a reason code the invoice's cycle allows);
                # a delegate is a login of the caller's organisation; rules name its logins
                "decideApproval", "createApprovalDelegation", "putApprovalRules")


def _config(token: str, cursor: str, *, erp_partner: int | None = None, only: str | None = None) -> schemathesis.Config:
    """The run's settings, as a ``schemathesis.toml`` would give them. The ERP list's cursor is
    one the API issued (any other string is refused by its signature, which no schema can
    state); an admin's token names the partner it pulls for on the ERP routes."""
    # the first [[operations]] an operation matches applies to it
    partner = "" if erp_partner is None else f', "query.partner" = {erp_partner}'
    acting = "" if erp_partner is None else f"""
[[operations]]
include-path-regex = "^/erp/"
parameters = {{ "query.partner" = {erp_partner} }}
"""
    if only is not None:       # every other operation left out
        acting += f"""
[[operations]]
include-path-regex = '^(?!{only[1:]})'
enabled = false
"""
    semantic = ", ".join(f'"{o}"' for o in SEMANTIC_422)
    return schemathesis.Config.from_str(f"""
seed = {SEED}
headers = {{ Authorization = "Bearer {token}" }}

[generation]
max-examples = {EXAMPLES}
mode = "all"
database = "none"

[phases.stateful]
enabled = false

[[operations]]
include-operation-id = "erpListInvoices"
parameters = {{ "query.cursor" = "{cursor}"{partner} }}
{acting}
[[operations]]
include-operation-id = [{semantic}]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
""")


def check(schema) -> tuple[int, set[str], list[str]]:
    """Run schemathesis's engine (what ``schemathesis run`` runs: examples, coverage and fuzzing
    phases, every check) on ``schema``; the number of requests, the operations tested, and every
    problem found, described."""
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
                                        f"headers={ {k: v for k, v in (case.headers or {}).items() if k != 'Authorization'} } "
                                        f"body={str(case.body)[:300]}")
        elif isinstance(event, events.NonFatalError):
            problems.append(f"{event.label}: error: {event.info.message}")
        elif isinstance(event, events.FatalError):
            problems.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            problems += [f"{f.operation}: {f.title}: {f.message}" for f in event.failures]
    return requests, operations, problems


def test_the_api_keeps_its_description_for_an_admin(world) -> None:
    schema = schemathesis.openapi.from_url(world.url, config=_config(
        world.seeded.tokens["admin"], world.cursor, erp_partner=world.seeded.partners["buyer"]))
    requests, operations, problems = check(schema)
    assert not problems, "\n".join(sorted(set(problems)))
    # every operation but the description itself, which schemathesis loads rather than tests
    assert operations == ALL - {"GET /openapi.json"} and requests >= 34 * EXAMPLES, (sorted(ALL - operations), requests)


def test_the_api_keeps_its_description_for_a_recipient(world) -> None:
    schema = schemathesis.openapi.from_url(world.url, config=_config(world.seeded.tokens["buyer-user"], world.cursor,
                                                                     only=RECIPIENT_OPERATIONS))
    requests, operations, problems = check(schema)
    assert not problems, "\n".join(sorted(set(problems)))
    assert operations == {o for o in ALL if re.match(RECIPIENT_OPERATIONS, o.split(" ", 1)[1])} \
        and requests >= 12 * EXAMPLES, (sorted(operations), requests)
