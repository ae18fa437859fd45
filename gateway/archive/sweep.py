"""What the gateway's sweep runs for the archive: the catch-up every time, a seal when due."""
from __future__ import annotations

import logging
from datetime import datetime

from . import catchup, seal as sealing

log = logging.getLogger("edigate.archive")


class ArchiveSweep:
    def __init__(self, gw):
        self.gw = gw

    def sweep(self, now: datetime) -> dict[str, int]:
        counts = {"archived": catchup.catch_up(self.gw, now=now)}
        if sealing.due(self.gw, now):
            try:
                counts["sealed"] = 1 if sealing.seal(self.gw, now=now) is not None else 0
            except sealing.SealError as e:      # tried again at the next sweep
                log.warning("archive seal: %s", e)
                counts["sealed"] = 0
        return counts


def register(gw) -> ArchiveSweep:
    return ArchiveSweep(gw)
