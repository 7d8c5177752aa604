"""Assignment runs: queued by a person, a schedule or an import, computed by a worker with the
engine, swapped in atomically, announced by notifications and webhooks."""
