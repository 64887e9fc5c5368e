"""The streaming reverse proxy and the consent exchange it runs for every proxied request."""
