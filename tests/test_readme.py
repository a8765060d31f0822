"""The README's Python API example runs as written."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_python_api_example_runs():
    text = README.read_text()
    section = text[text.index("## Python API") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("seed loop / far-store: ")
    ratio = float(lines[0].split(": ")[1].split("x")[0])
    # the direction every x86-64 shows, by the sign test over the 5 rounds (its size varies:
    # Zen 3 ~4x, Zen 4 ~5x, Intel ~2000x)
    assert ratio > 1 and lines[0].endswith(", higher"), lines[0]
    assert lines[1] == "['4K/0', '4K/0 store=far']"
