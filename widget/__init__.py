"""The visitor's widget. Python only says where the built bundle lies."""

from pathlib import Path

STATIC_DIR = Path(__file__).with_name("static")
BUNDLE_PATH = STATIC_DIR / "widget.js"
