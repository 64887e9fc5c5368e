"""Consent enforcement stages of the HTML pipeline, one concept per module.

In page order: `prior_blocking.PriorBlocking` (always), `consent_mode.ConsentMode` (when
enabled), `banner.BannerInjection` (when a choice is owed), then personalization.
"""
