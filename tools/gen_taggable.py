"""Derive the set of taggable AWS resource types from the INSTALLED pulumi_aws and write it as JSON.

A resource type is taggable when its class is a `pulumi.CustomResource` subclass whose `_internal_init`
takes a `tags` parameter annotated with a string mapping (`Input[Mapping[str, Input[str]]]`). Types whose
`tags` is a list of blocks (e.g. `aws.autoscaling.Group`) are not: they cannot take our tag mapping.

The remote components of pulumi_aws_apigateway (e.g. `aws-apigateway:index:RestAPI`) are listed apart
under `components` by the same rule applied to `pulumi.ComponentResource` subclasses.

Usage: `python tools/gen_taggable.py [OUTPUT]` (default `tests/data/taggable_types.json`). The output
records the pulumi_aws version it was derived from; `tests/property/test_taggable_data.py` fails when the
installed pulumi_aws differs, so a dependency bump forces regeneration (R-ORG-1).
"""

import collections.abc
import importlib
import inspect
import json
import re
import sys
import typing
import warnings
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

import pulumi

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "taggable_types.json"

_MAPPING_ORIGINS = (collections.abc.Mapping, collections.abc.MutableMapping, dict)
_SKIP_DIRS = {"config", "__pycache__"}


def annotation_has_str_mapping(annotation: Any, depth: int = 0) -> bool:
    """True when a (possibly nested Union/Optional/Input) annotation contains `Mapping[str, ...]`."""
    if depth > 8 or annotation is None or isinstance(annotation, (str, typing.ForwardRef)):
        return False
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in _MAPPING_ORIGINS:
        return bool(args) and args[0] is str
    return any(annotation_has_str_mapping(a, depth + 1) for a in args)


def takes_tag_mapping(cls: type) -> bool:
    """True when the resource class's `_internal_init` has a `tags` parameter annotated as a str mapping."""
    init = getattr(cls, "_internal_init", None)
    if init is None:
        return False
    try:
        params = inspect.signature(init).parameters
    except (TypeError, ValueError):
        return False
    tags = params.get("tags")
    return tags is not None and annotation_has_str_mapping(tags.annotation)


def type_token(cls: type, source: str) -> str | None:
    """The Pulumi type token a generated resource class registers (`super(Cls, __self__).__init__('tok', ...)`)."""
    m = re.search(rf"super\({re.escape(cls.__name__)}, __self__\)\.__init__\(\s*'([^']+)'", source)
    return m.group(1) if m else None


def _classes_in(module: ModuleType, base: type) -> list[type]:
    return [
        obj
        for _, obj in vars(module).items()
        if inspect.isclass(obj) and issubclass(obj, base) and obj.__module__ == module.__name__
    ]


def scan_package(package: str, base: type, nested: bool) -> dict[str, str]:
    """Map type token -> `module.Class` for every taggable `base` subclass in a package's modules.

    `nested=True` walks `<package>/<service>/<module>.py` (pulumi_aws), otherwise `<package>/<module>.py`.
    """
    root = Path(importlib.import_module(package).__file__ or "").parent
    files = sorted(root.glob("*/*.py") if nested else root.glob("*.py"))
    found: dict[str, str] = {}
    for path in files:
        if path.name.startswith("_") or (nested and path.parent.name in _SKIP_DIRS):
            continue
        rel = path.relative_to(root).with_suffix("")
        modname = ".".join((package, *rel.parts))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module(modname)
        source = path.read_text(encoding="utf-8")
        for cls in _classes_in(module, base):
            if base is pulumi.CustomResource and issubclass(cls, pulumi.ProviderResource):
                continue
            if not takes_tag_mapping(cls):
                continue
            token = type_token(cls, source)
            if token is None:
                raise RuntimeError(f"cannot find the type token of {modname}.{cls.__name__} in {path}")
            found[token] = f"{modname}.{cls.__name__}"
    return found


def generate() -> dict[str, Any]:
    """Build the taggable-types document from the installed pulumi_aws and pulumi_aws_apigateway."""
    resources = scan_package("pulumi_aws", pulumi.CustomResource, nested=True)
    components = scan_package("pulumi_aws_apigateway", pulumi.ComponentResource, nested=False)
    return {
        "generator": "tools/gen_taggable.py",
        "pulumi_aws_version": version("pulumi_aws"),
        "pulumi_aws_apigateway_version": version("pulumi_aws_apigateway"),
        "count": len(resources),
        "types": dict(sorted(resources.items())),
        "components": dict(sorted(components.items())),
    }


def main(argv: list[str]) -> int:
    """Write the document to argv[0] (or the default path)."""
    out = Path(argv[0]) if argv else DEFAULT_OUTPUT
    doc = generate()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"{out}: {doc['count']} taggable types (pulumi_aws {doc['pulumi_aws_version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
