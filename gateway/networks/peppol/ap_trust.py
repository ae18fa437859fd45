"""Whether an access point we have no record of is one of the network's: its certificate's whole
chain verified to an anchor of ``EDIGATE_PEPPOL_AP_TRUST``.

OpenPeppol's access point certificates are issued by an AP CA that its root CA issued. The
trust file holds the root(s) and the AP CA(s): the self-signed certificates in it are the
anchors, the others the intermediates a chain may pass through (a file with no self-signed
certificate: each of its certificates is an anchor, as an operator who trusts the AP CA alone
means it). A stranger's certificate is trusted when a path leads from it through those
intermediates to an anchor with every certificate valid at that instant, every issuer a CA
(basicConstraints cA) within its path length, and every signature good: cryptography's path
validation (``cryptography.x509.verification``), not a look at the direct issuer alone.
Other extensions are not required (Peppol's profile is not the Web PKI's).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError

__all__ = ["verify", "MAX_CERTIFICATES", "MAX_DEPTH"]

MAX_CERTIFICATES = 20          # read from one trust file
MAX_DEPTH = 4                  # intermediates between an access point and an anchor, at most


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def verify(cert: x509.Certificate, bundle: Sequence[x509.Certificate],
           now: Optional[datetime] = None) -> Optional[str]:
    """None when ``cert`` chains to an anchor of ``bundle`` (see the module docstring), else why not."""
    bundle = list(bundle)[:MAX_CERTIFICATES]
    if not bundle:
        return "no trust anchor configured"
    anchors = [c for c in bundle if _self_signed(c)] or bundle
    intermediates = [c for c in bundle if not any(c is a for a in anchors)]
    ca_policy = ExtensionPolicy.permit_all().require_present(x509.BasicConstraints, Criticality.AGNOSTIC, None)
    verifier = (PolicyBuilder().store(Store(anchors)).time(now or datetime.now(timezone.utc))
                .max_chain_depth(MAX_DEPTH)
                .extension_policies(ca_policy=ca_policy, ee_policy=ExtensionPolicy.permit_all())
                .build_client_verifier())
    try:
        verifier.verify(cert, intermediates)
    except VerificationError as e:
        return str(e)[:300]
    return None
