"""Store, bus, presence, capacity, cluster: interfaces and their implementations."""
