"""A stranger access point's certificate checked along its whole chain to the configured anchors
(``gateway.networks.peppol.ap_trust``, and the AS4 inbox's ``_trusted`` that reads
``EDIGATE_PEPPOL_AP_TRUST``): through an AP CA that the root issued; not from another CA; not
expired, nor through an expired or non-CA intermediate, which a look at the direct issuer alone
let through."""
from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.channels.peppol import Inbox
from gateway.networks.peppol import ap_trust
from tests.support.peppol_pki import PeppolTestCA, _name

NOW = dt.datetime.now(dt.timezone.utc)


def _cert(subject: str, ou: str, issuer_cert, issuer_key, key, *, ca: bool, days: int = 100,
          start: dt.timedelta = dt.timedelta(days=-1)) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(_name(subject, ou))
               .issuer_name(issuer_cert.subject if issuer_cert is not None else _name(subject, ou))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW + start).not_valid_after(NOW + start + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True))
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki():
    root = PeppolTestCA("edigate TEST ROOT CA")
    ap_ca_key = ec.generate_private_key(ec.SECP256R1())
    ap_ca = _cert("edigate TEST AP CA", "PEPPOL TEST CA", root.cert, root.key, ap_ca_key, ca=True)
    expired_ca = _cert("edigate TEST AP CA", "PEPPOL TEST CA", root.cert, root.key, ap_ca_key, ca=True,
                       start=dt.timedelta(days=-30), days=10)
    not_a_ca = _cert("edigate TEST AP CA", "PEPPOL TEST CA", root.cert, root.key, ap_ca_key, ca=False)
    key = ec.generate_private_key(ec.SECP256R1())
    return {"root": root, "ap_ca": ap_ca, "expired_ca": expired_ca, "not_a_ca": not_a_ca,
            "leaf": _cert("PFR000001", "PEPPOL TEST AP", ap_ca, ap_ca_key, key, ca=False),
            "expired_leaf": _cert("PFR000002", "PEPPOL TEST AP", ap_ca, ap_ca_key, key, ca=False,
                                  start=dt.timedelta(days=-30), days=10),
            "direct": x509.load_pem_x509_certificate(root.issue("PFR000003", ou="PEPPOL TEST AP").cert_pem),
            "other": x509.load_pem_x509_certificate(
                PeppolTestCA("another CA").issue("PFR000004", ou="PEPPOL TEST AP").cert_pem)}


def test_a_chain_through_the_ap_ca_to_the_root_is_trusted(pki) -> None:
    assert ap_trust.verify(pki["leaf"], [pki["root"].cert, pki["ap_ca"]]) is None
    assert ap_trust.verify(pki["direct"], [pki["root"].cert]) is None         # issued by the root itself
    assert ap_trust.verify(pki["leaf"], [pki["ap_ca"]]) is None               # the AP CA alone, trusted as anchor


def test_what_does_not_chain_is_refused_saying_why(pki) -> None:
    root, ap_ca = pki["root"].cert, pki["ap_ca"]
    assert ap_trust.verify(pki["leaf"], [root]) is not None                  # the AP CA not given: no path
    assert ap_trust.verify(pki["other"], [root, ap_ca]) is not None          # another CA's
    assert ap_trust.verify(pki["expired_leaf"], [root, ap_ca]) is not None   # expired
    assert ap_trust.verify(pki["leaf"], [root, ap_ca], NOW + dt.timedelta(days=200)) is not None
    assert ap_trust.verify(pki["leaf"], []) == "no trust anchor configured"


@pytest.mark.parametrize("intermediate", ["expired_ca", "not_a_ca"])
def test_a_bad_intermediate_breaks_the_chain_though_it_signed_the_leaf(pki, intermediate) -> None:
    """The leaf's signature is good under this intermediate's key (one-level checking said yes):
    the chain is not, the intermediate being expired or no CA."""
    bad = pki[intermediate]
    pki["leaf"].verify_directly_issued_by(bad)                               # the old check passed
    assert ap_trust.verify(pki["leaf"], [pki["root"].cert, bad]) is not None


def test_the_inbox_reads_its_anchors_from_the_setting(pki, tmp_path, monkeypatch) -> None:
    bundle = tmp_path / "ap-trust.pem"
    bundle.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM)
                                for c in (pki["root"].cert, pki["ap_ca"], pki["expired_ca"])))
    monkeypatch.delenv("EDIGATE_PEPPOL_AP_TRUST", raising=False)
    assert not Inbox._trusted(pki["leaf"])                                   # no anchors: nobody
    monkeypatch.setenv("EDIGATE_PEPPOL_AP_TRUST", str(bundle))
    assert Inbox._trusted(pki["leaf"]) and Inbox._trusted(pki["direct"])
    assert not Inbox._trusted(pki["other"]) and not Inbox._trusted(pki["expired_leaf"])
