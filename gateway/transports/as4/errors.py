"""ebMS 3 errors (Core §6.7) and the Peppol one, as data: what we answer a refused message with.

Each code has its short description, category and severity as the specification
lists them, and a French label for the people who read the exchange's history.
``As4Refusal`` carries one out of the receiving code; ``inbound`` turns it into
an Error signal (``signals.error_signal``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

# code -> (short description, category, severity, meaning, French)
CODES: dict[str, tuple[str, str, str, str, str]] = {
    "EBMS:0001": ("ValueNotRecognized", "Content", "failure", "an element content or attribute value is not recognized",
                  "valeur non reconnue"),
    "EBMS:0002": ("FeatureNotSupported", "Content", "warning", "a feature is not supported by this MSH",
                  "fonction non prise en charge"),
    "EBMS:0003": ("ValueInconsistent", "Content", "failure",
                  "a value is inconsistent with other values, with the processing mode, or with ebMS",
                  "valeur incohérente"),
    "EBMS:0004": ("Other", "Content", "failure", "an error not covered by another code",
                  "autre erreur"),
    "EBMS:0005": ("ConnectionFailure", "Communication", "failure", "the MSH cannot be reached",
                  "échec de connexion"),
    "EBMS:0007": ("MimeInconsistency", "Unpackaging", "failure", "the MIME packaging is not what the header says",
                  "incohérence MIME"),
    "EBMS:0008": ("FeatureNotSupported", "Unpackaging", "failure", "a packaging feature is not supported",
                  "conditionnement non pris en charge"),
    "EBMS:0009": ("InvalidHeader", "Unpackaging", "failure", "the ebMS header is missing or not readable",
                  "en-tête ebMS invalide"),
    "EBMS:0010": ("ProcessingModeMismatch", "Processing", "failure",
                  "the message does not match the processing mode (service, action, agreement, party)",
                  "ne correspond pas au mode de traitement"),
    "EBMS:0101": ("FailedAuthentication", "Processing", "failure",
                  "the signature could not be validated against the sender's certificate",
                  "signature invalide ou expéditeur non authentifié"),
    "EBMS:0102": ("FailedDecryption", "Processing", "failure", "the payload could not be decrypted",
                  "déchiffrement impossible"),
    "EBMS:0103": ("PolicyNoncompliance", "Processing", "failure",
                  "the security of the message is not what the processing mode requires",
                  "sécurité non conforme à la politique"),
    "EBMS:0202": ("DeliveryFailure", "Communication", "failure",
                  "the message could not be delivered (stored) by the receiving MSH",
                  "échec de remise"),
    "EBMS:0301": ("MissingReceipt", "Communication", "failure", "no receipt came for a message",
                  "accusé de réception manquant"),
    "EBMS:0302": ("InvalidReceipt", "Communication", "failure", "a receipt could not be verified",
                  "accusé de réception invalide"),
    "EBMS:0303": ("DecompressionFailure", "Communication", "failure", "a payload could not be decompressed",
                  "échec de décompression"),
}

#: Peppol AS4 profile: a recipient the receiving access point does not serve (sent as EBMS:0004).
PEPPOL_NOT_SERVICED = "PEPPOL:NOT_SERVICED"

#: Errors a sender may retry with the same MessageId (the receiver could not store it, or lost the line).
RETRYABLE = frozenset({"EBMS:0005", "EBMS:0202"})


def short(code: str) -> str:
    return CODES.get(code, ("Other",))[0]


def french(code: str) -> str:
    return CODES.get(code, ("", "", "", "", "erreur"))[4]


@dataclass
class As4Refusal(Exception):
    """A message we will not take: the ebMS error code and what exactly was wrong."""
    code: str
    detail: str
    description: Optional[str] = None       # e.g. PEPPOL:NOT_SERVICED

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown ebMS error code {self.code}")
        super().__init__(f"{self.code} {short(self.code)}: {self.detail}")

    def __str__(self) -> str:
        return f"{self.code} {short(self.code)}: {self.detail}"
