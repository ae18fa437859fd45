"""Password hashes at a test's cost: scrypt with N = 1,024 instead of werkzeug's 32,768.

Every user or SFTP account a test creates, and every login it makes, costs a full scrypt
(about 0.1 s of CPU each; the web tests make thousands). The method stays scrypt and every
hash still says its own parameters, so checking one made either way works, and nothing a
test asserts changes; the gateway's own processes (``edigate serve``, the CLI as a program)
keep werkzeug's default.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from werkzeug import security

TEST_METHOD = "scrypt:1024:8:1"


@contextmanager
def cheap_password_hashes() -> Iterator[None]:
    """While inside, ``generate_password_hash`` (under whatever name it was imported) defaults to
    ``TEST_METHOD``."""
    function = security.generate_password_hash
    defaults = function.__defaults__
    function.__defaults__ = (TEST_METHOD, *defaults[1:])
    try:
        yield
    finally:
        function.__defaults__ = defaults
