"""The stored settings and their audit trail, as sync functions of one SQLAlchemy
connection (for ``Store.read`` / ``Store.write``). Values are JSON text."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from chatserver.backends.models import SettingAudit, SettingValue

values_t: sa.Table = SettingValue.__table__  # type: ignore[attr-defined]
audit_t: sa.Table = SettingAudit.__table__  # type: ignore[attr-defined]
AUDIT_LIMIT = 200


@dataclass(frozen=True)
class Change:
    """One setting to write: ``reset`` deletes the stored value (back to the default)."""

    name: str
    value: Any = None
    reset: bool = False


def stored_values(conn: Connection) -> dict[str, Any]:
    return {r.name: json.loads(r.value) for r in conn.execute(sa.select(values_t))}


def apply_changes(
    conn: Connection, changes: list[Change], actor_id: int | None, actor: str, at_ms: int
) -> list[str]:
    """Write ``changes`` and one audit row each that really changed something, in the
    caller's transaction; the names changed."""
    changed: list[str] = []
    for change in changes:
        row = conn.execute(
            sa.select(values_t.c.value).where(values_t.c.name == change.name)
        ).first()
        before = row.value if row is not None else None
        after = None if change.reset else json.dumps(change.value, sort_keys=True)
        if before == after:
            continue
        if after is None:
            conn.execute(sa.delete(values_t).where(values_t.c.name == change.name))
        elif row is None:
            conn.execute(
                sa.insert(values_t).values(
                    name=change.name, value=after, updated_ms=at_ms, updated_by=actor_id
                )
            )
        else:
            conn.execute(
                sa.update(values_t)
                .where(values_t.c.name == change.name)
                .values(value=after, updated_ms=at_ms, updated_by=actor_id)
            )
        conn.execute(
            sa.insert(audit_t).values(
                name=change.name,
                before=before,
                after=after,
                actor_id=actor_id,
                actor=actor,
                at_ms=at_ms,
            )
        )
        changed.append(change.name)
    return changed


def audit_trail(conn: Connection, limit: int = AUDIT_LIMIT) -> list[dict[str, Any]]:
    """The latest changes first."""
    rows = conn.execute(sa.select(audit_t).order_by(audit_t.c.id.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]
