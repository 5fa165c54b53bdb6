"""Sockets and who is connected: connections, agent sockets, principals."""
