"""What the onboarding tests share: valid identifiers made up on demand, counterparty CSVs, a
gateway on a temporary home sending to a real SMTP server (aiosmtpd), and crafted DSNs.

    gw = onboarding_gateway(tmp_path, smtp)           # immediate jobs: a sweep sends in-process
    csv_bytes = counterparty_csv(50, segment=lambda i: "transport" if i % 2 else "")
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from gateway.config import load_settings
from gateway.model.identifiers import gs1_check_digit, luhn_ok
from gateway.runtime import Gateway


def luhn_complete(body: str) -> str:
    """``body`` + the digit that makes it pass Luhn."""
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError("unreachable")


def siren(i: int) -> str:
    return luhn_complete(f"{40000000 + i:08d}")


def siret(i: int, establishment: int = 1) -> str:
    return luhn_complete(siren(i) + f"{establishment:04d}")


def vat_fr(siren_value: str) -> str:
    return f"FR{(12 + 3 * int(siren_value)) % 97:02d}{siren_value}"


def gln(i: int) -> str:
    body = f"30{i:010d}"
    return body + str(gs1_check_digit(body))


def counterparty_csv(n: int, *, start: int = 0, delimiter: str = ";", segment: Optional[Callable[[int], str]] = None,
                     language: Optional[Callable[[int], str]] = None, domain: str = "example.test",
                     bom: bool = True) -> bytes:
    """``n`` valid rows (French headers), company i at ``c<i>@domain``."""
    lines = [delimiter.join(["Raison sociale", "SIREN", "SIRET", "N° TVA", "GLN", "Courriel", "Contact", "Segment",
                             "Langue"])]
    for i in range(start, start + n):
        lines.append(delimiter.join([f"Company {i} SAS", siren(i), siret(i), vat_fr(siren(i)), gln(i),
                                     f"c{i}@{domain}", f"Contact {i}", segment(i) if segment else "",
                                     language(i) if language else "fr"]))
    text = "\r\n".join(lines) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def onboarding_settings(home: Path, smtp_url: str, **env: str):
    values = {"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(home), "EDIGATE_SMTP_URL": smtp_url, "EDIGATE_MAIL_FROM": "onboarding@edigate.test",
              "EDIGATE_PUBLIC_URL": "https://edigate.test", "EDIGATE_MAIL_RATE": "60000"}
    values.update(env)
    return load_settings(values)


def onboarding_gateway(home: Path, smtp, *, immediate: bool = True, **env: str) -> Gateway:
    return Gateway(onboarding_settings(home, smtp.url, **env), immediate_jobs=immediate)


def dsn(to: str, recipient: str, *, action: str = "failed", status: str = "5.1.1",
        message_id: Optional[str] = None, diagnostic: str = "smtp; 550 5.1.1 user unknown") -> bytes:
    """A delivery-status notification (RFC 3464) as a relay writes it to the return path ``to``."""
    headers = f"Message-ID: {message_id}\r\nSubject: invitation\r\n" if message_id else "Subject: invitation\r\n"
    return (
        f"Return-Path: <>\r\nDelivered-To: {to}\r\nFrom: MAILER-DAEMON@relay.example\r\nTo: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"BOUNDARY\"\r\n\r\n"
        "--BOUNDARY\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n"
        "--BOUNDARY\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; relay.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n\r\n"
        f"--BOUNDARY\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n"
        "--BOUNDARY--\r\n").encode()
