"""Consent enforcement stages of the HTML pipeline, one concept per module.

In page order: `prior_blocking.PriorBlocking` (always), `consent_mode.ConsentMode` (when
enabled), `banner.BannerInjection` (when a choice is owed), `choices_link.ChoicesLink` (when
the visitor may opt out of sale/sharing, `consent.us_choices_link`), then personalization.
"""
