"""docs/design.md states what the code owns (R-PKG-6, R-RUN-3)."""

import re
from pathlib import Path

from market_data_pipeline import STACK_OUTPUT_KEYS

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"


def _section(title: str) -> str:
    """The text of the `## <title>...` section of docs/design.md (up to the next `## `)."""
    text = DESIGN.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


# R-PKG-6, R-RUN-3
def test_stack_outputs_section_lists_the_component_keys() -> None:
    """The key list of "Stack outputs and cfn-outputs/flat-outputs.json" is `STACK_OUTPUT_KEYS`, in its order: the
    component owns the list (`stack_outputs` exports it, the integration suite imports it), the page documents it."""
    m = re.search(r"these keys:\s*((?:`\w+`,\s*)*`\w+`)\.", _section("Stack outputs"))
    assert m, 'docs/design.md "Stack outputs": no "these keys: `A`, `B`, ..." list'
    documented = re.findall(r"`(\w+)`", m.group(1))
    assert documented == list(STACK_OUTPUT_KEYS), (
        f'docs/design.md "Stack outputs" lists {documented}; STACK_OUTPUT_KEYS (component.py) is '
        f"{list(STACK_OUTPUT_KEYS)}: change both"
    )
