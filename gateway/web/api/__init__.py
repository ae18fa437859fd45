"""The REST API (``/api/v1``): partners, exchanges, deliveries, documents, uploads, the invoice life
cycle and the ERP pull, in JSON, behind bearer tokens.

One flask-smorest blueprint (``blueprint.bp``), its routes in one module per resource;
the marshmallow schemas (``schemas``) validate every request, write every answer and
generate the OpenAPI document served at ``/api/v1/openapi.json`` (``openapi``). The
operator pages and the portal read their search forms with the same fields (``params``).

    from gateway.web.api import bp          # every route registered, the ERP pull nested
"""
from __future__ import annotations

# Each module adds its routes to ``bp``; in this order, which is the description's.
from . import partners  # noqa: F401
from . import exchanges  # noqa: F401
from . import deliveries  # noqa: F401
from . import documents  # noqa: F401
from . import invoice_status  # noqa: F401
from . import controls  # noqa: F401
from . import approvals  # noqa: F401
from . import erp  # noqa: F401  (nests its blueprint, /api/v1/erp, in ``bp``)
from .blueprint import bp

__all__ = ["bp"]
