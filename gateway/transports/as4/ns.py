"""Namespaces, algorithm URIs and the Peppol AS4 processing mode, as data.

The values of the ``peppol-transport-as4-v2_0`` profile (Peppol AS4 Profile
2.0.x, itself the CEF eDelivery AS4 profile): one-way push, SOAP 1.2, a
UserMessage whose Service is the process (typed ``cenbii-procid-ubl``), whose
Action is the document type identifier, the Peppol roles and agreement, the
``originalSender`` / ``finalRecipient`` properties; WS-Security 1.1 with an X.509
signature (RSA-SHA256, SHA-256 digests, exclusive C14N) over eb:Messaging, the
SOAP Body and every attachment, then AES-128-GCM encryption of the attachments
with an RSA-OAEP (MGF1 SHA-256, SHA-256) transported key; gzip payloads.
"""
from __future__ import annotations

S12 = "http://www.w3.org/2003/05/soap-envelope"
EB = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/"
EBBP = "http://docs.oasis-open.org/ebxml-bp/ebbp-signals-2.0"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSSE11 = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
EC = "http://www.w3.org/2001/10/xml-exc-c14n#"

NSMAP = {"S12": S12, "eb": EB, "ebbp": EBBP, "wsse": WSSE, "wsse11": WSSE11, "wsu": WSU, "ds": DS,
         "xenc": XENC, "xenc11": XENC11, "ec": EC}

WSU_ID = f"{{{WSU}}}Id"

# --- algorithms ---------------------------------------------------------------------------------
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SWA_CONTENT_SIGNATURE = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform"
SWA_CONTENT_ONLY = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Only"
SWA_CIPHERTEXT = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Ciphertext-Transform"
RSA_OAEP = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
RSA_OAEP_MGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
MGF1_SHA256 = "http://www.w3.org/2009/xmlenc11#mgf1sha256"
AES128_GCM = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64_BINARY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
ENCRYPTED_KEY_TOKEN = "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#EncryptedKey"

# --- the Peppol processing mode ------------------------------------------------------------------
PEPPOL_AGREEMENT = "urn:fdc:peppol.eu:2017:agreements:tia:ap_provider"
PEPPOL_PARTY_TYPE = "urn:fdc:peppol.eu:2017:identifiers:ap"
INITIATOR = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator"
RESPONDER = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/responder"
PARTICIPANT_TYPE = "iso6523-actorid-upis"
ORIGINAL_SENDER = "originalSender"
FINAL_RECIPIENT = "finalRecipient"
GZIP = "application/gzip"
PROFILE = "peppol-transport-as4-v2_0"
