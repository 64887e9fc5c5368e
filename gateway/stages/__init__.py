"""Consent enforcement stages of the HTML pipeline, one concept per module.

`registry.STAGES` is their one ordered list, which every rewritten page runs through. In page
order: `consent_mode.ConsentMode` (when enabled), `prior_blocking.PriorBlocking` and
`embed_placeholders.EmbedPlaceholders` (when purposes are configured), `banner.BannerInjection`
(when a choice is owed), `choices_link.ChoicesLink` (when the visitor may opt out of
sale/sharing, `consent.us_choices_link`), then personalization.
"""
