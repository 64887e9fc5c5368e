"""Personalization on the request path: slot filling, profile tracking and preview links."""
