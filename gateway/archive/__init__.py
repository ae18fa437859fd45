"""An archive that proves itself: every stored original, rendering, receipt and status message
in a hash chain, the chain's head sealed by an RFC 3161 time-stamping authority, kept for its
retention and no longer, checked (``verify``) and exported for an auditor (``export``).

One module per job: ``chain`` (the canonical entry and its hash), ``catchup`` (entries from
the records), ``tsp`` (RFC 3161 request and token check), ``seal``, ``retention``,
``purge``, ``verify``, ``export``, ``sweep`` (what the gateway's sweep runs).
"""
