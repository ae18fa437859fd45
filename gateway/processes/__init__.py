"""The gateway's own processes: the server's worker processes, supervised (``supervise``)."""
