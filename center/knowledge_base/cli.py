"""`center kb import DIR` / `center kb export DIR`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from center.knowledge_base.io import export_dir, import_dir
from center.records.db import Database


async def _with_db(settings: Any, work: Any) -> Any:
    db = Database(
        settings.resolved_database_url, schema=getattr(settings, "database_schema", None) or None
    )
    try:
        await db.migrate()
        return await work(db)
    finally:
        await db.dispose()


def _import(args: argparse.Namespace, settings: Any) -> int:
    folder = Path(args.dir)
    if not folder.is_dir():  # before migrating anything: a typo'd path is the usual mistake
        print(f"center kb import: not a directory: {folder}", file=sys.stderr)
        return 2
    result = asyncio.run(_with_db(settings, lambda db: import_dir(db, folder)))
    print(result.summary())
    for message in result.warnings:
        print(f"warning: {message}", file=sys.stderr)
    for message in result.errors:
        print(f"rejected: {message}", file=sys.stderr)
    return 1 if result.errors else 0


def _export(args: argparse.Namespace, settings: Any) -> int:
    count = asyncio.run(_with_db(settings, lambda db: export_dir(db, Path(args.dir))))
    print(f"exported {count} articles to {args.dir}")
    return 0


def register(subparsers: Any) -> None:
    kb = subparsers.add_parser("kb", help="knowledge base: import/export Markdown folders")
    commands = kb.add_subparsers(dest="kb_command", required=True)
    imp = commands.add_parser("import", help="import a folder of .md files with front matter")
    imp.add_argument("dir")
    imp.set_defaults(func=_import)
    exp = commands.add_parser("export", help="write every article as .md files")
    exp.add_argument("dir")
    exp.set_defaults(func=_export)
