"""The gateway: ASGI app, streaming proxy, HTML pipeline and command line."""
