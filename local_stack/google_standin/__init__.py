"""A faithful local stand-in for the Google APIs this product uses: OAuth 2.0, Gmail v1, Calendar v3,
push (Gmail's through Pub/Sub, Calendar's webhook channels), quotas.

Driven by the real google-api-python-client and google-auth, never by hand-made HTTP in conformance
tests. The project README's "Google stand-in" section lists what it covers and every setting.
"""
