"""The CRM-facing HTTP API served by the `api` function."""
