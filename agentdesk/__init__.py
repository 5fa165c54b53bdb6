"""Agent console and supervisor dashboard: templates and static files."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
LOCALE_DIR = Path(__file__).with_name("locale")
