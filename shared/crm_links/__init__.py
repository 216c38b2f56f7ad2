"""Links from what we sync (mail copies today) to the CRM's records and tasks."""
