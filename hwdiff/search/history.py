"""The last search's result, so that later commands (``hwdiff export``) can default to its best arch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hwdiff.errors import HwdiffError
from hwdiff.storage import atomic_write_text, user_dir


def last_search_path() -> Path:
    return user_dir("searches") / "last.json"


def save_last_search(result: dict[str, Any]) -> Path:
    """Store a search result (the ``hwdiff search --json`` document) as the last search."""
    path = last_search_path()
    atomic_write_text(path, json.dumps(result, indent=2, allow_nan=False) + "\n")
    return path


def last_search() -> dict[str, Any] | None:
    """The last search's result document, or ``None`` when there was none."""
    path = last_search_path()
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HwdiffError(f"the last search's result {path} is unreadable ({exc}); run `hwdiff search` again") from None
    if not isinstance(doc, dict) or "space" not in doc or "candidates" not in doc:
        raise HwdiffError(f"the last search's result {path} is not a search result; run `hwdiff search` again")
    return doc


def last_best_arch() -> tuple[str, dict[str, Any]]:
    """(best arch, the search document) of the last search; ``HwdiffError`` when there is none."""
    doc = last_search()
    if doc is None:
        raise HwdiffError("no search has been run yet: give an architecture, or run `hwdiff search` first")
    if not doc["candidates"]:
        raise HwdiffError("the last search found no candidates: give an architecture, or search again")
    return doc["candidates"][0]["arch"], doc
