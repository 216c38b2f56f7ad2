"""Tenants: the CRM's customer accounts, and the plan each is on."""
