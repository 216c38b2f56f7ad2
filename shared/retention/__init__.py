"""Retention: synced copies kept only as long as the tenant's plan allows; attached copies kept."""
