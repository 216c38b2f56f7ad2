"""A faithful local stand-in for the Google APIs this product uses: OAuth 2.0, Gmail v1, push, quotas.

Driven by the real google-api-python-client and google-auth, never by hand-made HTTP in conformance
tests. See README.md beside this file for what it covers and every setting.
"""
