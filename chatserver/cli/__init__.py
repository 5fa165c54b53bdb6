"""The ``livedesk`` command line."""
