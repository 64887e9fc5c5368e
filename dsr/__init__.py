"""Data-subject requests (access, erasure): deadlines, the request log, the service, retention.

A pure-ish package beside `consent` and `audit`: it never imports `gateway`.
"""
