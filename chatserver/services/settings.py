"""The effective settings: the environment's (``core.settings.Settings``) overlaid with what
admins saved in the browser, and how a change reaches every node.

Precedence, simplest first: a value saved in the admin screens wins over the environment,
whose value is the default it overrides; a setting named in ``LOCKED_SETTINGS`` cannot be
saved and a stored value for it is ignored (the environment is final). Only ``EDITABLE``
settings are ever overlaid: what is read once at start stays env-only.

Saving writes the values and their audit rows in one transaction, applies them on this node
at once, and publishes ``settings_changed`` on the bus; every node (this one too) re-reads
the table and hands the new ``Settings`` copy to its listeners (the dispatcher).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from chatserver.backends.settings_store import Change, apply_changes, audit_trail, stored_values
from chatserver.backends.store import Store, now_ms
from chatserver.core.hours import BusinessHours, desk_team_hours
from chatserver.core.settings import EDITABLE, SECTION_OF, Settings
from chatserver.runtime.tasks import TaskSet

# What a page's Origin header can be: a scheme, a host, maybe a port; nothing after.
ORIGIN = re.compile(r"\*|https?://[A-Za-z0-9.-]+(:\d{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
log = logging.getLogger("livedesk.settings")
SETTINGS_CHANGED = "settings_changed"
Listener = Callable[[Settings], Awaitable[None]]


class InvalidSetting(ValueError):
    """A value an admin entered that the setting does not take (the message says why)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class Actor:
    agent_id: int | None
    label: str  # the e-mail, or "cli"


def editable(base: Settings) -> tuple[str, ...]:
    """What the admin screens may change under this environment."""
    return tuple(n for n in EDITABLE if n not in base.admin.locked_settings)


def _validated(base: Settings, update: dict[str, Any]) -> Settings:
    """``base`` with ``update`` applied, every field checked as the environment's are, and
    the hours checked as the router will read them. Raises ValueError."""
    if not update:
        return base
    data = base.model_dump()
    data.update(update)
    new = Settings.model_validate(data)
    try:
        ZoneInfo(new.routing.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {new.routing.timezone!r}") from exc
    for day in new.routing.holidays:
        date.fromisoformat(day)  # ValueError names the bad one
    BusinessHours.parse(new.routing.business_hours, new.routing.holidays, new.routing.timezone)
    desk_team_hours(new.routing)  # each team's, with what it leaves to the desk's
    for origin in new.security.allowed_origins:
        if not ORIGIN.fullmatch(origin.rstrip("/")):
            raise ValueError(f"{origin!r} is not an origin like https://shop.example (or *)")
    new.routing.router_config()  # the router's own checks
    return new


def overlay(base: Settings, stored: dict[str, Any]) -> Settings:
    """The effective settings. A stored value that no longer validates (a constraint
    tightened by an upgrade) is skipped with a warning, so the hub still starts."""
    allowed = set(editable(base))
    update: dict[str, Any] = {}
    for name, value in stored.items():
        if name not in allowed:
            continue
        try:
            _validated(base, {**update, name: value})
        except (ValueError, ValidationError) as exc:
            log.warning("stored setting %s=%r ignored: %s", name, value, exc)
            continue
        update[name] = value
    return _validated(base, update)


class LiveSettings:
    """One per process: ``current`` is the effective settings object, replaced (never
    mutated) on each change; listeners get the new copy."""

    def __init__(self, base: Settings, store: Store) -> None:
        self.base = base
        self.store = store
        self.current = base
        self.stored: dict[str, Any] = {}
        self.listeners: list[Listener] = []
        # Registered by the composition root: announce a change to every node.
        self.announcers: list[Callable[[dict[str, Any]], None]] = []
        self.tasks = TaskSet("settings")
        self._lock = asyncio.Lock()

    async def load(self) -> Settings:
        """Re-read the stored values and tell the listeners if the result changed."""
        async with self._lock:
            stored = await self.store.read(stored_values)
            new = overlay(self.base, stored)
            self.stored = {k: v for k, v in stored.items() if k in editable(self.base)}
            changed = new != self.current
            self.current = new
            if changed:
                for listener in self.listeners:
                    await listener(new)
        return new

    def on_bus(self) -> None:
        """A node announced a change: re-read (in the background; the bus never waits)."""
        self.tasks.spawn(self.load())

    async def save(
        self, values: dict[str, Any], actor: Actor, *, reset: tuple[str, ...] = ()
    ) -> list[str]:
        """Check, store (with audit rows), apply here, announce. Raises InvalidSetting for
        a name that may not be changed or a value it does not take; nothing is stored then."""
        allowed = set(editable(self.base))
        for name in (*values, *reset):
            if name not in allowed:
                raise InvalidSetting(name, "this setting cannot be changed here")
        update = {**self.stored, **values}
        for name in reset:
            update.pop(name, None)
        for name in values:
            try:
                _validated(self.base, {name: values[name]})
            except ValidationError as exc:
                raise InvalidSetting(name, exc.errors()[0]["msg"]) from exc
            except ValueError as exc:
                raise InvalidSetting(name, str(exc)) from exc
        try:
            _validated(self.base, update)
        except (ValueError, ValidationError) as exc:
            raise InvalidSetting(next(iter(values), "settings"), str(exc)) from exc
        checked = self.base.updated(values)
        # As JSON holds it (a team's hours are a model in the settings object), by flat name.
        sections = checked.model_dump(mode="json", include={SECTION_OF[n] for n in values})
        shown = {n: sections[SECTION_OF[n]][n] for n in values}
        changes = [Change(n, shown[n]) for n in values]
        changes += [Change(n, reset=True) for n in reset]
        at = now_ms()
        changed = await self.store.write(
            lambda conn: apply_changes(conn, changes, actor.agent_id, actor.label, at)
        )
        if changed:
            await self.load()
            for announce in self.announcers:
                announce({"type": SETTINGS_CHANGED, "names": changed})
        return changed

    async def audit(self) -> list[dict[str, Any]]:
        return await self.store.read(audit_trail)

    async def stop(self) -> None:
        await self.tasks.stop()
