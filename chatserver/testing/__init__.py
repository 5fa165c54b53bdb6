"""The load-test harness and hub processes for tests, benchmarks and ``livedesk loadtest``."""
