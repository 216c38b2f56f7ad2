"""Who is calling: the CRM backend's signed tokens (and, later, Google's push tokens)."""
