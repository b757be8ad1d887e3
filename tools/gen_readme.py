"""Regenerates the generated parts of README.md: the configuration reference (from schema.json, i.e. the
component's own annotations and docstrings) and the Makefile target list (from the `## ` help comments).

`python tools/gen_readme.py` rewrites README.md in place; `--check` exits 1 when README.md is stale.
"""

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "market-data-pipeline:index:MarketDataPipeline"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _type(prop: dict[str, Any], schema: dict[str, Any]) -> str:
    if "$ref" in prop:
        ref = prop["$ref"].split("/")[-1]
        enum = schema["types"].get(ref, {}).get("enum", [])
        return " \\| ".join(f"`{e['value']}`" for e in enum) or ref
    if prop.get("type") == "object":
        return "map of string"
    return str(prop.get("type", "?"))


def config_reference(schema: dict[str, Any]) -> str:
    """Markdown tables of the component's inputs and outputs."""
    res = schema["resources"][TOKEN]
    required = set(res.get("requiredInputs", []))
    lines = [
        "## Configuration reference",
        "",
        "Args of `MarketDataPipeline(name, args, opts)` (Python keys; other languages use the camelCase name).",
        "Invalid values fail at construction with a message naming the arg and what is allowed.",
        "",
        "| arg (Python / camelCase) | type | required | meaning, default and allowed values |",
        "|---|---|---|---|",
    ]
    for name, prop in sorted(res["inputProperties"].items()):
        desc = prop.get("description", "").replace("|", "\\|").replace("\n", " ")
        req = "yes" if name in required else "no"
        lines.append(f"| `{_snake(name)}` / `{name}` | {_type(prop, schema)} | {req} | {desc} |")
    lines += ["", "Outputs:", "", "| output (Python / camelCase) | meaning |", "|---|---|"]
    for name, prop in sorted(res["properties"].items()):
        desc = prop.get("description", "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{_snake(name)}` / `{name}` | {desc} |")
    return "\n".join(lines)


def makefile_targets(makefile: str) -> str:
    """Markdown table of the Makefile targets that carry a `## ` help comment."""
    lines = ["## Makefile targets", "", "| target | what it does |", "|---|---|"]
    for m in re.finditer(r"^([a-z][a-z0-9-]*):[^\n]*?## (.*)$", makefile, re.M):
        text = m.group(2).strip().replace("|", "\\|")
        lines.append(f"| `make {m.group(1)}` | {text} |")
    return "\n".join(lines)


def render(readme: str) -> str:
    """README text with both generated blocks replaced."""
    schema = json.loads((ROOT / "schema.json").read_text())
    makefile = (ROOT / "Makefile").read_text()
    for marker, body in (
        ("CONFIG-REFERENCE", config_reference(schema)),
        ("MAKEFILE-TARGETS", makefile_targets(makefile)),
    ):
        start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        block = f"{start}\n{body}\n{end}"
        found = pattern.search(readme)
        if found is None:
            raise SystemExit(f"README.md lacks the {start} ... {end} markers")
        readme = readme[: found.start()] + block + readme[found.end() :]
    return readme


def main() -> int:
    """Rewrite README.md, or with --check report whether it is stale."""
    path = ROOT / "README.md"
    current = path.read_text()
    fresh = render(current)
    if "--check" in sys.argv:
        if fresh != current:
            print("README.md is stale: run `python tools/gen_readme.py`", file=sys.stderr)
            return 1
        return 0
    path.write_text(fresh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
