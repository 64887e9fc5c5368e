"""The gateway's own endpoints under the prefix: consent, data-subject requests, events."""
