"""KB matcher figures: 10,000 synthetic multilingual articles, then the labelled set.

Run: python benchmarks/kb_suggest.py [--articles 10000] [--queries 2000]
Prints progress to stderr and ONE JSON line, last, on stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.article import Article  # noqa: E402
from kb.evaluate import evaluate, percentile, read_queries  # noqa: E402
from kb.io import read_jsonl  # noqa: E402
from kb.matcher import KnowledgeIndex  # noqa: E402
from kb.normalize import words  # noqa: E402

DATA = ROOT / "tests" / "data"


def vocabulary(articles: list[Article]) -> dict[str, list[str]]:
    """Real words per language from the labelled KB, so synthetic text has real inflection."""
    vocab: dict[str, list[str]] = {}
    for a in articles:
        vocab.setdefault(a.lang, []).extend(w for w in f"{a.title} {a.body}".split() if w.isalpha())
    # Shuffled (seeded) so the frequent head of the Zipf draw is not just the A-words.
    rng = random.Random(7)
    out = {}
    for lang, ws in vocab.items():
        uniq = sorted(set(ws))
        rng.shuffle(uniq)
        out[lang] = uniq
    return out


def pseudo_words(real: list[str], count: int, rng: random.Random) -> list[str]:
    """Made-up words from the language's own syllables: a long tail of rare terms (product
    names, jargon) such as any real 10,000-article knowledge base has."""
    chunks = sorted({w[i : i + 3].lower() for w in real for i in range(0, max(1, len(w) - 2), 2)})
    made: dict[str, None] = {}
    while len(made) < count:
        made["".join(rng.choice(chunks) for _ in range(rng.randint(2, 4)))] = None
    return list(made)


def synthetic(n: int, vocab: dict[str, list[str]], rng: random.Random) -> list[Article]:
    langs = sorted(vocab)
    tails = {lang: pseudo_words(vocab[lang], 6000, rng) for lang in langs}
    out: list[Article] = []
    for i in range(n):
        lang = langs[i % len(langs)]
        head, tail = vocab[lang], tails[lang]

        def pick(k: int, head: list[str] = head, tail: list[str] = tail) -> list[str]:
            # Zipf-like over both lists: low indices far more common, as in real text.
            picked = []
            for _ in range(k):
                ws = head if rng.random() < 0.6 else tail
                picked.append(ws[min(len(ws) - 1, int(rng.paretovariate(0.8)) - 1)])
            return picked

        product = (
            f"{rng.choice(['Nova', 'Orbit', 'Lumo', 'Vega', 'Kvark'])}{rng.randint(100, 9999)}"
        )
        title = " ".join(pick(rng.randint(4, 8)) + [product])
        body = " ".join(pick(rng.randint(40, 90)))
        tags = tuple(pick(3))
        out.append(Article(f"syn-{i}", lang, title, body, tags, updated_ms=i))
    return out


def make_queries(articles: list[Article], count: int, rng: random.Random) -> list[tuple[str, str]]:
    queries: list[tuple[str, str]] = []
    for _ in range(count):
        a = rng.choice(articles)
        ws = words(a.title.lower()) + rng.sample(words(a.body.lower()), 3)
        chosen = rng.sample(ws, min(len(ws), rng.randint(2, 5)))
        if chosen and rng.random() < 0.3:  # a typo: drop one letter
            w = chosen[0]
            if len(w) > 4:
                j = rng.randrange(len(w))
                chosen[0] = w[:j] + w[j + 1 :]
        queries.append((" ".join(chosen), a.lang))
    return queries


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=2_000)
    args = ap.parse_args()
    rng = random.Random(20261122)
    labelled = read_jsonl(DATA / "kb_articles.jsonl")
    arts = synthetic(args.articles, vocabulary(labelled), rng)

    gc.collect()
    t0 = time.perf_counter()
    index = KnowledgeIndex(arts)
    build_s = time.perf_counter() - t0
    del index
    gc.collect()
    tracemalloc.start()
    index = KnowledgeIndex(arts)
    mem_bytes, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"built {len(index)} in {build_s:.2f}s, {mem_bytes / 1e6:.1f} MB", file=sys.stderr)

    queries = make_queries(arts, args.queries * 3 // 5, rng)
    # Chat sentences and long multi-sentence messages as customers write them, in the mix.
    chat = [
        (q.text, q.lang or "")
        for q in read_queries(DATA / "kb_queries.jsonl")
        if q.style in ("sentence", "long")
    ]
    queries += [rng.choice(chat) for _ in range(args.queries - len(queries))]
    rng.shuffle(queries)
    for text, lang in queries[:50]:  # warm-up
        index.suggest(text, lang or None)
    times: list[float] = []
    # CPU time of this thread too: on a shared machine wall time also counts the waits for a
    # core, which say more about the neighbours than about the matcher.
    cpu_times: list[float] = []
    for text, lang in queries:
        t = time.perf_counter()
        c = time.thread_time()
        index.suggest(text, lang or None)
        cpu_times.append((time.thread_time() - c) * 1000.0)
        times.append((time.perf_counter() - t) * 1000.0)

    upserts: list[float] = []
    for i in range(200):
        a = arts[rng.randrange(len(arts))]
        edited = Article(
            a.id, a.lang, a.title + " " + rng.choice(a.body.split()), a.body, a.tags, i
        )
        t = time.perf_counter()
        index.upsert(edited)
        upserts.append((time.perf_counter() - t) * 1000.0)

    ev = evaluate(KnowledgeIndex(labelled), read_queries(DATA / "kb_queries.jsonl"))
    result = {
        "benchmark": "kb_suggest",
        "articles": len(index),
        "build_s": round(build_s, 3),
        "index_mb": round(mem_bytes / 1e6, 1),
        "suggest_p50_ms": round(percentile(times, 50), 3),
        "suggest_p99_ms": round(percentile(times, 99), 3),
        "suggest_max_ms": round(max(times), 3),
        "suggest_cpu_p50_ms": round(percentile(cpu_times, 50), 3),
        "suggest_cpu_p99_ms": round(percentile(cpu_times, 99), 3),
        "upsert_p50_ms": round(percentile(upserts, 50), 3),
        "upsert_p99_ms": round(percentile(upserts, 99), 3),
        "queries": len(times),
        "chat_share": round(sum(len(t) > 40 for t, _ in queries) / len(queries), 2),
        "eval": ev.to_dict(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
