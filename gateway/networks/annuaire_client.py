"""The PPF directory (annuaire) API, as its published OpenAPI 1.11.0 describes it.

Three calls are used (``ppf-openapi-annuaire-api-public``, tag *Ligne annuaire*):

* ``POST /ligne-annuaire/recherche``: directory lines, a page at a time
  (``limite`` lines from ``ignorer``; the answer's ``resultats`` and
  ``nombre_total_resultats``; 206 when the server shortened the page, 204 when
  there is nothing). ``pages()`` reads them page by page, never more than
  ``max_pages`` pages nor ``max_lines`` lines nor ``page_bytes`` per page: a
  server answering for ever, or too much, is stopped with ``AnnuaireError``.
* ``GET /ligne-annuaire/code:{identifiant-adressage}``: one line.
* ``POST /ligne-annuaire``: a new line (``informationAdressage`` naming the
  SIREN, SIRET, routing code or suffix and the platform's
  ``matriculePlateforme``; ``periodeEffet.dateDebutEffet``); 201 gives its
  ``idInstance``.

Authentication is a bearer token from OAuth2 client credentials (PISTE), kept
and renewed by ``gateway.transports.oauth2``. ``line_of`` turns one result into
a ``DirectoryLine``, checking what routing relies on (the SIREN, SIRET, routing
code and suffix patterns of the OpenAPI, the 4-digit matricule, the dates).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterator, Optional
from urllib.parse import quote

from gateway.model.addressing import FR_ADDRESS, french_address
from gateway.model.errors import EdigateError
from gateway.model.identifiers import normalise_identifier
from gateway.transports.oauth2 import Answer, ClientCredentials, HttpError, OAuth2Client

SEARCH = "/ligne-annuaire/recherche"
CREATE = "/ligne-annuaire"
ONE = "/ligne-annuaire/code:{}"
LANGUAGE = "fr"                          # Accept-Language: the API's default, its messages in French
LINE_BYTES = 16 * 1024                   # room per line in a page's answer (with its included relations)
ONE_LINE_BYTES = 256 * 1024
# the OpenAPI's own patterns (identifiantRoutage, suffixeAdressage)
ROUTING_CODE = re.compile(r"^[-_/@a-zA-Z0-9]{1,100}$")
SUFFIX = re.compile(r"^[-_.@a-zA-Z0-9]{1,100}$")


class AnnuaireError(EdigateError):
    """The annuaire gave no usable answer; ``retryable``: worth trying again later."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.message, self.retryable = message, retryable


@dataclass(frozen=True)
class DirectoryLine:
    """One line of the directory, checked; ``address`` is the line as a 0225 address, normalised."""
    siren: str
    platform_id: str
    siret: Optional[str] = None
    routing_code: Optional[str] = None
    suffix: Optional[str] = None
    platform_name: Optional[str] = None
    platform_type: Optional[str] = None
    starts_on: Optional[date] = None
    ends_on: Optional[date] = None
    id_instance: Optional[int] = None
    addressing_id: Optional[str] = None

    @property
    def label(self) -> str:
        if self.siret:
            return "_".join(p for p in (self.siren, self.siret, self.routing_code) if p)
        return "_".join(p for p in (self.siren, self.suffix) if p)

    @property
    def address(self) -> str:
        return normalise_identifier(FR_ADDRESS, self.label)[1]


@dataclass(frozen=True)
class Created:
    """What ``POST /ligne-annuaire`` answered: the new line's ``idInstance`` and its identifier."""
    id_instance: Optional[int]
    addressing_id: Optional[str]
    starts_on: Optional[str]


@dataclass(frozen=True)
class Refused:
    """The annuaire refused a request: its status and its own words (``erreur``: titre, detail)."""
    status: int
    text: str

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.text}"


# --- reading lines ---------------------------------------------------------------------------

def _text(value: Any, what: str, *, required: bool = False, limit: int = 200) -> Optional[str]:
    if value is None or value == "":
        if required:
            raise ValueError(f"no {what}")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} {str(value)[:40]!r} is not text")
    if len(value) > limit:
        raise ValueError(f"{what} longer than {limit} characters")
    return value.strip()


def _date(value: Any, what: str) -> Optional[date]:
    text = _text(value, what, limit=40)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a date (YYYY-MM-DD)") from None


def line_of(raw: Any) -> Optional[DirectoryLine]:
    """A result of the search as a ``DirectoryLine``; None for a masked line (``masque``: the data
    may not be used); ``ValueError`` saying what is wrong with it."""
    if not isinstance(raw, dict):
        raise ValueError(f"a directory line is an object, not {type(raw).__name__}")
    history = raw.get("historisation") if isinstance(raw.get("historisation"), dict) else {}
    if history.get("masque") is True:
        return None
    platform = raw.get("plateforme") if isinstance(raw.get("plateforme"), dict) else {}
    routing = raw.get("codeRoutage") if isinstance(raw.get("codeRoutage"), dict) else {}
    siren = _text(raw.get("siren"), "siren", required=True, limit=9)
    siret = _text(raw.get("siret"), "siret", limit=14)
    code = _text(raw.get("identifiantRoutage") or routing.get("identifiantRoutage"), "identifiantRoutage", limit=100)
    suffix = _text(raw.get("suffixeAdressage"), "suffixeAdressage", limit=100)
    if code and not siret:
        raise ValueError(f"line of SIREN {siren}: a routing code ({code}) without a SIRET")
    if suffix and siret:
        raise ValueError(f"line of SIREN {siren}: both a SIRET and a suffix")
    if not (siren.isascii() and siren.isdigit() and len(siren) == 9):
        raise ValueError(f"siren {siren!r} is not a SIREN of 9 digits")
    if siret and not (siret.isascii() and siret.isdigit() and len(siret) == 14):
        raise ValueError(f"line of SIREN {siren}: siret {siret!r} is not a SIRET of 14 digits")
    if code and not ROUTING_CODE.match(code):
        raise ValueError(f"line of SIREN {siren}: identifiantRoutage {code[:40]!r} is not 1 to 100 of "
                         "A-Z a-z 0-9 - _ / @")
    if suffix and not SUFFIX.match(suffix):
        raise ValueError(f"line of SIREN {siren}: suffixeAdressage {suffix[:40]!r} is not 1 to 100 of "
                         "A-Z a-z 0-9 - _ . @")
    label = "_".join(p for p in ((siren, siret, code) if siret else (siren, suffix)) if p)
    french_address(label)                                   # the OpenAPI's patterns; ValueError says which
    matricule = _text(raw.get("matriculePlateforme") or platform.get("matriculePlateforme"),
                      "matriculePlateforme", required=True, limit=4)
    if not (matricule.isascii() and matricule.isdigit() and len(matricule) == 4):
        raise ValueError(f"line {label}: matriculePlateforme {matricule!r} is not 4 digits")
    name = (_text(platform.get("nomCommercialPlateforme"), "nomCommercialPlateforme")
            or _text(platform.get("raisonSocialePlateforme"), "raisonSocialePlateforme"))
    kind = _text(platform.get("typePlateforme"), "typePlateforme", limit=3)
    starts = _date(history.get("dateDebutEffet") or raw.get("dateDebutEffet"), "dateDebutEffet")
    ends = [d for d in (_date(raw.get("dateFinEffet"), "dateFinEffet"),
                        _date(raw.get("dateFinEffective"), "dateFinEffective")) if d is not None]
    instance = history.get("idInstance", raw.get("idInstance"))
    if instance is not None and (not isinstance(instance, int) or isinstance(instance, bool)
                                 or not 0 <= instance < 2 ** 63):
        raise ValueError(f"line {label}: idInstance {str(instance)[:30]!r} is not a whole number")
    return DirectoryLine(siren=siren, siret=siret, routing_code=code, suffix=suffix, platform_id=matricule,
                         platform_name=name, platform_type=kind, starts_on=starts, ends_on=min(ends) if ends else None,
                         id_instance=instance,
                         addressing_id=_text(raw.get("identifiantAdressage"), "identifiantAdressage", limit=125))


def refusal(answer: Answer) -> Refused:
    """The API's own words for a refusal (``erreur``: titre, detail), else an excerpt of the body."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [str(body[k])[:500] for k in ("titre", "detail") if isinstance(body.get(k), str) and body[k].strip()]
        if parts:
            return Refused(answer.status, ": ".join(parts))
    return Refused(answer.status, answer.excerpt() or "(no explanation given)")


# --- the client ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    number: int                 # 1-based
    lines: list[Any]            # the results as sent (``line_of`` reads each)
    total: Optional[int]        # nombre_total_resultats, when sent


class AnnuaireClient:
    """The annuaire API at ``base_url`` (``…/ppf/annuaire-public/v1``) through ``oauth``."""

    def __init__(self, base_url: str, oauth: OAuth2Client, *, allow_private: bool = False):
        self.base_url, self.oauth, self.allow_private = base_url.rstrip("/"), oauth, allow_private

    @classmethod
    def from_settings(cls, settings: Any) -> "AnnuaireClient":
        """From the EDIGATE_ANNUAIRE_* settings; ``AnnuaireError`` when the feature is off."""
        if not settings.annuaire_url:
            raise AnnuaireError("the annuaire is not configured (EDIGATE_ANNUAIRE_URL is not set)", retryable=False)
        oauth = OAuth2Client(ClientCredentials(settings.annuaire_token_url, settings.annuaire_client_id,
                                               settings.annuaire_client_secret,
                                               allow_private=settings.annuaire_allow_private))
        return cls(settings.annuaire_url, oauth, allow_private=settings.annuaire_allow_private)

    def __repr__(self) -> str:
        return f"<AnnuaireClient {self.base_url}>"

    def _call(self, method: str, path: str, *, max_bytes: int, **kwargs: Any) -> Answer:
        try:
            return self.oauth.request(method, self.base_url + path, max_bytes=max_bytes,
                                      headers={"Accept": "application/json", "Accept-Language": LANGUAGE}, **kwargs)
        except HttpError as e:
            raise AnnuaireError(e.message, retryable=e.retryable) from None

    def pages(self, *, page_size: int, max_pages: int, max_lines: int,
              filters: Optional[dict[str, Any]] = None) -> Iterator[Page]:
        """Every directory line (matching ``filters``), a page at a time, in a stable order."""
        offset, seen = 0, 0
        page_bytes = max(1024 * 1024, page_size * LINE_BYTES)
        for number in range(1, max_pages + 2):
            if number > max_pages:
                raise AnnuaireError(f"more than {max_pages} pages of {page_size} lines ({seen:,} lines read): "
                                    "stopped (EDIGATE_ANNUAIRE_MAX_PAGES)", retryable=False)
            body: dict[str, Any] = {"tris": [{"champ": "identifiantAdressage", "ordre": "ascendant"}],
                                    "limite": page_size, "ignorer": offset}
            if filters:
                body["filtres"] = filters
            answer = self._call("POST", SEARCH, max_bytes=page_bytes, json=body)
            if answer.status == 204:
                return
            if answer.status not in (200, 206):
                refused = refusal(answer)
                raise AnnuaireError(f"{SEARCH} (page {number}): {refused}",
                                    retryable=answer.status >= 500 or answer.status in (401, 408, 429))
            try:
                data = answer.json()
            except ValueError as e:
                raise AnnuaireError(f"{SEARCH} (page {number}): {e}", retryable=False) from None
            results = data.get("resultats") if isinstance(data, dict) else None
            if not isinstance(results, list):
                raise AnnuaireError(f"{SEARCH} (page {number}): no list of results (\"resultats\") in the answer",
                                    retryable=False)
            total = data.get("nombre_total_resultats")
            total = total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None
            if not results:
                return
            seen += len(results)
            if seen > max_lines:
                raise AnnuaireError(f"more than {max_lines:,} lines: stopped at page {number} "
                                    "(EDIGATE_ANNUAIRE_MAX_LINES)", retryable=False)
            yield Page(number, results, total)
            offset += len(results)
            if total is not None and offset >= total:
                return
            if answer.status == 200 and len(results) < page_size:
                return

    def line(self, address: str) -> Optional[Any]:
        """The line ``address`` (identifiantAdressage) as the API gives it, None when it has none."""
        answer = self._call("GET", ONE.format(quote(address, safe="")), max_bytes=ONE_LINE_BYTES,
                            params={"inclure": "plateforme"})
        if answer.status in (204, 404):
            return None
        if answer.status != 200:
            raise AnnuaireError(f"{ONE.format(address)}: {refusal(answer)}", retryable=answer.status >= 500)
        try:
            return answer.json()
        except ValueError as e:
            raise AnnuaireError(f"{ONE.format(address)}: {e}", retryable=False) from None

    def create(self, line: DirectoryLine, starts_on: date) -> Created | Refused:
        """``POST /ligne-annuaire``: the line, naming ``line.platform_id``, in effect from ``starts_on``."""
        info: dict[str, Any] = {"siren": line.siren, "matriculePlateforme": line.platform_id}
        for key, value in (("siret", line.siret), ("identifiantRoutage", line.routing_code),
                           ("suffixeAdressage", line.suffix)):
            if value:
                info[key] = value
        body = {"periodeEffet": {"dateDebutEffet": starts_on.isoformat()}, "informationAdressage": info}
        answer = self._call("POST", CREATE, max_bytes=ONE_LINE_BYTES, json=body)
        if answer.status not in (200, 201):
            return refusal(answer)
        try:
            data = answer.json()
        except ValueError:
            data = None
        data = data if isinstance(data, dict) else {}
        instance = data.get("idInstance")
        return Created(instance if isinstance(instance, int) and not isinstance(instance, bool) else None,
                       data.get("identifiantAdressage") if isinstance(data.get("identifiantAdressage"), str) else None,
                       data.get("dateDebutEffet") if isinstance(data.get("dateDebutEffet"), str) else None)
