"""The stored roster and the accepted caps' audit trail, as sync functions of one SQLAlchemy
connection (for ``Store.read`` / ``Store.write``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from chatserver.backends.models import Agent, CapAudit, RosterSlot

roster_t: sa.Table = RosterSlot.__table__  # type: ignore[attr-defined]
cap_audit_t: sa.Table = CapAudit.__table__  # type: ignore[attr-defined]
agents_t: sa.Table = Agent.__table__  # type: ignore[attr-defined]
AUDIT_LIMIT = 200


def put_roster(
    conn: Connection, team: str, slots: Mapping[int, int], actor_id: int | None, at_ms: int
) -> int:
    """Store agents per interval start (epoch ms) for ``team`` ("" the whole desk), replacing
    what those intervals held; other intervals keep theirs. How many were written."""
    starts = sorted(slots)
    for i in range(0, len(starts), 500):  # bounded IN lists
        chunk = starts[i : i + 500]
        conn.execute(
            sa.delete(roster_t).where(roster_t.c.team == team, roster_t.c.start_ms.in_(chunk))
        )
    if starts:
        conn.execute(
            sa.insert(roster_t),
            [
                {
                    "team": team,
                    "start_ms": start,
                    "agents": slots[start],
                    "updated_ms": at_ms,
                    "updated_by": actor_id,
                }
                for start in starts
            ],
        )
    return len(starts)


def roster(conn: Connection, team: str, start_ms: int, end_ms: int) -> dict[int, int]:
    """Agents scheduled per interval start in [start_ms, end_ms) for ``team``."""
    rows = conn.execute(
        sa.select(roster_t.c.start_ms, roster_t.c.agents).where(
            roster_t.c.team == team,
            roster_t.c.start_ms >= start_ms,
            roster_t.c.start_ms < end_ms,
        )
    )
    return {int(r.start_ms): int(r.agents) for r in rows}


def accept_caps(
    conn: Connection,
    caps: Mapping[int, int],
    *,
    recommended: int | None,
    scope: str,
    actor_id: int | None,
    actor: str,
    at_ms: int,
) -> list[dict[str, int]]:
    """Set the agents' caps and record one audit row per agent, in the caller's transaction
    (a cap is never changed without its row); each agent's before and after."""
    ids = sorted(caps)
    before = {
        int(r.id): int(r.cap)
        for r in conn.execute(
            sa.select(agents_t.c.id, agents_t.c.cap).where(agents_t.c.id.in_(ids))
        )
    }
    changed: list[dict[str, int]] = []
    for agent_id in ids:
        if agent_id not in before:
            continue
        cap = caps[agent_id]
        conn.execute(sa.update(agents_t).where(agents_t.c.id == agent_id).values(cap=cap))
        conn.execute(
            sa.insert(cap_audit_t).values(
                agent_id=agent_id,
                cap_before=before[agent_id],
                cap_after=cap,
                recommended=recommended,
                scope=scope,
                actor_id=actor_id,
                actor=actor,
                at_ms=at_ms,
            )
        )
        changed.append({"agent_id": agent_id, "before": before[agent_id], "after": cap})
    return changed


def cap_audit(conn: Connection, limit: int = AUDIT_LIMIT) -> list[dict[str, Any]]:
    """The latest accepted caps first, with the agent's name."""
    rows = conn.execute(
        sa.select(cap_audit_t, agents_t.c.name.label("agent_name"))
        .join(agents_t, agents_t.c.id == cap_audit_t.c.agent_id)
        .order_by(cap_audit_t.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]
