"""Search quality on the evaluation set (tests/knowledge_base/eval): top-1 / top-3 per kind
of question and the precision of answer(), on SQLite and, when CENTER_DATABASE_URL points
at PostgreSQL, on PostgreSQL too, with whether both ranked every question the same.

    .venv/bin/python bench/kb_quality.py [--misses]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import text

from center.knowledge_base.evaluate import Report, build, evaluate, load
from center.records.db import Database

EVAL = Path(__file__).resolve().parent.parent / "tests" / "knowledge_base" / "eval"


async def run(url: str, schema: str | None, misses: bool) -> Report:
    db = Database(url, schema=schema)
    try:
        await db.migrate()
        articles, questions = await load(EVAL)
        ids = await build(db, articles)
        report = await evaluate(db, ids, questions)
        for line in report.lines():
            print(line)
        if misses:
            for name, kind in report.kinds.items():
                for miss in kind.misses:
                    print(f"    {name}: {miss}")
        # Ids differ between databases only if insert order does; compare by slug.
        slugs = {v: k for k, v in ids.items()}
        report.results = {q: [slugs[i] for i in top] for q, top in report.results.items()}  # type: ignore[misc]
        return report
    finally:
        if schema:
            async with db.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await db.dispose()


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list the questions missed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite (FTS5 + vectors)")
        lite = await run(f"sqlite+aiosqlite:///{tmp}/kb.db", None, args.misses)
    if (url := os.environ.get("CENTER_DATABASE_URL", "")).startswith("postgresql"):
        print("PostgreSQL (tsvector + vectors)")
        pg = await run(url, f"quality_{uuid.uuid4().hex[:8]}", args.misses)
        same = sum(lite.results[q] == pg.results[q] for q in lite.results)
        print(f"  same top-3 on both databases: {same}/{len(lite.results)}")
        for q in lite.results:
            if lite.results[q] != pg.results[q]:
                print(f"    differs: {q!r}: SQLite {lite.results[q]}, PostgreSQL {pg.results[q]}")


if __name__ == "__main__":
    asyncio.run(main())
