"""The repository stands alone: no tracked file cites a design document that
lives outside it (a person who clones it could not read one); docs/ holds
what the code refers to."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"\b(?:CLIENT|CONTRACT|ORIGINAL|OFFLINE_STACK|STYLE)\.md\b|\.\./shared\b")


def test_no_tracked_file_cites_a_document_outside_the_repository() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    citing = []
    for name in files:
        path = REPO / name
        if path.suffix in {".png", ".ico", ".whl", ".zip"} or not path.is_file() or path == Path(__file__):
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        citing += [f"{name}: {match.group(0)}" for match in OUTSIDE.finditer(text)]
    assert citing == []
