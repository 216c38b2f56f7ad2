"""The sync engine: runs any source's sync (runner), its state and leases, the one requester of syncs,
the registry of push channels, and the daily round. It knows no source by name."""
