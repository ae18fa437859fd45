"""Why a Peppol participant could not be reached: one reason, coded, in English and French.

Discovery never answers "no" without saying why: the reason goes on the
document's record and to the operator. ``final`` tells routing whether
asking again later can change the answer (a DNS time-out can; a participant
the SML does not know cannot until someone registers it, so that is final
for the cache's negative time).
"""
from __future__ import annotations

from dataclasses import dataclass

from gateway.model.errors import EdigateError

# code -> (final, French wording); the English reason is written where the refusal is made.
CODES = {
    "bad_identifier": (True, "identifiant Peppol invalide"),
    "not_registered": (True, "participant inconnu du SML (aucun enregistrement DNS)"),
    "dns_failed": (False, "échec de la résolution DNS du SML"),
    "timeout": (False, "délai dépassé pendant la recherche du participant"),
    "forbidden_address": (True, "adresse privée ou réservée refusée"),
    "smp_unreachable": (False, "SMP injoignable"),
    "smp_error": (False, "le SMP a répondu par une erreur"),
    "not_found": (True, "le SMP ne publie pas ce service pour ce participant"),
    "bad_answer": (True, "réponse du SMP illisible ou non conforme"),
    "bad_signature": (True, "signature de la réponse du SMP invalide (réponse altérée ?)"),
    "untrusted_signer": (True, "certificat de signature du SMP non reconnu"),
    "no_trust_anchor": (True, "aucune autorité de confiance configurée pour les SMP"),
    "no_endpoint": (True, "aucun point d'accès pour ce document, ce processus et ce profil de transport"),
    "not_active": (True, "le service du participant n'est pas (ou plus) actif"),
}


@dataclass(frozen=True)
class Refusal:
    """Discovery's "no", with the reason (``code`` from ``CODES``)."""
    code: str
    reason: str

    @property
    def final(self) -> bool:
        return CODES.get(self.code, (False, ""))[0]

    @property
    def reason_fr(self) -> str:
        return CODES.get(self.code, (False, self.code))[1]

    def __str__(self) -> str:
        return self.reason


class DiscoveryError(EdigateError):
    """Raised inside discovery; ``find_endpoint`` turns it into a ``Refusal``."""

    def __init__(self, code: str, reason: str):
        if code not in CODES:
            raise ValueError(f"unknown refusal code {code}")
        super().__init__(reason)
        self.code, self.reason = code, reason

    @property
    def refusal(self) -> Refusal:
        return Refusal(self.code, self.reason)
