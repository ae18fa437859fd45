"""The XP Z12-013 Flow Service client's pure parts: webhook signatures (the readings the spec
allows, tampering, replay), acknowledgements, identifiers; and the pa channel's settings."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

import pytest

from gateway.channels.pa import FORMATS, channel
from gateway.delivery.channel import ChannelSettingsError
from gateway.transports.xp_z12013 import (FlowServiceError, WebhookSignatureError, _filename, acknowledgement,
                                          check_id, sign_webhook, verify_webhook_signature)

KEY = base64.b64encode(secrets.token_bytes(32)).decode()
BODY = json.dumps({"flowId": "f-1", "flowDirection": "In", "acknowledgement": {"status": "Ok"}}).encode()
NOW = 1_790_000_000


def test_a_signed_callback_verifies_and_its_timestamp_is_returned() -> None:
    headers = sign_webhook(BODY, KEY, NOW)
    assert verify_webhook_signature(BODY, headers, KEY, now=NOW + 10) == NOW
    # header names are case-insensitive, as HTTP's are
    lower = {k.lower(): v for k, v in headers.items()}
    assert verify_webhook_signature(BODY, lower, KEY, now=NOW) == NOW


def test_the_signature_is_the_hmac_of_the_hex_fingerprint_with_the_decoded_key() -> None:
    fingerprint = hashlib.sha256(BODY + b"@" + str(NOW).encode()).hexdigest().encode()
    expected = base64.b64encode(hmac.new(base64.b64decode(KEY), fingerprint, hashlib.sha256).digest()).decode()
    assert sign_webhook(BODY, KEY, NOW) == {"Afnor-Signature": expected, "Afnor-Signature-Timestamp": str(NOW)}


@pytest.mark.parametrize("key_reading", ["decoded", "text"])
@pytest.mark.parametrize("message_reading", ["digest", "hex", "concatenation"])
def test_every_reading_of_the_spec_that_needs_the_key_is_accepted(key_reading, message_reading) -> None:
    joined = BODY + b"@" + str(NOW).encode()
    message = {"digest": hashlib.sha256(joined).digest(), "hex": hashlib.sha256(joined).hexdigest().encode(),
               "concatenation": joined}[message_reading]
    key = base64.b64decode(KEY) if key_reading == "decoded" else KEY.encode()
    signature = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
    headers = {"Afnor-Signature": signature, "Afnor-Signature-Timestamp": str(NOW)}
    assert verify_webhook_signature(BODY, headers, KEY, now=NOW) == NOW
    other = base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_webhook_signature(BODY, headers, other, now=NOW)


def test_tampered_replayed_or_unsigned_callbacks_are_refused() -> None:
    headers = sign_webhook(BODY, KEY, NOW)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_webhook_signature(BODY.replace(b'"Ok"', b'"Error"'), headers, KEY, now=NOW)
    with pytest.raises(WebhookSignatureError, match="does not match"):      # the time changed, not the body
        verify_webhook_signature(BODY, {**headers, "Afnor-Signature-Timestamp": str(NOW + 1)}, KEY, now=NOW)
    with pytest.raises(WebhookSignatureError, match="replayed"):
        verify_webhook_signature(BODY, headers, KEY, now=NOW + 301)
    with pytest.raises(WebhookSignatureError, match="replayed"):             # from the future
        verify_webhook_signature(BODY, headers, KEY, now=NOW - 301)
    assert verify_webhook_signature(BODY, headers, KEY, now=NOW + 3600, max_skew=3600) == NOW
    with pytest.raises(WebhookSignatureError, match="unsigned"):
        verify_webhook_signature(BODY, {"Afnor-Signature-Timestamp": str(NOW)}, KEY, now=NOW)
    with pytest.raises(WebhookSignatureError, match="Timestamp"):
        verify_webhook_signature(BODY, {"Afnor-Signature": headers["Afnor-Signature"]}, KEY, now=NOW)
    with pytest.raises(WebhookSignatureError, match="Timestamp"):
        verify_webhook_signature(BODY, {**headers, "Afnor-Signature-Timestamp": "-5"}, KEY, now=NOW)
    with pytest.raises(WebhookSignatureError, match="not base64"):
        verify_webhook_signature(BODY, {**headers, "Afnor-Signature": "***"}, KEY, now=NOW)
    with pytest.raises(WebhookSignatureError, match="not an HMAC-SHA-256"):
        verify_webhook_signature(BODY, {**headers, "Afnor-Signature": base64.b64encode(b"short").decode()},
                                 KEY, now=NOW)
    with pytest.raises(WebhookSignatureError, match="no signing key"):
        verify_webhook_signature(BODY, headers, "", now=NOW)


def test_an_acknowledgement_reads_its_status_and_details() -> None:
    assert acknowledgement({}) == ("Pending", "")
    assert acknowledgement({"acknowledgement": {"status": "Weird"}}) == ("Pending", "")
    status, said = acknowledgement({"acknowledgement": {"status": "Error", "details": [
        {"level": "Error", "item": "BT-1", "reasonCode": "InvalidSchema", "reasonMessage": "number missing"},
        "not a detail"]}})
    assert status == "Error" and said == "Error InvalidSchema on BT-1: number missing"


def test_identifiers_and_file_names() -> None:
    assert check_id("a" * 64) == "a" * 64
    for bad in ("", "a" * 65, None, 7, "line\nbreak"):
        with pytest.raises(FlowServiceError):
            check_id(bad)
    assert _filename('attachment;filename="../../etc/INV-1.xml"') == "INV-1.xml"
    assert _filename("attachment;filename=F1.pdf") == "F1.pdf"
    assert _filename(None) is None and _filename("inline") is None


# --- the pa channel's settings -----------------------------------------------------------------

BASE = {"flow_url": "https://api.flow.pa.example/flow-service/", "token": "env:PA_TOKEN"}


def test_settings_are_normalised() -> None:
    assert channel.validate_settings(BASE) == {"flow_url": "https://api.flow.pa.example/flow-service",
                                               "token": "env:PA_TOKEN"}
    got = channel.validate_settings({**BASE, "syntax": "factur-x", "profile": "extended-ctc-fr",
                                     "platform_id": "0145", "timeout_seconds": "30", "allow_private": "false",
                                     "webhook_id": "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
                                     "webhook_secret": "file:pa/partner-1-webhook.key"})
    assert got["syntax"] == "Factur-X" and got["profile"] == "Extended-CTC-FR" and got["platform_id"] == "0145"
    assert got["timeout_seconds"] == 30 and "allow_private" not in got
    assert got["webhook_id"] == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    profile = channel.profile(None, got, gateway_settings=None)
    assert profile.format == FORMATS[("Factur-X", "Extended-CTC-FR")] == "facturx-extended-ctc-fr"
    assert channel.profile(None, channel.validate_settings(BASE), gateway_settings=None).format == "ubl"
    oauth = channel.validate_settings({"flow_url": BASE["flow_url"], "client_id": "edigate",
                                       "client_secret": "file:/etc/edigate/pa.secret",
                                       "token_url": "https://auth.pa.example/token"})
    assert oauth["client_secret"] == "file:/etc/edigate/pa.secret" and "token" not in oauth


@pytest.mark.parametrize("settings, setting, words", [
    ({**BASE, "token": "eyJhbGciOi.secret"}, "pa.token", "not stored in settings"),
    ({**BASE, "client_secret": "s3cret"}, "pa.token", "not both"),
    ({"flow_url": BASE["flow_url"], "client_id": "x", "client_secret": "env:S"}, "pa.token_url", "need client_id"),
    ({**BASE, "flow_url": "http://127.0.0.1:8080/flow-service"}, "pa.flow_url", "allow_private"),
    ({**BASE, "flow_url": "ftp://pa.example/"}, "pa.flow_url", "scheme"),
    ({**BASE, "flow_url": "https://user:pw@pa.example/"}, "pa.flow_url", "credentials"),
    ({**BASE, "flow_url": "https://pa.example/?x=1"}, "pa.flow_url", "query"),
    ({**BASE, "platform_id": "145"}, "pa.platform_id", "4 digits"),
    ({**BASE, "syntax": "EDIFACT"}, "pa.syntax", "UBL, CII, Factur-X"),
    ({**BASE, "profile": "Undefined"}, "pa.profile", "Basic, CIUS"),
    ({**BASE, "timeout_seconds": 0}, "pa.timeout_seconds", "from 1 to 600"),
    ({**BASE, "webhook_id": "not-a-uuid"}, "pa.webhook_id", "UUID"),
    ({**BASE, "colour": "blue"}, "pa.colour", "unknown setting"),
])
def test_unusable_settings_are_refused_naming_the_setting(settings, setting, words) -> None:
    with pytest.raises(ChannelSettingsError) as e:
        channel.validate_settings(settings)
    assert e.value.setting == setting and words in e.value.problem


def test_a_loopback_platform_needs_its_switch_and_readiness_says_what_is_missing() -> None:
    local = channel.validate_settings({**BASE, "flow_url": "http://127.0.0.1:8080/flow-service",
                                       "allow_private": True})
    assert local["allow_private"] is True and local["flow_url"] == "http://127.0.0.1:8080/flow-service"
    assert channel.readiness(local, None) is None
    assert "flow_url" in channel.readiness({"token": "env:X"}, None)
    assert "pa.token" in channel.readiness({"flow_url": BASE["flow_url"]}, None)
    with pytest.raises(ChannelSettingsError):
        channel.profile(None, {"token": "env:X"}, gateway_settings=None)
    assert set(channel.settings_schema()["properties"]) == set(channel.settings_keys)
