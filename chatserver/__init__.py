"""livedesk hub: everything with I/O (web app, sockets, store, bus, auth, billing, CLI)."""
