"""Google connections: a CRM user's link to a Google account (grant, features, sync state)."""
