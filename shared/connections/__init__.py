"""Google connections: a CRM user's link to a Google account (its grant, features and lifecycle)."""
