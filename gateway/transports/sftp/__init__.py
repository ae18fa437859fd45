"""SFTP transport: bytes and accounts, nothing about invoices.

Our server for partners (issue #5):

    from gateway.transports.sftp import (Account, SftpServer, ensure_host_key,
                                         host_key_line, host_key_fingerprint)

* ``ensure_host_key(path)`` → the Ed25519 host key, made once (0600) and kept;
* ``SftpServer(host, port, host_key, authenticate, on_upload, on_download=None,
  on_remove=None, …)`` with ``start()`` / ``stop()``; ``authenticate(username,
  password=None, public_key=None)`` → ``Account`` | None;
* each account root has ``inbound/`` (uploads; ``on_upload`` once each is complete)
  and ``outbound/`` (pickup: read, list, remove);
* ``Jail`` confines a client path to a root (``JailError`` otherwise);
* ``stale_partial_files(root, older_than)`` finds cut uploads for a sweep;
  ``remove_expired_uploads(root, older_than)`` removes taken uploads kept long enough
  (``is_delivered`` / ``is_taken`` / ``mark_taken``: the marks a rescan reads).
"""
from .account import AREAS, INBOUND, OUTBOUND, Account, Authenticate, authorized_key_matches
from .filesystem import (DEFAULT_TEMPORARY_PREFIXES, DEFAULT_TEMPORARY_SUFFIXES, OnDownload,
                         OnRemove, OnUpload, is_delivered, is_taken, mark_taken, remove_expired_uploads,
                         stale_partial_files)
from .hostkey import HOST_KEY_FILENAME, ensure_host_key, host_key_fingerprint, host_key_line
from .jail import Jail, JailError, JailPath
from .server import SftpServer

__all__ = [
    "AREAS", "INBOUND", "OUTBOUND", "Account", "Authenticate", "authorized_key_matches",
    "DEFAULT_TEMPORARY_PREFIXES", "DEFAULT_TEMPORARY_SUFFIXES", "OnDownload", "OnRemove", "OnUpload",
    "is_delivered", "is_taken", "mark_taken", "remove_expired_uploads", "stale_partial_files",
    "HOST_KEY_FILENAME", "ensure_host_key", "host_key_fingerprint", "host_key_line",
    "Jail", "JailError", "JailPath",
    "SftpServer",
]
