"""Consent: what each visitor agreed to, recorded with proof."""
