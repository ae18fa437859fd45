"""A stand-in of the PPF directory (annuaire) API, on loopback, for the tests.

The real PPF service cannot be reached from here (it sits behind PISTE, with
accounts given to certified platforms), so this is a **stand-in built from the
published description**: ``ppf-openapi-annuaire-api-public`` 1.11.0 (the
OpenAPI file of the shared corpus, fr/annuaire/). It serves, with that file's
exact field names and shapes:

* ``POST /ligne-annuaire/recherche`` (``searchLigneAnnuaire``: ``filtres``,
  ``tris``, ``limite``, ``ignorer``) answering
  ``{"recherche", "nombre_total_resultats", "resultats": [ligneAnnuairePayloadHistoUleEtaRou…]}``,
  200, 206 when it shortened the page (``max_page``), 204 when nothing matches;
* ``GET /ligne-annuaire/code:{identifiant-adressage}``;
* ``POST /ligne-annuaire`` (``createLigneAnnuaireBody``) answering 201
  ``{"idInstance", "identifiantAdressage", "dateDebutEffet"}``, errors as ``erreur``
  (``type``, ``titre``, ``statut``, ``detail``) in ``application/problem+json``;
* ``GET /healthcheck``;

under a base path like the real one (``/ppf/annuaire-public/v1``), with
bearer authentication, and an OAuth2 token endpoint (client credentials, as
PISTE gives them) at ``/oauth/token`` whose tokens expire (``token_lifetime``,
or all at once with ``expire_tokens()``): an expired or unknown token gets 401.

It can be told to fail: ``down()`` / ``up()`` (the port closed, then open
again), ``fail = "500"`` (every API call answers 500), ``"malformed"``
(answers that are not JSON), ``"endless"`` (every page full, whatever the
offset, and a total that never ends), ``"oversized"`` (a page whose body never
ends, sent without a length). ``openapi`` (the file's parsed JSON, when the tests have it)
makes it check each request body against the description and answer 400 when
one does not match (and keep the problem in ``request_problems``). ``pause_at``
holds a search from that offset on until ``resume`` is set (``paused`` says it
got there): a refresh can be caught half done.

The identifiantAdressage of a line is the line as a 0225 address
(``SIREN``, ``SIREN_SIRET``, ``SIREN_SIRET_code``, ``SIREN_suffix``).
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Optional

from flask import Flask, Response, request
from werkzeug.serving import WSGIRequestHandler, make_server

BASE = "/ppf/annuaire-public/v1"
TOKEN_PATH = "/oauth/token"
PROBLEM = "application/problem+json"


@dataclass
class StandInLine:
    """A line as the stand-in keeps it (what POST /ligne-annuaire created, or a test put there)."""
    siren: str
    matricule: str
    siret: Optional[str] = None
    routing_code: Optional[str] = None
    suffix: Optional[str] = None
    starts: str = "2026-09-01"
    ends: Optional[str] = None
    ends_effective: Optional[str] = None
    platform_name: Optional[str] = None
    platform_type: str = "PDP"
    masked: bool = False
    id_instance: int = 0

    @property
    def address(self) -> str:
        parts = (self.siren, self.siret, self.routing_code) if self.siret else (self.siren, self.suffix)
        return "_".join(p for p in parts if p)

    def payload(self) -> dict[str, Any]:
        """ligneAnnuairePayloadHistoUleEtaRou: only fields with a value (none of them is nullable
        but dateFinEffet)."""
        out: dict[str, Any] = {"identifiantAdressage": self.address, "siren": self.siren,
                               "matriculePlateforme": self.matricule}
        if self.siret:
            out["siret"] = self.siret
        if self.routing_code:
            out["identifiantRoutage"] = self.routing_code
            out["codeRoutage"] = {"identifiantRoutage": self.routing_code, "etatAdministratif": "A"}
        if self.suffix:
            out["suffixeAdressage"] = self.suffix
        if self.ends:
            out["dateFinEffet"] = self.ends
        if self.ends_effective:
            out["dateFinEffective"] = self.ends_effective
        out["historisation"] = {"dateDefinition": f"{self.starts}T00:00:00Z", "dateDebutEffet": self.starts,
                                "creePar": "stand-in", "masque": self.masked, "idInstance": self.id_instance}
        platform = {"typePlateforme": self.platform_type, "matriculePlateforme": self.matricule,
                    "statutPlateforme": "Actif"}
        if self.platform_name:
            platform["raisonSocialePlateforme"] = self.platform_name
            platform["nomCommercialPlateforme"] = self.platform_name
        out["plateforme"] = platform
        return out


@dataclass
class Hit:
    method: str
    path: str
    token: Optional[str]
    status: int
    body: Any = None


class PpfAnnuaire:
    """The stand-in, running: ``url`` (the API's base), ``token_url``; ``lines`` it answers from;
    ``hits`` every request; ``fail`` as above; ``refuse[siren] = (status, detail)`` refuses a creation."""

    def __init__(self, *, client_id: str = "edigate", client_secret: str = "s3cret-annuaire",
                 token_lifetime: int = 3600, max_page: int = 1000, openapi: Optional[dict] = None):
        self.client_id, self.client_secret = client_id, client_secret
        self.token_lifetime, self.max_page, self.openapi = token_lifetime, max_page, openapi
        self.lines: list[StandInLine] = []
        self.tokens: dict[str, float] = {}           # token -> expiry (monotonic)
        self.tokens_issued = 0
        self.hits: list[Hit] = []
        self.fail: Optional[str] = None
        self.refuse: dict[str, tuple[int, str]] = {}
        self.request_problems: list[str] = []
        # pause_at: a search from this offset on waits (``paused`` set) until ``resume`` is set
        self.pause_at: Optional[int] = None
        self.paused, self.resume = threading.Event(), threading.Event()
        self._next_instance = 1000
        self._lock = threading.Lock()
        self.app = self._make_app()
        self._server = None
        self._thread = None
        self.port = 0
        self.up()

    # --- running --------------------------------------------------------------------------------
    def up(self) -> None:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True, request_handler=_Quiet)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    close = down

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.root + BASE

    @property
    def token_url(self) -> str:
        return self.root + TOKEN_PATH

    def env(self, **more: str) -> dict[str, str]:
        """The EDIGATE_* settings that point a gateway here."""
        return {"EDIGATE_ANNUAIRE_URL": self.url, "EDIGATE_ANNUAIRE_TOKEN_URL": self.token_url,
                "EDIGATE_ANNUAIRE_CLIENT_ID": self.client_id, "EDIGATE_ANNUAIRE_CLIENT_SECRET": self.client_secret,
                "EDIGATE_ANNUAIRE_ALLOW_PRIVATE": "true", **more}

    # --- data -------------------------------------------------------------------------------------
    def add(self, siren: str, matricule: str, **kw: Any) -> StandInLine:
        with self._lock:
            self._next_instance += 1
            line = StandInLine(siren, matricule, id_instance=self._next_instance, **kw)
            self.lines.append(line)
        return line

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self.tokens:
                self.tokens[token] = 0.0

    def calls(self, method: str, path: str) -> list[Hit]:
        return [h for h in self.hits if h.method == method and h.path == BASE + path]

    # --- the app ----------------------------------------------------------------------------------
    def _problem(self, status: int, title: str, detail: str) -> Response:
        body = {"type": "about:blank", "titre": title, "statut": status, "detail": detail,
                "instance": request.path}
        return Response(json.dumps(body, ensure_ascii=False), status=status, content_type=PROBLEM)

    def _check(self, body: Any, schema_name: str) -> Optional[str]:
        if self.openapi is None:
            return None
        import jsonschema
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": self.openapi["components"]}
        errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(body), key=lambda e: list(e.path))
        if errors:
            problem = f"{schema_name}: {errors[0].message} at {list(errors[0].path)}"
            self.request_problems.append(problem)
            return problem
        return None

    def _make_app(self) -> Flask:
        app = Flask("ppf_annuaire_stand_in")
        standin = self

        @app.after_request
        def record(response: Response) -> Response:
            token = request.headers.get("Authorization", "")[7:] or None
            body = request.get_json(silent=True) if request.is_json else None
            standin.hits.append(Hit(request.method, request.path, token, response.status_code, body))
            return response

        @app.post(TOKEN_PATH)
        def token() -> Response:
            form = request.form
            cid, secret = form.get("client_id"), form.get("client_secret")
            if request.authorization is not None:
                cid, secret = request.authorization.username, request.authorization.password
            if form.get("grant_type") != "client_credentials":
                return Response(json.dumps({"error": "unsupported_grant_type"}), 400, content_type="application/json")
            if cid != standin.client_id or secret != standin.client_secret:
                return Response(json.dumps({"error": "invalid_client", "error_description": "Bad client credentials"}),
                                401, content_type="application/json")
            value = secrets.token_urlsafe(24)
            with standin._lock:
                standin.tokens[value] = time.monotonic() + standin.token_lifetime
                standin.tokens_issued += 1
            return Response(json.dumps({"access_token": value, "token_type": "Bearer",
                                        "expires_in": standin.token_lifetime, "scope": "openid"}),
                            200, content_type="application/json")

        @app.before_request
        def authenticate() -> Optional[Response]:
            if request.path == TOKEN_PATH:
                return None
            if not request.path.startswith(BASE):
                return standin._problem(404, "Non trouvée", f"no resource at {request.path}")
            auth = request.headers.get("Authorization", "")
            expiry = standin.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
            if expiry is None or expiry <= time.monotonic():
                return standin._problem(401, "Non autorisé", "jeton absent, inconnu ou expiré")
            if standin.fail == "500":
                return standin._problem(500, "Erreur interne du serveur", "stand-in told to fail")
            if standin.fail == "malformed":
                return Response("<html>Service indisponible</html>", 200, content_type="application/json")
            return None

        @app.get(BASE + "/healthcheck")
        def health() -> Response:
            return Response("", 200)

        @app.post(BASE + "/ligne-annuaire/recherche")
        def search() -> Response:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return standin._problem(400, "Mauvaise requête", "corps JSON attendu")
            if standin.pause_at is not None and (body.get("ignorer") or 0) >= standin.pause_at:
                standin.paused.set()
                standin.resume.wait(60)
            problem = standin._check(body, "searchLigneAnnuaire")
            if problem:
                return standin._problem(400, "Mauvaise requête", problem)
            limit = body.get("limite", 50)
            offset = body.get("ignorer", 0)
            if standin.fail == "endless":
                lines = [StandInLine("732829320", "0042", id_instance=offset + i + 1).payload() for i in range(limit)]
                return _json({"recherche": body, "nombre_total_resultats": 2 ** 31 - 1, "resultats": lines}, 200)
            if standin.fail == "oversized":
                line = json.dumps(StandInLine("732829320", "0042", platform_name="x" * 100).payload()).encode()

                def endless_body():             # no Content-Length, and no end: only the reader's cap stops it
                    yield b'{"nombre_total_resultats": 1, "resultats": [' + line
                    while True:
                        yield (b"," + line) * 64
                return Response(endless_body(), 200, content_type="application/json")
            found = [ln for ln in standin._sorted(body) if _matches(ln, body.get("filtres") or {})]
            if not found:
                return Response("", 204)
            page = found[offset:offset + min(limit, standin.max_page)]
            status = 206 if limit > standin.max_page and len(found) > offset + len(page) else 200
            return _json({"recherche": body, "nombre_total_resultats": len(found),
                          "resultats": [ln.payload() for ln in page]}, status)

        @app.get(BASE + "/ligne-annuaire/code:<path:identifiant>")
        def one(identifiant: str) -> Response:
            for ln in standin.lines:
                if ln.address == identifiant:
                    return _json(ln.payload(), 200)
            return standin._problem(404, "Non trouvée", f"aucune ligne d'annuaire {identifiant}")

        @app.post(BASE + "/ligne-annuaire")
        def create() -> Response:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return standin._problem(400, "Mauvaise requête", "corps JSON attendu")
            problem = standin._check(body, "createLigneAnnuaireBody")
            info = body.get("informationAdressage") or {}
            period = body.get("periodeEffet") or {}
            if problem or not info.get("siren") or not info.get("matriculePlateforme") \
                    or not period.get("dateDebutEffet"):
                return standin._problem(400, "Mauvaise requête",
                                        problem or "siren, matriculePlateforme et dateDebutEffet sont obligatoires")
            if info["siren"] in standin.refuse:
                status, detail = standin.refuse[info["siren"]]
                return standin._problem(status, "Erreur de validation des données", detail)
            candidate = StandInLine(info["siren"], info["matriculePlateforme"], siret=info.get("siret"),
                                    routing_code=info.get("identifiantRoutage"), suffix=info.get("suffixeAdressage"),
                                    starts=period["dateDebutEffet"], ends=period.get("dateFinEffet"))
            if candidate.siret and not candidate.siret.startswith(candidate.siren):
                return standin._problem(422, "Erreur de validation des données",
                                        f"le SIRET {candidate.siret} n'appartient pas au SIREN {candidate.siren}")
            for ln in standin.lines:
                if ln.address == candidate.address and ln.ends is None:
                    return standin._problem(409, "Conflit", f"la ligne d'annuaire {candidate.address} existe déjà "
                                                            f"(idInstance {ln.id_instance})")
            with standin._lock:
                standin._next_instance += 1
                candidate.id_instance = standin._next_instance
                standin.lines.append(candidate)
            return _json({"idInstance": candidate.id_instance, "identifiantAdressage": candidate.address,
                          "dateDebutEffet": candidate.starts}, 201)

        return app

    def _sorted(self, body: dict) -> list[StandInLine]:
        lines = list(self.lines)
        for tri in reversed(body.get("tris") or []):
            if tri.get("champ") == "identifiantAdressage":
                lines.sort(key=lambda ln: ln.address, reverse=tri.get("ordre") == "descendant")
        return lines


class _Quiet(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:     # noqa: A002 - werkzeug's name
        pass


def _json(data: Any, status: int) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, content_type="application/json")


def _matches(line: StandInLine, filters: dict) -> bool:
    """The filters of searchLigneAnnuaire: {"champ": {"op": "strict"|"contient", "valeur": …}}."""
    values = {"siren": line.siren, "siret": line.siret, "identifiantRoutage": line.routing_code,
              "suffixeAdressage": line.suffix, "matriculePlateforme": line.matricule,
              "identifiantAdressage": line.address}
    for name, test in filters.items():
        if name not in values or not isinstance(test, dict):
            continue
        have, want = values[name] or "", str(test.get("valeur", ""))
        if (test.get("op") == "contient" and want not in have) or (test.get("op") != "contient" and have != want):
            return False
    return True


def today() -> str:
    return date.today().isoformat()


@dataclass
class OpenApi:
    """The published description, read by path, and validators for its schemas."""
    document: dict = field(default_factory=dict)

    def validator(self, schema: dict):
        import jsonschema
        return jsonschema.Draft4Validator({**schema, "components": self.document["components"]})

    def errors(self, instance: Any, schema: dict) -> list[str]:
        return [f"{e.message} at {list(e.path)}" for e in self.validator(schema).iter_errors(instance)]

    def response_schema(self, path: str, method: str, status: str) -> dict:
        answer = self.document["paths"][path][method]["responses"][status]
        return answer["content"]["application/json"]["schema"]
