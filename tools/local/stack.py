"""The local stack's processes: moto server, the component deployed into it, and the local Lambda host.

`LocalStack` starts them (each a child process on 127.0.0.1), writes the flat outputs and stops every process it
started by its PID. Read the running stack back with `tools.local.client.StackClient`.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tools.local.deploy import Deployment, deploy
from tools.local.host_config import API_URL_KEY, write_flat_outputs
from tools.local.translators import DeployError


class LocalStack:
    """moto server + the component's resources + the local Lambda host, with flat outputs.

    `start()` starts moto (a child process on 127.0.0.1, free port), deploys, starts the host (workers on the
    Node 18 binary) and writes `<out_dir>/flat-outputs.json`; `stop()` stops both processes by PID. Use it as a
    context manager. `schedule_every_ms` overrides the emulated schedule (None keeps the declared rate).
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
    ) -> None:
        """Prepare (not start) a local stack whose files (logs, outputs) go to `out_dir`.

        `record_calls` puts a counting proxy in front of moto per function and one for the host
        (`tools.local.host.record_calls`): `recorders` then holds every AWS call each one made.
        """
        self.out_dir = out_dir
        self.suffix = suffix
        self.extra_args = dict(extra_args or {})
        self.schedule_every_ms = schedule_every_ms
        self.echo_logs = echo_logs
        self.node_binary = node_binary
        self.record_calls = record_calls
        self.recorders: dict[str, Any] = {}
        """function name (and `tools.local.host.HOST_CALLER`) -> its `tools.local.proxy.CountingProxy`"""
        self.moto: Any = None
        self.host: Any = None
        self.deployment: Deployment | None = None
        self.outputs: dict[str, str] = {}
        self.started_pids: list[int] = []
        """every process this stack started (they are all stopped by `stop()`)"""

    @property
    def flat_outputs_path(self) -> Path:
        """Where `start()` writes the flat outputs."""
        return self.out_dir / "flat-outputs.json"

    def start(self) -> "LocalStack":
        """Start moto, deploy, start the host, write the flat outputs (stops what it started on failure)."""
        from tools.local.host import NODE18, LambdaHostProcess, record_calls
        from tools.local.moto_server import MotoServer

        self.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.moto = MotoServer("process", log_path=self.out_dir / "moto.log").start()
            self.started_pids.append(self.moto.pid)
            d = deploy(self.moto.endpoint_url, self.suffix, self.extra_args)
            self.deployment = d
            cfg = json.loads(json.dumps(d.host_config))  # a copy: the deployment keeps the declared config
            node = self.node_binary or NODE18
            if not Path(node).exists():
                raise DeployError(f"Node 18 binary {node} is missing: run `make node` first")
            cfg["nodeBinary"] = str(node)
            cfg["echoLogs"] = self.echo_logs
            if self.schedule_every_ms is not None:
                for src in cfg["eventSources"]:
                    if src["type"] == "schedule":
                        src["everyMs"] = self.schedule_every_ms
            if self.record_calls:
                self.recorders = record_calls(cfg, self.moto.endpoint_url)
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

    def pids(self) -> list[int]:
        """PIDs of the processes this stack started (moto, host)."""
        return [p for p in (getattr(self.moto, "pid", None), getattr(self.host, "pid", None)) if p]

    def stop(self) -> None:
        """Stop the host, then moto, each by its PID; safe to call twice."""
        host, self.host = self.host, None
        moto, self.moto = self.moto, None
        try:
            if host is not None:
                host.stop()
        finally:
            for proxy in self.recorders.values():
                proxy.stop()
            if moto is not None:
                moto.stop()

    def __enter__(self) -> "LocalStack":
        """Start on entering the context."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop on leaving the context."""
        self.stop()
