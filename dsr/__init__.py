"""Data-subject requests (access, erasure): deadlines and the bundle, the request log, the
service and retention.

`requests` (deadlines, request states, the export bundle) and `queue` (what the console's
request queue shows) are pure; `requests_store`, `service` and `retention` are I/O shells
around them. Beside `consent` and `audit`, below `gateway`: nothing here imports `gateway`.
"""
