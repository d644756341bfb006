"""Every ```python block in README.md and docs/*.md runs, in order, one namespace per page.

A block whose first line is `# doc: needs <service>` or `# doc: no-run <reason>` is not run
here; the behaviour it shows is covered by the tests of that part.
"""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def pages() -> list[Path]:
    return [DOCS.parent / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.name)
def test_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for block in BLOCK.findall(page.read_text()):
        if block.startswith("# doc: needs") or block.startswith("# doc: no-run"):
            continue
        exec(compile(block, str(page), "exec"), namespace)
