"""Consent enforcement stages of the HTML pipeline, one concept per module.

In page order: `consent_mode.ConsentMode` (when enabled), `prior_blocking.PriorBlocking` and
`embed_placeholders.EmbedPlaceholders` (when purposes are configured), `banner.BannerInjection`
(when a choice is owed), then personalization.
"""
