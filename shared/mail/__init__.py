"""Mail: Gmail synced into the store, read state written back, the correspondents who become contacts."""
