"""Which aws provider the pipeline's resources use, and in which region (R-ORG-3).

Only the default provider reads the stack's `aws:*` config ("By default, each provider uses its package's global
configuration settings, which are controlled by your stack's configuration", pulumi.com/docs/concepts/resources/
providers); an explicit `aws.Provider` takes only the arguments it is given. A provider the component created for
a region would so drop the stack's `aws:profile`, `aws:assumeRoles`, `aws:allowedAccountIds` or static credentials
and could deploy with other credentials or into the wrong account. So the component creates one only when it must:

- a caller's `aws` provider in the resource options: used as is (its region, read with getRegion);
- otherwise the target region is the `region` arg, else the stack's region (`aws:region`, else AWS_REGION /
  AWS_DEFAULT_REGION, as pulumi-aws reads it), else us-east-1 (R-ORG-3);
- the target equals the stack's region: the stack's default provider (no provider is created);
- it differs: one provider for the target region that carries over every `aws:*` setting of the stack.
"""

import inspect
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi.runtime.config import is_config_secret

from . import constants as c
from .config import PipelineConfig


@dataclass(frozen=True)
class Placement:
    """Where the resources go: the provider children get (None: the stack's default aws provider) and the
    region, known as a string unless a caller's provider decides it."""

    provider: pulumi.ProviderResource | None
    region: pulumi.Output[str]
    created: bool
    """True when the component created `provider` itself."""


def user_aws_provider(opts: pulumi.ResourceOptions | None) -> pulumi.ProviderResource | None:
    """The aws provider the caller passed in the options, if any."""
    if opts is None:
        return None
    if isinstance(opts.provider, pulumi.ProviderResource) and opts.provider.package == "aws":
        return opts.provider
    providers = opts.providers
    if isinstance(providers, dict):
        p = providers.get("aws")
        return p if isinstance(p, pulumi.ProviderResource) else None
    if isinstance(providers, list):
        for p in providers:
            if isinstance(p, pulumi.ProviderResource) and p.package == "aws":
                return p
    return None


def stack_region() -> str | None:
    """The region the stack's default aws provider uses: `aws:region`, else AWS_REGION / AWS_DEFAULT_REGION
    (pulumi-aws's own lookup, `pulumi_aws.config.region`); None when none is set."""
    region = aws.config.region
    return region or None


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def stack_aws_settings() -> dict[str, Any]:
    """The stack's `aws:*` settings as `aws.Provider` keyword arguments (every setting the provider takes, but the
    region). Only keys the stack really sets are returned; structured values (assumeRoles, allowedAccountIds,
    defaultTags, endpoints, ...) are stored as JSON text in the config and are parsed back."""
    stack = pulumi.Config("aws")
    settings: dict[str, Any] = {}
    for param in inspect.signature(aws.Provider._internal_init).parameters:
        if param in ("__self__", "self", "resource_name", "opts", "region"):
            continue
        key = _camel(param)
        raw = stack.get(key)
        if raw is None:
            continue
        # pulumi-aws's own getter tells the key's type (bool/int keys are read with get_bool/get_int); its
        # defaults (skipRegionValidation reads as True when unset or false) are not used: the raw text decides.
        kind = getattr(aws.config, param, raw)
        value: Any = raw
        if isinstance(kind, bool):
            value = raw.strip().lower() == "true"
        elif isinstance(kind, int):
            value = int(raw)
        elif raw.lstrip()[:1] in ("[", "{"):
            value = json.loads(raw)
        # A value the stack keeps secret (`pulumi config set --secret`) stays secret in the provider's state.
        settings[param] = pulumi.Output.secret(value) if is_config_secret(f"aws:{key}") else value
    return settings


def placement(
    name: str, cfg: PipelineConfig, opts: pulumi.ResourceOptions | None, parent: pulumi.Resource
) -> Placement:
    """Choose the provider and region of the pipeline (see the module docstring); create the provider
    `<name>-aws` (child of `parent`) only for a region other than the stack's."""
    caller = user_aws_provider(opts)
    if caller is not None:
        invoke = pulumi.InvokeOutputOptions(parent=parent, provider=caller)
        return Placement(caller, aws.get_region_output(opts=invoke).region, created=False)
    current = stack_region()
    target = cfg.region or current or c.REGION
    if target == current:
        return Placement(None, pulumi.Output.from_input(target), created=False)
    provider = aws.Provider(
        f"{name}-aws",
        region=target,
        **stack_aws_settings(),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return Placement(provider, pulumi.Output.from_input(target), created=True)
