"""Import/export of Markdown folders with front matter, and the `center kb` command."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from center.knowledge_base.io import SAMPLE_DIR, export_dir, import_dir
from center.knowledge_base.models import Article, Category, Revision
from center.records.db import Database


async def test_sample_kb_is_realistic(kb: Database) -> None:
    async with kb.read() as session:
        articles = list(await session.scalars(select(Article)))
    assert len(articles) >= 30
    assert all(a.answer and len(a.answer) <= 320 and a.status == "published" for a in articles)


async def test_round_trip_and_reimport_is_unchanged(kb: Database, tmp_path: Path) -> None:
    count = await export_dir(kb, tmp_path)
    again = await import_dir(kb, tmp_path)
    assert again.created == 0 and again.updated == 0 and again.unchanged == count
    assert not again.errors
    text = await asyncio.to_thread((tmp_path / "billing" / "charged-twice.md").read_text)
    assert text.startswith("---\nslug: charged-twice\n") and "authorisation hold" in text


async def test_changed_file_updates_with_a_revision_and_errors_name_files(
    db: Database, tmp_path: Path
) -> None:
    def write() -> None:
        (tmp_path / "faq").mkdir()
        (tmp_path / "faq" / "hours.md").write_text("---\ntitle: Opening hours\n---\nNine to five.")
        (tmp_path / "faq" / "broken.md").write_text("no front matter here")

    await asyncio.to_thread(write)
    first = await import_dir(db, tmp_path, author_id=None)
    assert first.created == 1 and len(first.errors) == 1 and "broken.md" in first.errors[0]
    await asyncio.to_thread(
        (tmp_path / "faq" / "hours.md").write_text, "---\ntitle: Opening hours\n---\nNine to six."
    )
    second = await import_dir(db, tmp_path)
    assert second.updated == 1
    async with db.read() as session:
        article = await session.scalar(select(Article).where(Article.slug == "hours"))
        revisions = await session.scalar(select(func.count()).select_from(Revision))
    assert article is not None and article.body_text == "Nine to six."
    assert revisions == 2


def test_cli_import_then_export(settings: object, tmp_path: Path) -> None:
    import argparse

    from center.knowledge_base.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["kb", "import", str(SAMPLE_DIR)])
    assert args.func(args, settings) == 0
    args = parser.parse_args(["kb", "export", str(tmp_path / "out")])
    assert args.func(args, settings) == 0
    assert len(list((tmp_path / "out").rglob("*.md"))) >= 30


async def test_front_matter_is_checked_and_the_summary_counts_each_outcome(
    db: Database, tmp_path: Path
) -> None:
    def write() -> None:
        (tmp_path / "Billing & Payments").mkdir()
        (tmp_path / "Billing & Payments" / "refunds.md").write_text(
            "---\ntitle: Refunds\nstatus: published\nauthor: sam\n---\nFive days."
        )
        (tmp_path / "Billing & Payments" / "card.md").write_text(
            "---\ntitle: Your card\ncategory: Cards & Wallets\n---\nUpdate it."
        )
        (tmp_path / "bad.md").write_text("---\ntitle: Bad\nstatus: live\n---\nx")

    await asyncio.to_thread(write)
    result = await import_dir(db, tmp_path)
    assert (result.published, result.drafted, len(result.errors)) == (1, 1, 1)
    assert result.summary().startswith("published 1, drafted 1, rejected 1")
    assert "bad.md" in result.errors[0] and "status" in result.errors[0]
    assert any("unknown front-matter key 'author'" in w for w in result.warnings)
    assert any("card.md: no status, imported as a draft" in w for w in result.warnings)
    async with db.read() as session:
        categories = {c.slug: c.name for c in await session.scalars(select(Category))}
    assert categories == {
        "billing-payments": "Billing & Payments",
        "cards-wallets": "Cards & Wallets",
    }


def test_cli_import_prints_the_summary_and_what_was_rejected(
    settings: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from center.knowledge_base.cli import register

    (tmp_path / "a.md").write_text("---\ntitle: A\nextra: 1\n---\nA.")
    (tmp_path / "b.md").write_text("no front matter")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["kb", "import", str(tmp_path)])
    assert args.func(args, settings) == 1
    out, err = capsys.readouterr()
    assert out.startswith("published 0, drafted 1, rejected 1")
    assert "warning:" in err and "'extra'" in err and "rejected:" in err and "b.md" in err
