"""Mail: Gmail synced into Firestore, the copies' shape, and the correspondents who become contacts."""
