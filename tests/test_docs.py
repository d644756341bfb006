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


LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_readme_links_stay_in_the_repository() -> None:
    root = DOCS.parent
    for target in LINK.findall((root / "README.md").read_text()):
        if target.startswith(("http://", "https://", "#")):
            continue
        path = (root / target.split("#")[0]).resolve()
        assert path.is_relative_to(root.resolve()), f"README links outside the repo: {target}"
        assert path.exists(), f"README links a missing file: {target}"


def test_planning_example_prints_what_it_says(capsys: pytest.CaptureFixture[str]) -> None:
    block = BLOCK.findall((DOCS / "planning.md").read_text())[0]
    exec(compile(block, "planning.md", "exec"), {"__name__": "docs_planning"})
    assert capsys.readouterr().out.splitlines()[-1] == "{'s1': '3', 's2': '4', 's3': '7'}"


def test_cli_docs_cover_every_option_setting_and_exit_code() -> None:
    import typer.main

    from mainspring.cli.app import app
    from mainspring.cli.exit_codes import STOP_EXIT_CODES
    from mainspring.config import Settings, env_name

    run = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    synopsis = (DOCS / "agent.md").read_text().split("## The CLI")[1]
    cli = (DOCS / "cli.md").read_text()
    for param in run.params:
        for flag in param.opts:
            if flag.startswith("--") and flag != "--help":
                assert flag in synopsis and flag in cli, f"{flag} is not documented"
    for name in Settings.model_fields:
        assert f"| `{name}` | `{env_name(name)}` |" in cli, f"setting {name} is not documented"
    for reason, code in STOP_EXIT_CODES.items():
        assert f"| {code} | `{reason}`" in cli, f"exit code of {reason} is not documented"
