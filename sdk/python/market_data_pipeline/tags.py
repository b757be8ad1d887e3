"""Tags (R-ORG-1): the required tags merged with the user's, pure functions."""

import re
from collections.abc import Mapping
from typing import Any

from .constants import REQUIRED_TAGS

TAG_KEY_RE = re.compile(r"^[\w.:/=+\-@ ]{1,128}$", re.UNICODE)
TAG_VALUE_RE = re.compile(r"^[\w.:/=+\-@ ]{0,256}$", re.UNICODE)
MAX_TAGS = 50
"""AWS's per-resource tag limit."""


def merge_tags(user: Any) -> dict[str, str]:
    """Validate user tags and merge them with the required tags.

    A user tag naming a required key with a different value is an error (the required tags are fixed by the
    spec); bad keys or values raise ValueError naming the tag and what is allowed.
    """
    if user is None:
        user = {}
    if not isinstance(user, Mapping):
        raise ValueError(f"invalid tags={user!r}: allowed a mapping of tag keys to string values")
    out: dict[str, str] = {}
    for k, v in user.items():
        if not isinstance(k, str) or not TAG_KEY_RE.match(k) or k.lower().startswith("aws:"):
            raise ValueError(
                f"invalid tags key {k!r}: allowed 1-128 letters, digits, spaces and _ . : / = + - @, "
                "not starting with 'aws:'"
            )
        if not isinstance(v, str) or not TAG_VALUE_RE.match(v):
            raise ValueError(
                f"invalid tags[{k!r}]={v!r}: allowed a string of 0-256 letters, digits, spaces and _ . : / = + - @"
            )
        required = REQUIRED_TAGS.get(k)
        if required is not None and v != required:
            raise ValueError(
                f"invalid tags[{k!r}]={v!r}: allowed {required!r} only (a required tag, R-ORG-1), or leave it out"
            )
        out[k] = v
    merged = {**out, **REQUIRED_TAGS}
    if len(merged) > MAX_TAGS:
        raise ValueError(
            f"invalid tags: {len(merged)} tags; allowed at most {MAX_TAGS - len(REQUIRED_TAGS)} user tags "
            f"(AWS allows {MAX_TAGS} per resource, {len(REQUIRED_TAGS)} are required)"
        )
    return merged
