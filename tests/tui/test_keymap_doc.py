"""The docs' key map (the lab's page) is the one the screens' bindings give (keymap.markdown)."""

from pathlib import Path

from convlab.tui.keymap import markdown

LAB_PAGE = Path(__file__).resolve().parents[2] / "docs" / "guide" / "lab.md"


def test_every_key_of_the_lab_is_on_its_docs_page():
    page = LAB_PAGE.read_text(encoding="utf-8")
    rows = [line for line in markdown().splitlines() if line.startswith("| `")]
    assert len(rows) > 20
    missing = [row for row in rows if row not in page]
    assert not missing, (
        f"the key map in {LAB_PAGE.name} is out of date; paste convlab.tui.keymap.markdown() there:\n"
        + "\n".join(missing)
    )
