"""The compliance console at `{prefix}/admin`: login, audit log, request queue, statistics."""
