"""Knowledge-base benchmark: import speed, hybrid search latency, the in-memory vector
index (build time, memory) over generated articles, then the quality figures of
bench/kb_quality.py on the evaluation set.

    .venv/bin/python bench/kb.py [--articles 10000] [--queries 300] [--no-quality]

Runs on a temporary SQLite file, and also on PostgreSQL when CENTER_DATABASE_URL is set
(in a throwaway schema). The anchor is a `SELECT 1` round trip on the same database in the
same run. Prints figures; asserts nothing about timing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from center.knowledge_base import index
from center.knowledge_base.io import import_dir
from center.knowledge_base.search import search
from center.records.db import Database

TOPICS = {
    "accounts": "password login email profile security locked two-factor username account",
    "billing": "invoice payment card refund charge subscription receipt discount declined",
    "shipping": "delivery tracking parcel courier address customs express pickup delayed",
    "returns": "return exchange label refund warehouse size colour damaged policy",
    "troubleshooting": "app crash browser cache error update reinstall notification loading",
}
FILLER = [
    "please",
    "the",
    "customer",
    "can",
    "you",
    "will",
    "our",
    "team",
    "when",
    "after",
    "before",
    "within",
    "days",
    "hours",
    "each",
    "order",
    "item",
    "account",
    "page",
    "settings",
    "option",
    "button",
    "screen",
    "message",
    "email",
    "support",
    "help",
]
QUERIES = [
    "how do I reset my password",
    "track my parcel",
    "refund not received",
    "pasword reset",
    '"tracking number"',
    "subscr*",
    "app keeps crashing",
    "change delivery address",
    "charged twice",
    "customs fees for international delivery",
    "return label",
    "locked out",
    "hi, I was charged twice for my subscription last month and I'd like the money back",
    "my parcel has not arrived and the courier tracking says delayed, what can I do",
    "app keeps crashing after the update",
    "how do I get a receipt for my invoice",
]


def _write_corpus(root: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    topics = list(TOPICS)
    for i in range(count):
        topic = topics[i % len(topics)]
        words = TOPICS[topic].split()
        title = " ".join(rng.sample(words, 3)).capitalize() + f" guide {i}"
        paragraphs = [
            " ".join(rng.choice(words if rng.random() < 0.3 else FILLER) for _ in range(60))
            for _ in range(4)
        ]
        folder = root / topic
        folder.mkdir(exist_ok=True)
        front = f"---\nslug: {topic}-{i}\ntitle: {title}\nstatus: published\ntags: [{topic}]\n---\n"
        (folder / f"{topic}-{i}.md").write_text(front + "\n\n".join(paragraphs))


async def _run(url: str, schema: str | None, corpus: Path, queries: int) -> None:
    db = Database(url, schema=schema)
    try:
        await db.migrate()
        started = time.perf_counter()
        result = await import_dir(db, corpus)
        elapsed = time.perf_counter() - started
        total = result.created + result.updated + result.unchanged
        print(
            f"  import: {total} articles in {elapsed:.1f} s = {total / elapsed:.0f} articles/s"
            " (vectors computed at save)"
        )
        index.forget(db)  # as a freshly started process: the index is built at first search
        started = time.perf_counter()
        async with db.read() as session:
            idx = await index.current(db, session)
        built = time.perf_counter() - started
        print(
            f"  vector index: built in {built:.2f} s, {len(idx.order)} articles,"
            f" {idx.matrix.shape[0]} vectors x {idx.matrix.shape[1]} float32 ="
            f" {idx.nbytes / 2**20:.1f} MiB"
        )
        anchor = []
        for _ in range(200):
            started = time.perf_counter()
            async with db.read() as session:
                await session.execute(text("SELECT 1"))
            anchor.append((time.perf_counter() - started) * 1000)
        rng = random.Random(1)
        latencies, hits = [], 0
        for _ in range(20):  # warm caches and the connection pool
            await search(db, rng.choice(QUERIES), log=False)
        for _ in range(queries):
            started = time.perf_counter()
            found = await search(db, rng.choice(QUERIES))
            latencies.append((time.perf_counter() - started) * 1000)
            hits += bool(found)
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        base = statistics.median(anchor)
        p50 = statistics.median(latencies)
        print(
            f"  hybrid search: {queries} queries, p50 {statistics.median(latencies):.2f} ms, "
            f"p99 {p99:.2f} ms, max {latencies[-1]:.2f} ms, {hits} with results"
        )
        print(
            f"  anchor SELECT 1: p50 {base:.3f} ms; search p50 = {p50 / base:.0f}x,"
            f" p99 = {p99 / base:.0f}x the anchor"
        )
    finally:
        if schema:
            async with db.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--no-quality", action="store_true", help="skip bench/kb_quality.py")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        _write_corpus(corpus, args.articles)
        print(f"SQLite (FTS5), {args.articles} articles")
        await _run(f"sqlite+aiosqlite:///{tmp}/kb.db", None, corpus, args.queries)
        if (url := os.environ.get("CENTER_DATABASE_URL", "")).startswith("postgresql"):
            print(f"PostgreSQL (tsvector + GIN), {args.articles} articles")
            await _run(url, f"bench_{uuid.uuid4().hex[:8]}", corpus, args.queries)
    if not args.no_quality:
        import kb_quality  # (bench/ is on sys.path when this file runs)

        print("\nQuality on the evaluation set (bench/kb_quality.py)")
        await kb_quality.main([])


if __name__ == "__main__":
    asyncio.run(main())
