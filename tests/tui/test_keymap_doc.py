"""The README's key map is the one the screens' bindings give (keymap.markdown)."""

from pathlib import Path

from convlab.tui.keymap import markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_key_of_the_lab_is_in_the_readme():
    readme = README.read_text(encoding="utf-8")
    rows = [line for line in markdown().splitlines() if line.startswith("| `")]
    assert len(rows) > 20
    missing = [row for row in rows if row not in readme]
    assert not missing, (
        "README key map is out of date; regenerate it from convlab.tui.keymap.markdown():\n" + "\n".join(missing)
    )
