"""Events: the durable event log's records and the in-process, ordered bus."""
