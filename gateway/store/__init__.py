"""Where payloads live: the content-addressed, durable payload store."""
from .payloads import (PayloadCorrupt, PayloadError, PayloadNotFound, PayloadRef, PayloadStore,
                       PayloadTooLarge)

__all__ = ["PayloadStore", "PayloadRef", "PayloadError", "PayloadTooLarge", "PayloadCorrupt", "PayloadNotFound"]
