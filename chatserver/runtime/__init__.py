"""Asyncio plumbing (task sets, per-key ordering) and the process's metrics."""
