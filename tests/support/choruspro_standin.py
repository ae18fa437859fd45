"""A STAND-IN for the PISTE gateway and the Chorus Pro API, for the choruspro channel's tests.

The real service cannot be reached from here, and no official description of it (PISTE
Swagger, AIFE external specifications) was at hand: this stand-in is built from the
second-hand notes of ``corpus/choruspro/NOTES.md`` and the open-source client they cite
(go-choruspro's structures and invoice search), i.e. the same names as
``gateway/channels/choruspro.yaml``. It is a real WSGI server on loopback:

* ``POST /api/oauth/token``: OAuth2 client credentials (form), a bearer token valid until
  ``expire_tokens()`` (``tokens_issued`` counts them, ``refused_401`` the calls refused);
* every API call: ``POST``, JSON, ``Authorization: Bearer …`` and the ``cpro-account``
  header (base64 of the technical account's ``login:password``), else 401 / 403;
* ``/cpro/factures/v1/deposer/flux`` (``fichierFlux`` base64, ``nomFichier``, ``syntaxeFlux``,
  ``avecSignature``) → ``numeroFluxDepot``; ``/cpro/transverses/v1/consulterCR`` and
  ``consulterCRDetaille`` (the flow's state, ``listeErreurDP``, ``listeErreurTechnique``);
  ``/cpro/factures/v1/rechercher/fournisseur`` (invoices of integrated flows, by
  ``numeroFluxDepot`` or ``numeroFacture``, with their ``statut``);
  ``/cpro/structures/v1/rechercher``, ``consulter``, ``rechercher/services``;
* ``down`` (503 to everything), ``stop()``/``start()`` (refused connections, same port),
  ``stall_after_store`` (keeps a deposit, then answers late: our timeout).

What our requests get wrong against the notes is kept in ``invalid`` (tests assert it empty).
"""
from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any, Callable, Optional
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

SYNTAXES = {"IN_DP_E1_UBL_INVOICE", "IN_DP_E1_CII_16B", "IN_DP_E2_UBL_INVOICE_MIN", "IN_DP_E2_CPP_FACTURE_MIN",
            "IN_DP_E2_CII_MIN_16B", "IN_DP_E2_CII_FACTURX", "IN_DP_E3_UBL_INVOICE"}
PENDING = "IN_EN_ATTENTE_TRAITEMENT"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class LoopbackService:
    """A WSGI app served on loopback that can be stopped and started again on the same port, or
    kept up but answering 503 (``down``); every request is counted in ``requests``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.down = False
        self.port: Optional[int] = None
        self.httpd: Optional[_Server] = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.httpd = make_server("127.0.0.1", self.port or 0, self, server_class=_Server, handler_class=_Quiet)
        self.port = self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        with self.lock:
            self.requests.append((method, path))
        if self.down:
            status, headers, out = json_answer("503 Service Unavailable", {"message": "service indisponible"})
        else:
            status, headers, out = self.answer(method, path, environ, body)
        start_response(status, headers)
        return [out]

    def answer(self, method: str, path: str, environ: dict, body: bytes) -> tuple[str, list, bytes]:
        raise NotImplementedError

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r == (method, path))


def json_answer(code: str, value: Any) -> tuple[str, list, bytes]:
    return code, [("Content-Type", "application/json")], json.dumps(value).encode("utf-8")


def bearer(environ: dict) -> Optional[str]:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    return auth[7:] if auth.startswith("Bearer ") else None


def invoice_number(data: bytes) -> Optional[str]:
    """The number of a UBL or CII invoice (its first ID under the root / ExchangedDocument)."""
    text = data[:200_000].decode("utf-8", "replace")
    m = re.search(r"<(?:\w+:)?ExchangedDocument>\s*<(?:\w+:)?ID>([^<]+)<", text) or \
        re.search(r"<cbc:ID>([^<]+)</cbc:ID>", text)
    return m.group(1).strip() if m else None


@dataclass
class Deposit:
    number: str                          # numeroFluxDepot
    data: bytes
    name: str
    syntax: str
    invoice: Optional[str]               # numeroFacture read from the file
    state: str = PENDING
    errors_dp: list[dict[str, Any]] = field(default_factory=list)
    errors_tech: list[dict[str, Any]] = field(default_factory=list)
    status: str = "DEPOSEE"
    comment: str = ""


@dataclass
class Structure:
    siret: str
    id: int
    service_required: bool = False
    commitment_required: bool = False
    services: tuple[str, ...] = ()


class ChorusProStandIn(LoopbackService):
    """See the module docstring."""

    def __init__(self, *, client_id: str = "piste-app", client_secret: str = "piste-secret",
                 login: str = "TECH_edigate@cpro.fr", password: str = "mot-de-passe-technique"):
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.account = base64.b64encode(f"{login}:{password}".encode()).decode()
        self.tokens: set[str] = set()
        self.tokens_issued = 0
        self.refused_401 = 0
        self.deposits: dict[str, Deposit] = {}
        self.structures: dict[str, Structure] = {}
        self.invalid: list[str] = []
        self.stall_after_store = 0.0

    @property
    def api(self) -> str:
        return self.base

    @property
    def token_url(self) -> str:
        return f"{self.base}/api/oauth/token"

    # --- what happens on Chorus Pro's side ------------------------------------------------------
    def add_structure(self, siret: str, *, service_required: bool = False, commitment_required: bool = False,
                      services: tuple[str, ...] = ()) -> None:
        self.structures[siret] = Structure(siret, 25_000_000 + len(self.structures), service_required,
                                           commitment_required, services)

    def integrate(self, number: str) -> None:
        self.deposits[number].state = "IN_INTEGRE"

    def reject(self, number: str, errors_dp: list[str], technical: list[tuple[str, str]] = ()) -> None:
        d = self.deposits[number]
        d.state = "IN_REJETE"
        d.errors_dp = [{"numeroDP": d.invoice, "identifiantFournisseur": "12345678200010",
                        "identifiantDestinataire": "11000201100044", "libelleErreurDP": text} for text in errors_dp]
        d.errors_tech = [{"codeErreur": c, "libelleErreur": t, "natureErreur": "REJET"} for c, t in technical]

    def set_status(self, number: str, status: str, comment: str = "") -> None:
        self.deposits[number].status, self.deposits[number].comment = status, comment

    def expire_tokens(self) -> None:
        """Every token given so far is refused from now on (expired early, revoked)."""
        self.tokens.clear()

    def deposited(self) -> int:
        return len(self.deposits)

    # --- the API ----------------------------------------------------------------------------------
    def answer(self, method: str, path: str, environ: dict, body: bytes) -> tuple[str, list, bytes]:
        if path == "/api/oauth/token":
            return self._token(body)
        if method != "POST":
            return json_answer("405 Method Not Allowed", {"message": "POST only"})
        token = bearer(environ)
        if token is None or token not in self.tokens:
            self.refused_401 += 1
            return json_answer("401 Unauthorized", {"message": "Invalid access token"})
        if environ.get("HTTP_CPRO_ACCOUNT") != self.account:
            return json_answer("403 Forbidden", {"codeRetour": 20001, "libelle": "compte technique invalide"})
        try:
            req = json.loads(body)
            assert isinstance(req, dict)
        except (ValueError, AssertionError):
            self.invalid.append(f"{path}: the body is not a JSON object")
            return json_answer("400 Bad Request", {"codeRetour": 1, "libelle": "requête invalide"})
        handler = {
            "/cpro/factures/v1/deposer/flux": self._deposit,
            "/cpro/transverses/v1/consulterCR": self._report,
            "/cpro/transverses/v1/consulterCRDetaille": self._report_detailed,
            "/cpro/factures/v1/rechercher/fournisseur": self._search_invoices,
            "/cpro/structures/v1/rechercher": self._search_structures,
            "/cpro/structures/v1/consulter": self._structure,
            "/cpro/structures/v1/rechercher/services": self._services,
        }.get(path)
        if handler is None:
            self.invalid.append(f"POST {path}: not a service of the notes")
            return json_answer("404 Not Found", {"message": "no such service"})
        return handler(req)

    def _token(self, body: bytes) -> tuple[str, list, bytes]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            self.invalid.append(f"token request without grant_type=client_credentials: {sorted(form)}")
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return json_answer("401 Unauthorized", {"error": "invalid_client"})
        token = uuid.uuid4().hex
        with self.lock:
            self.tokens.add(token)
            self.tokens_issued += 1
        return json_answer("200 OK", {"access_token": token, "token_type": "Bearer", "expires_in": 3600,
                                      "scope": form.get("scope", "")})

    def _deposit(self, req: dict) -> tuple[str, list, bytes]:
        problems = [f"deposer/flux: {k} missing" for k in ("fichierFlux", "nomFichier", "syntaxeFlux") if not req.get(k)]
        if req.get("syntaxeFlux") and req["syntaxeFlux"] not in SYNTAXES:
            problems.append(f"deposer/flux: syntaxeFlux {req['syntaxeFlux']!r} unknown")
        if not isinstance(req.get("avecSignature", False), bool):
            problems.append("deposer/flux: avecSignature is not a boolean")
        try:
            data = base64.b64decode(req.get("fichierFlux") or "", validate=True)
        except ValueError:
            problems.append("deposer/flux: fichierFlux is not base64")
            data = b""
        if problems:
            self.invalid.extend(problems)
            return json_answer("400 Bad Request", {"codeRetour": 1, "libelle": "; ".join(problems)})
        with self.lock:
            number = f"CPP{len(self.deposits) + 1:010d}"
            self.deposits[number] = Deposit(number, data, req["nomFichier"], req["syntaxeFlux"], invoice_number(data))
        if self.stall_after_store:
            time.sleep(self.stall_after_store)
        return json_answer("200 OK", {"codeRetour": 0, "libelle": "GCU_MSG_01_000", "numeroFluxDepot": number,
                                      "dateDepot": "2026-12-07", "syntaxeFlux": req["syntaxeFlux"]})

    def _flow(self, req: dict, service: str) -> Optional[Deposit]:
        number = req.get("numeroFluxDepot")
        if not number:
            self.invalid.append(f"{service}: numeroFluxDepot missing")
        return self.deposits.get(number)

    def _report(self, req: dict) -> tuple[str, list, bytes]:
        d = self._flow(req, "consulterCR")
        if d is None:
            return json_answer("200 OK", {"codeRetour": 20002, "libelle": "flux inconnu"})
        return json_answer("200 OK", {"codeRetour": 0, "libelle": "OK", "numeroFluxDepot": d.number,
                                      "nomFichierFlux": d.name, "dateDepotFlux": "2026-12-07",
                                      "etatCourantFlux": d.state, "codeInterfaceFlux": "FSO1100A",
                                      "fichierCR": base64.b64encode(b"%PDF-1.4 compte rendu").decode()})

    def _report_detailed(self, req: dict) -> tuple[str, list, bytes]:
        d = self._flow(req, "consulterCRDetaille")
        if d is None:
            return json_answer("200 OK", {"codeRetour": 20002, "libelle": "flux inconnu"})
        return json_answer("200 OK", {"codeRetour": 0, "libelle": "OK", "codeInterfaceDepotFlux": "FSO1100A",
                                      "dateDepotFlux": "2026-12-07", "etatCourantDepotFlux": d.state,
                                      "nomFichier": d.name, "listeErreurDP": d.errors_dp,
                                      "listeErreurTechnique": d.errors_tech})

    def _search_invoices(self, req: dict) -> tuple[str, list, bytes]:
        by_flow, by_number = req.get("numeroFluxDepot"), req.get("numeroFacture")
        if not by_flow and not by_number:
            self.invalid.append("rechercher/fournisseur: neither numeroFluxDepot nor numeroFacture")
        rows = [{"identifiantFactureCPP": 1000 + i, "numeroFacture": d.invoice, "numeroFluxDepot": d.number,
                 "statut": d.status, "commentaireEtatCourant": d.comment}
                for i, d in enumerate(self.deposits.values())
                if d.state == "IN_INTEGRE" and (not by_flow or d.number == by_flow)
                and (not by_number or d.invoice == by_number)]
        return json_answer("200 OK", {"codeRetour": 0, "libelle": "OK", "listeFactures": rows,
                                      "parametresRetour": {"total": len(rows), "pageCourante": 1, "pages": 1}})

    def _search_structures(self, req: dict) -> tuple[str, list, bytes]:
        criteria = req.get("structure") or {}
        if criteria.get("typeIdentifiantStructure") != "SIRET":
            self.invalid.append(f"rechercher structures: typeIdentifiantStructure {criteria.get('typeIdentifiantStructure')!r}")
        s = self.structures.get(criteria.get("identifiantStructure"))
        rows = [{"idStructureCPP": s.id, "identifiantStructure": s.siret, "typeIdentifiantStructure": "SIRET",
                 "designationStructure": "Acheteur public", "statut": "ACTIF"}] if s else []
        return json_answer("200 OK", {"codeRetour": 0, "libelle": "OK", "listeStructures": rows})

    def _by_id(self, sid: Any) -> Optional[Structure]:
        return next((s for s in self.structures.values() if s.id == sid), None)

    def _structure(self, req: dict) -> tuple[str, list, bytes]:
        s = self._by_id(req.get("idStructure"))
        if s is None:
            return json_answer("200 OK", {"codeRetour": 20003, "libelle": "structure inconnue"})
        return json_answer("200 OK", {"codeRetour": 0, "libelle": "OK",
                                      "informationGenerales": {"idStructureCPP": s.id, "identifiantStructure": s.siret},
                                      "parametres": {"codeServiceDoitEtreRenseigne": s.service_required,
                                                     "numeroEJDoitEtreRenseigne": s.commitment_required,
                                                     "gestionNumeroEJOuCodeService": False}})

    def _services(self, req: dict) -> tuple[str, list, bytes]:
        s = self._by_id(req.get("idStructure"))
        rows = [{"idService": i, "codeService": c, "libelleService": c, "estActif": True}
                for i, c in enumerate(s.services if s else ())]
        return json_answer("200 OK", {"codeRetour": 0, "libelle": "OK", "listeServices": rows})
