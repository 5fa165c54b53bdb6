"""Shared by the benchmarks: a real hub process on a temporary database, and its RSS.

The implementation lives in ``chatserver.testing.loadtest`` (the ``livedesk loadtest`` command
starts the same process); this module keeps the benchmarks' imports short.
"""

from __future__ import annotations

from chatserver.testing.loadtest import PASSWORD, HubProcess, free_port, now, rss_mb, wait_for_port

__all__ = ["PASSWORD", "HubProcess", "free_port", "now", "rss_mb", "wait_for_port"]
