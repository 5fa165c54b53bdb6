"""The bot that holds conversations while visitors wait; its decisions live in ``brain``."""
