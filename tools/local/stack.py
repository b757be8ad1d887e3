"""The local stack's processes: moto server, the component deployed into it, and the local Lambda host.

`LocalStack` starts them (each a child process on 127.0.0.1), writes the flat outputs and stops every process it
started by its PID. It is the one owner of that start-up sequence: the demo, the integration, contract and IAM
suites, the bench (`bench.run.CountedStack`, with counting proxies) and the fault tests (`tests/faults`, with the
fault proxy in front of moto) all start their stacks through it. Read the running stack back with
`tools.local.client.StackClient`.
"""

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tools.local.deploy import Deployment, deploy
from tools.local.host_config import API_URL_KEY, write_flat_outputs
from tools.local.translators import DeployError

FrontProxy = Callable[[str], Any]
"""Starts a proxy process in front of an upstream URL (moto's endpoint) and returns it started: it has ``url``,
``pid`` and ``stop()`` (e.g. ``lambda up: tools.local.fault_proxy.FaultProxyProcess(up).start()``)."""

PrepareHost = Callable[["LocalStack", dict[str, Any]], None]
"""Called with the stack (moto and the deployment are up) and the host config, just before the host starts: it may
change the config in place or moto's resources (e.g. swap a function's file, shorten a queue's visibility timeout)."""


class LocalStack:
    """moto server + the component's resources + the local Lambda host, with flat outputs.

    `start()` starts moto (a child process on 127.0.0.1, free port), deploys, starts the host (workers on the
    Node 18 binary) and writes `<out_dir>/flat-outputs.json`; `stop()` stops every process it started by PID. Use it
    as a context manager. `schedule_every_ms` overrides the emulated schedule (None keeps the declared rate);
    `schedule=False` drops it (events alone drive the aggregation).
    """

    def __init__(
        self,
        out_dir: Path,
        suffix: str = "local",
        extra_args: Mapping[str, Any] | None = None,
        schedule_every_ms: int | None = None,
        echo_logs: bool = False,
        node_binary: Path | None = None,
        record_calls: bool = False,
        *,
        schedule: bool = True,
        front: FrontProxy | None = None,
        prepare: PrepareHost | None = None,
    ) -> None:
        """Prepare (not start) a local stack whose files (logs, host config, outputs) go to `out_dir`.

        `record_calls` puts a counting proxy in front of moto per function and one for the host
        (`tools.local.host.record_calls`): `recorders` then holds every AWS call each one made.
        `front` starts a proxy process between moto and everything the host runs (`FrontProxy`): every AWS call of
        the host and its workers goes through it (behind the counting proxies, with `record_calls`), while the
        outputs' endpoint, which `StackClient` reads through, stays moto's own. `prepare`: see `PrepareHost`.
        """
        if schedule_every_ms is not None and (
            isinstance(schedule_every_ms, bool)
            or not isinstance(schedule_every_ms, int)
            or schedule_every_ms < 1
        ):
            raise ValueError(
                f"schedule_every_ms must be a positive integer (milliseconds) or None (the declared rate), "
                f"got {schedule_every_ms!r}"
            )
        if not schedule and schedule_every_ms is not None:
            raise ValueError(
                f"schedule_every_ms={schedule_every_ms} with schedule=False: the schedule is either dropped or "
                "given a rate, not both"
            )
        self.out_dir = out_dir
        self.suffix = suffix
        self.extra_args = dict(extra_args or {})
        self.schedule_every_ms = schedule_every_ms
        self.schedule = schedule
        self.echo_logs = echo_logs
        self.node_binary = node_binary
        self.record_calls = record_calls
        self.front_factory = front
        self.prepare = prepare
        self.recorders: dict[str, Any] = {}
        """function name (and `tools.local.host.HOST_CALLER`) -> its `tools.local.proxy.CountingProxy`"""
        self.moto: Any = None
        self.front: Any = None
        """the proxy process `front` started (None without one)"""
        self.host: Any = None
        self.deployment: Deployment | None = None
        self.host_config: dict[str, Any] = {}
        """the config the host was started with (the deployment's, pointed at the proxies, with this stack's
        options)"""
        self.outputs: dict[str, str] = {}
        self.started_pids: list[int] = []
        """every process this stack started (they are all stopped by `stop()`)"""

    @property
    def flat_outputs_path(self) -> Path:
        """Where `start()` writes the flat outputs."""
        return self.out_dir / "flat-outputs.json"

    def start(self) -> "LocalStack":
        """Start moto, deploy, start the front proxy (if any), start the host, write the flat outputs (stops what
        it started on failure)."""
        from tools.local.host import NODE18, LambdaHostProcess, record_calls
        from tools.local.moto_server import MotoServer

        self.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.moto = MotoServer("process", log_path=self.out_dir / "moto.log").start()
            self.started_pids.append(self.moto.pid)
            d = deploy(self.moto.endpoint_url, self.suffix, self.extra_args)
            self.deployment = d
            upstream = self.moto.endpoint_url
            # a copy of the config: the deployment keeps the declared one
            declared = json.dumps(d.host_config)
            if self.front_factory is not None:
                self.front = self.front_factory(upstream)
                self.started_pids.append(self.front.pid)
                # every moto URL in the config (the host's endpoint, queue URLs in environments and event sources)
                upstream = self.front.url
                declared = declared.replace(self.moto.endpoint_url, upstream)
            cfg: dict[str, Any] = json.loads(declared)
            node = self.node_binary or NODE18
            if not Path(node).exists():
                raise DeployError(f"Node 18 binary {node} is missing: run `make node` first")
            cfg["nodeBinary"] = str(node)
            cfg["echoLogs"] = self.echo_logs
            if not self.schedule:
                cfg["eventSources"] = [s for s in cfg["eventSources"] if s["type"] != "schedule"]
            elif self.schedule_every_ms is not None:
                for src in cfg["eventSources"]:
                    if src["type"] == "schedule":
                        src["everyMs"] = self.schedule_every_ms
            if self.record_calls:
                self.recorders = record_calls(cfg, upstream)
            if self.prepare is not None:
                self.prepare(self, cfg)
            self.host_config = cfg
            (self.out_dir / "host-config.json").write_text(json.dumps(cfg, indent=2))
            self.host = LambdaHostProcess(cfg, log_path=self.out_dir / "host.log")
            self.host.start()
            self.started_pids.append(self.host.pid)
            stage = cfg["api"]["stage"]
            self.outputs = {**d.outputs, API_URL_KEY: f"{self.host.url}/{stage}/"}
            write_flat_outputs(self.flat_outputs_path, self.outputs)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the host, the counting proxies, the front proxy, then moto, each process by its PID (each one even
        when stopping an earlier one failed); safe to call twice."""
        host, self.host = self.host, None
        front, self.front = self.front, None
        moto, self.moto = self.moto, None
        try:
            if host is not None:
                host.close()
        finally:
            try:
                for proxy in self.recorders.values():
                    proxy.stop()
            finally:
                try:
                    if front is not None:
                        front.stop()
                finally:
                    if moto is not None:
                        moto.stop()

    def __enter__(self) -> "LocalStack":
        """Start on entering the context."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop on leaving the context."""
        self.stop()
