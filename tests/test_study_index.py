"""results/README.md gathers every study README's verdict lines under the claim they name."""

from __future__ import annotations

from normbench.study.index import build, verdict_lines

README = """# study

## Verdict

Judged on test/acc1 ...

- **C1 at 1000 steps: dyt matches LN: does not hold.** dyt - LN: -6.07 points
- **C5a (insensitive to alpha0 in 0.5-1.2): inconclusive.** ...
- **The gap narrows with training: holds.** ...
- **lr search, layernorm: best lr 0.002.** context, no outcome

## How it was made

- **C9 in another section: holds.** not a verdict line
"""


def test_verdict_lines_are_read_from_the_verdict_section_only(tmp_path):
    (tmp_path / "README.md").write_text(README, encoding="utf-8")
    assert verdict_lines(tmp_path / "README.md") == [
        ("C1 at 1000 steps: dyt matches LN", "does not hold"),
        ("C5a (insensitive to alpha0 in 0.5-1.2)", "inconclusive"),
        ("The gap narrows with training", "holds")]


def test_the_index_files_each_line_under_its_claim_skips_smoke_and_appends_the_notes(tmp_path):
    for name in ("length", "length-smoke", "squash-gpu"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "README.md").write_text(README, encoding="utf-8")
    (tmp_path / "NOTES.md").write_text("## Where each claim stands\n\nhand-written", encoding="utf-8")
    text = build(tmp_path)
    c1 = text.split("## C1:")[1].split("## C2:")[0]
    assert "| [length](length/README.md) | cpu | C1 at 1000 steps: dyt matches LN | **does not hold** |" in c1
    assert "| [squash-gpu](squash-gpu/README.md) | gpu |" in c1 and "length-smoke" not in text
    assert "C5a" in text.split("## C5:")[1].split("## C6:")[0]  # C5a is C5's, not C55's or none
    assert "The gap narrows with training" in text.split("## Beyond the paper")[1]
    assert "C9 in another section" not in text and text.rstrip().endswith("hand-written")
