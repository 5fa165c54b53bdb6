"""Inbox search figures: N synthetic multilingual messages on SQLite (FTS5) and on
PostgreSQL (tsvector + GIN), indexed the way the hub indexes them (kb.normalize folding,
``SearchIndex.catch_up``), then random one- and two-word queries as a supervisor.

Each query is also answered the way search worked before it walked hits newest first
(every match joined and sorted by time, then counted up to 1,000): ``baseline`` below,
run alternately with the current search on the same database, so the ratio holds on a
noisy machine.

Run: python benchmarks/search.py [--messages 1000000] [--queries 300] [--db both]
[--postgres-url URL]: with a URL, PostgreSQL is measured on that database, loaded and
indexed only when it holds no messages yet (and kept), so that a change to the queries is
measured again without loading a million messages again.
Prints progress to stderr and ONE JSON line, last, on stdout: per database the load and
index times, query p50/p95/max (ms, one page of 20 with its total), the baseline's p50/p95,
the p95 ratio (baseline / current) and the index size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from chatserver.backends.db import upgrade  # noqa: E402
from chatserver.backends.inbox_queries import Filters  # noqa: E402
from chatserver.backends.models import Conversation, Message, Visitor  # noqa: E402
from chatserver.backends.search_queries import (  # noqa: E402
    conversations_t,
    docs_t,
    messages_t,
)
from chatserver.backends.store import Store  # noqa: E402
from chatserver.core.reports import percentile  # noqa: E402
from chatserver.services.search import SearchIndex, query_variants, snippet  # noqa: E402

WORDS = (
    "račun faktura paket dostava narudžba povrat kartica plaćanje lozinka prijava "
    "комада поруџбина рачун испорука шифра заказ доставка оплата возврат пароль "
    "invoice parcel delivery order refund card payment password login account "
    "comandă livrare plată parolă colet sąskaita pristatymas užsakymas slaptažodis "
    "naročilo dostava plačilo geslo paket late broken missing wrong size colour help"
).split()
SYLLABLES = "ba ke ri zo mu ta ve ni sa lo pe du gri sto vla če ža ši ру ка ло ми".split()
# Made-up words beside the real ones, so that a word is about as rare as in real chats.
RARE = sorted({"".join(random.Random(i).choices(SYLLABLES, k=3)) for i in range(20_000)})
CONVERSATION_SIZE = 20
LOAD_BATCH = 20_000


def word(rng: random.Random) -> str:
    return rng.choice(WORDS) if rng.random() < 0.3 else rng.choice(RARE)


def text(rng: random.Random) -> str:
    return " ".join(word(rng) for _ in range(rng.randint(6, 18)))


async def load(store: Store, n: int, rng: random.Random) -> None:
    convs_t = Conversation.__table__  # type: ignore[attr-defined]
    msgs_t = Message.__table__  # type: ignore[attr-defined]
    visitors_t = Visitor.__table__  # type: ignore[attr-defined]
    now = int(time.time() * 1000)
    n_convs = max(1, n // CONVERSATION_SIZE)
    for start in range(0, n_convs, LOAD_BATCH):
        ids = range(start, min(n_convs, start + LOAD_BATCH))
        visitors = [
            {"id": f"v{i}", "site": "default", "created_ms": now, "last_seen_ms": 0} for i in ids
        ]
        convs = [
            {
                "id": f"c{i}",
                "visitor_id": f"v{i}",
                "site": "default",
                "state": "closed",
                "created_ms": now - i,
                "last_seq": CONVERSATION_SIZE,
            }
            for i in ids
        ]

        def write(conn: Any, visitors: list[Any] = visitors, convs: list[Any] = convs) -> None:
            conn.execute(sa.insert(visitors_t), visitors)
            conn.execute(sa.insert(convs_t), convs)

        await store.write(write)
    done = 0
    while done < n:
        rows = []
        for k in range(done, min(n, done + LOAD_BATCH)):
            conv, seq = divmod(k, CONVERSATION_SIZE)
            rows.append(
                {
                    "conversation_id": f"c{conv % n_convs}",
                    "seq": seq + 1 + (conv // n_convs) * CONVERSATION_SIZE,
                    "kind": "text",
                    "author": "visitor" if seq % 2 == 0 else "agent",
                    "body": text(rng),
                    # Later messages are newer, as in a live database.
                    "created_ms": now - n + k,
                }
            )
        await store.write(lambda conn, rows=rows: conn.execute(sa.insert(msgs_t), rows))
        done += len(rows)
        print(f"  loaded {done:,} messages", file=sys.stderr)


def baseline(conn: Any, variants: list[list[str]]) -> tuple[list[dict[str, Any]], int]:
    """The search before this one, for a supervisor: every match joined to its message and
    sorted by time for one page of 20, and a count that stops at 1,000."""
    if conn.dialect.name == "postgresql":
        query = " | ".join("(" + " & ".join(f"{t}:*" for t in v) + ")" for v in variants)
        tsv: Any = sa.literal_column("search_docs.tsv")
        matched = tsv.op("@@")(sa.func.to_tsquery("simple", query))
    else:
        query = " OR ".join("(" + " ".join(f'"{t}"*' for t in v) + ")" for v in variants)
        hits = sa.text("SELECT rowid FROM search_fts WHERE search_fts MATCH :q").bindparams(q=query)
        matched = docs_t.c.id.in_(hits.columns(sa.column("rowid", sa.Integer)))
    joined = docs_t.join(conversations_t, conversations_t.c.id == docs_t.c.conversation_id).join(
        messages_t, messages_t.c.id == docs_t.c.message_id
    )
    where = sa.and_(docs_t.c.kind == "message", matched)
    rows = conn.execute(
        sa.select(docs_t.c.conversation_id, messages_t.c.seq, messages_t.c.body)
        .select_from(joined)
        .where(where)
        .order_by(docs_t.c.created_ms.desc(), docs_t.c.id.desc())
        .limit(20)
    )
    items = [dict(r._mapping) for r in rows]
    capped = sa.select(sa.literal(1)).select_from(joined).where(where).limit(1001)
    total = conn.execute(sa.select(sa.func.count()).select_from(capped.subquery())).scalar_one()
    return items, int(total)


async def database_bytes(store: Store, sqlite: bool) -> int:
    """SQLite: the database's logical size (pages × page size); PostgreSQL: the search
    table with its indexes (the GIN index, the tsvector column)."""
    if sqlite:
        return int(
            await store.read(
                lambda c: (
                    c.execute(sa.text("PRAGMA page_count")).scalar()
                    * c.execute(sa.text("PRAGMA page_size")).scalar()
                )
            )
        )
    return int(
        await store.read(
            lambda c: c.execute(sa.text("SELECT pg_total_relation_size('search_docs')")).scalar()
        )
    )


async def measure(url: str, n: int, queries: int, sqlite: bool) -> dict[str, Any]:
    await asyncio.to_thread(upgrade, url)
    store = Store(url)
    await store.start()
    rng = random.Random(16)
    try:
        t0 = time.perf_counter()
        count = sa.select(sa.func.count(messages_t.c.id))
        if await store.read(lambda c: c.execute(count).scalar_one()) == 0:
            await load(store, n, rng)
        else:
            # A kept database: the texts drawn while loading it, drawn again so that the
            # queries below are the same ones.
            for _ in range(n):
                text(rng)
        loaded_s = time.perf_counter() - t0
        size_before = await database_bytes(store, sqlite) if sqlite else 0
        index = SearchIndex(store, 3600)
        t0 = time.perf_counter()
        while await index.catch_up(max_batches=100):
            print("  indexing…", file=sys.stderr)
        indexed_s = time.perf_counter() - t0
        # Fresh statistics, as autovacuum would gather after a bulk load: without them the
        # planner takes the new tables for empty and never uses the full-text index.
        await store.write(lambda c: c.execute(sa.text("ANALYZE")))
        # SQLite: what indexing added (the docs table and the FTS5 index).
        size = await database_bytes(store, sqlite) - size_before
        reader = Filters(view="all", me=0, supervisor=True, limit=20)
        times: list[float] = []
        before: list[float] = []
        hits: list[int] = []
        asked: list[str] = []
        for _ in range(queries):
            q = " ".join(word(rng) for _ in range(rng.choice((1, 2))))
            asked.append(q)
            t0 = time.perf_counter()
            items, total = await index.search(q, "messages", reader)
            times.append((time.perf_counter() - t0) * 1000)
            hits.append(total)
            t0 = time.perf_counter()
            variants = query_variants(q)
            old, _ = await store.read(lambda c, v=variants: baseline(c, v))
            for r in old:
                snippet(r["body"], variants)
            before.append((time.perf_counter() - t0) * 1000)
        slowest = sorted(zip(times, asked, hits, strict=True), reverse=True)[:8]
        for ms, q, total in slowest:
            print(f"  slow: {ms:.1f} ms {q!r} ({total} hits)", file=sys.stderr)
        times.sort()
        before.sort()
        return {
            "messages": n,
            "load_s": round(loaded_s, 1),
            "index_s": round(indexed_s, 1),
            "index_bytes": size,
            "query_p50_ms": round(percentile(times, 0.5) or 0, 1),
            "query_p95_ms": round(percentile(times, 0.95) or 0, 1),
            "query_max_ms": round(times[-1], 1),
            "median_hits": sorted(hits)[len(hits) // 2],
            "baseline_p50_ms": round(percentile(before, 0.5) or 0, 1),
            "baseline_p95_ms": round(percentile(before, 0.95) or 0, 1),
            "p95_speedup": round(
                (percentile(before, 0.95) or 0) / (percentile(times, 0.95) or 1), 1
            ),
        }
    finally:
        await store.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", help="a database to load once and keep")
    args = parser.parse_args()
    out: dict[str, Any] = {"benchmark": "search", "messages": args.messages}
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "search.db"
            print("sqlite:", file=sys.stderr)
            out["sqlite"] = asyncio.run(
                measure(f"sqlite:///{path}", args.messages, args.queries, True)
            )
    if args.db in ("postgres", "both") and args.postgres_url:
        print("postgres (kept):", file=sys.stderr)
        out["postgres"] = asyncio.run(
            measure(args.postgres_url, args.messages, args.queries, False)
        )
    elif args.db in ("postgres", "both"):
        from tests.servers import postgres_database

        os.environ.setdefault("CI", "")
        with postgres_database() as url:
            print("postgres:", file=sys.stderr)
            out["postgres"] = asyncio.run(measure(url, args.messages, args.queries, False))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
