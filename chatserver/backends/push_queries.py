"""Web Push's rows: agents' browser subscriptions, the server's VAPID key pair, whether a
console is in front of the agent, and the agent's notification choice; sync functions of
one connection."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from chatserver.backends.models import Agent, ConsoleFocus, PushKey, PushSubscription

subs_t: sa.Table = PushSubscription.__table__  # type: ignore[attr-defined]
keys_t: sa.Table = PushKey.__table__  # type: ignore[attr-defined]
focus_t: sa.Table = ConsoleFocus.__table__  # type: ignore[attr-defined]
agents_t: sa.Table = Agent.__table__  # type: ignore[attr-defined]

KEY_ROW = 1


def subscribe(
    conn: Connection, agent_id: int, endpoint: str, p256dh: str, auth: str, now_ms: int
) -> None:
    """The browser's subscription, now the agent's (a browser handed to a colleague moves
    with its endpoint)."""
    conn.execute(sa.delete(subs_t).where(subs_t.c.endpoint == endpoint))
    conn.execute(
        sa.insert(subs_t).values(
            agent_id=agent_id, endpoint=endpoint, p256dh=p256dh, auth=auth, created_ms=now_ms
        )
    )


def unsubscribe(conn: Connection, agent_id: int, endpoint: str) -> int:
    return int(
        conn.execute(
            sa.delete(subs_t).where(subs_t.c.agent_id == agent_id, subs_t.c.endpoint == endpoint)
        ).rowcount
    )


def forget_endpoint(conn: Connection, endpoint: str) -> None:
    """The push service said the subscription is gone (404/410)."""
    conn.execute(sa.delete(subs_t).where(subs_t.c.endpoint == endpoint))


def subscriptions(conn: Connection, agent_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(subs_t.c.endpoint, subs_t.c.p256dh, subs_t.c.auth)
        .where(subs_t.c.agent_id == agent_id)
        .order_by(subs_t.c.id)
    )
    return [dict(r._mapping) for r in rows]


def subscribed_agents(conn: Connection) -> set[int]:
    """Agents with at least one subscription."""
    return {int(r[0]) for r in conn.execute(sa.select(subs_t.c.agent_id).distinct())}


def key_pair(conn: Connection) -> tuple[str, str] | None:
    row = conn.execute(
        sa.select(keys_t.c.private_pem, keys_t.c.public_key).where(keys_t.c.id == KEY_ROW)
    ).first()
    return None if row is None else (row.private_pem, row.public_key)


def save_key_pair(conn: Connection, private_pem: str, public_key: str, now_ms: int) -> None:
    """Raises IntegrityError when another node made the pair first (read theirs)."""
    conn.execute(
        sa.insert(keys_t).values(
            id=KEY_ROW, private_pem=private_pem, public_key=public_key, created_ms=now_ms
        )
    )


def set_focus(conn: Connection, agent_id: int, until_ms: int) -> None:
    updated = conn.execute(
        sa.update(focus_t).where(focus_t.c.agent_id == agent_id).values(until_ms=until_ms)
    ).rowcount
    if not updated:
        conn.execute(sa.insert(focus_t).values(agent_id=agent_id, until_ms=until_ms))


def focused(conn: Connection, agent_id: int, now_ms: int) -> bool:
    until = conn.execute(
        sa.select(focus_t.c.until_ms).where(focus_t.c.agent_id == agent_id)
    ).scalar()
    return until is not None and int(until) > now_ms


def notify_choice(conn: Connection, agent_id: int) -> bool | None:
    value = conn.execute(
        sa.select(agents_t.c.notify_desktop).where(agents_t.c.id == agent_id)
    ).scalar()
    return None if value is None else bool(value)


def set_notify_choice(conn: Connection, agent_id: int, on: bool) -> None:
    conn.execute(sa.update(agents_t).where(agents_t.c.id == agent_id).values(notify_desktop=on))
