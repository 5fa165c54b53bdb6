"""The composition root (``app``) and the HTTP routes."""
