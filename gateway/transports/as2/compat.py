"""Make oscrypto (used by pyas2lib) load against OpenSSL releases with a two-digit patch level.

oscrypto 1.3.0 (the newest on PyPI) finds the libcrypto version with the regex
``\\b(\\d\\.\\d\\.\\d[a-z]*)\\b``: ``OpenSSL 3.0.19`` does not match, and importing
pyas2lib fails with ``LibraryNotFoundError('Error detecting the version of
libcrypto')``. This module loads oscrypto's libcrypto binding module once from
its own source with the regex corrected (``\\d+`` for each part) and registers it
in ``sys.modules``, before anything imports pyas2lib. Nothing is patched: no
function of ``re`` or of oscrypto is replaced, and an oscrypto that already
loads (older OpenSSL, a fixed release, another backend) is left alone.

Import it before pyas2lib: ``gateway.transports.as2`` does.
"""
from __future__ import annotations

import importlib.util
import sys

_BROKEN = "'\\\\b(\\\\d\\\\.\\\\d\\\\.\\\\d[a-z]*)\\\\b'"      # the literal as written in oscrypto's source
_FIXED = "'\\\\b(\\\\d+\\\\.\\\\d+\\\\.\\\\d+[a-z]*)\\\\b'"

#: True when this module had to load a corrected binding (for diagnostics and tests).
applied = False


def _load_fixed_binding() -> bool:
    if "oscrypto._openssl._libcrypto" in sys.modules:
        return False                    # oscrypto already loaded its OpenSSL binding: too late or not needed
    import oscrypto
    if oscrypto.backend() != "openssl":
        return False                    # macOS / Windows use the OS libraries, no version regex
    name = f"oscrypto._openssl._libcrypto_{oscrypto.ffi()}"   # _libcrypto_cffi or _libcrypto_ctypes
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or not hasattr(spec.loader, "get_source"):
        return False
    source = spec.loader.get_source(name)
    if not source or _BROKEN not in source:
        return False                    # a fixed oscrypto: nothing to do
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        exec(compile(source.replace(_BROKEN, _FIXED), spec.origin, "exec"), module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return True


applied = _load_fixed_binding()
