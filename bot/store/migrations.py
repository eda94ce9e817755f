"""Numbered SQL files per dialect (`bot/store/<dialect>/migrations/NNNN_name.sql`), applied in
order and recorded in `schema_migrations`; each engine applies them inside its own lock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(sql: str) -> tuple[str, ...]:
    """Our migration files hold plain statements ending in `;` (no semicolons inside literals)."""
    text = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return tuple(statement.strip() for statement in text.split(";") if statement.strip())


def load(dialect: str) -> list[Migration]:
    folder = resources.files(f"bot.store.{dialect}").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), split_statements(entry.read_text("utf-8"))))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{dialect} migrations must be numbered 1..n without gaps: {versions}")
    return found
