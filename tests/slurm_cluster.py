"""A real one-node SLURM cluster for the tests: munged, slurmctld and slurmd from Debian's `slurm-wlm` and `munge`
packages (installed by `.ci/run`), started as root with a `slurm.conf` written to a temp folder and stopped after.

Everything the daemons write (key, sockets, state, spool, logs) stays in that folder, and the ports are free ones,
so a second cluster on the same machine does not collide. Clients (sbatch, squeue, scancel and submitit, which
calls them) find this cluster through `SLURM_CONF`, which `SlurmCluster.env` sets.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
PACKAGES = "slurm-wlm munge"
PARTITION = "debug"


def missing_binaries() -> list[str]:
    """The SLURM and munge programs this machine lacks (empty: a cluster can start)."""
    return [name for name in dict.fromkeys(BINARIES) if shutil.which(name) is None]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def node_line(node: str) -> str:
    """This machine's CPUs and memory as a slurm.conf node line (`slurmd -C`, with the node name replaced)."""
    described = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    words = [word for word in described.split() if not word.startswith("NodeName=")]
    return " ".join([f"NodeName={node}", "NodeAddr=127.0.0.1", *words, "State=UNKNOWN"])


def slurm_conf(folder: Path, node: str) -> str:
    """The cluster's slurm.conf: one node, one partition, no accounting, no cgroups (a container has none to
    give), root as the slurm user, requeue allowed (preemption and time-limit tests)."""
    return "\n".join(
        [
            "ClusterName=sisrtest",
            f"SlurmctldHost={node}(127.0.0.1)",
            "MailProg=/bin/true",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            f"AuthInfo=socket={folder / 'munge.socket'}",
            f"StateSaveLocation={folder / 'state'}",
            f"SlurmdSpoolDir={folder / 'spool'}",
            f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
            f"SlurmdPidFile={folder / 'slurmd.pid'}",
            f"SlurmctldLogFile={folder / 'slurmctld.log'}",
            f"SlurmdLogFile={folder / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "SwitchType=switch/none",
            "MpiDefault=none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU_Memory",
            "DefMemPerCPU=1024",
            "ReturnToService=2",
            "JobRequeue=1",
            "KillWait=30",
            "SchedulerParameters=sched_interval=2",
            node_line(node),
            f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


@dataclass
class SlurmCluster:
    """A running one-node cluster; `stop()` ends its daemons."""

    folder: Path
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])  # resolvable: DDP's MASTER_ADDR
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    start_seconds: float = 0.0

    @property
    def conf(self) -> Path:
        return self.folder / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """This process's environment with the clients pointed at this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *command: str, check: bool = True, env: dict[str, str] | None = None) -> str:
        """Run a SLURM client (`scontrol`, `squeue`, `sbatch`, ...) against this cluster, in `env` (default: `env`;
        sbatch exports it to the job); returns its stdout."""
        result = subprocess.run(command, env=env or self.env, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")
        return result.stdout

    def _daemon(self, name: str, *command: str) -> None:
        log = open(self.folder / f"{name}.out", "w")  # noqa: SIM115 - kept open while the daemon runs
        self.processes[name] = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def start(self, timeout: float = 60.0) -> None:
        """Start munged, slurmctld and slurmd, then wait until the node is idle."""
        started = time.perf_counter()
        for sub in ("state", "spool", "munge"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)
        key = self.folder / "munge" / "munge.key"
        subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, capture_output=True)
        self.conf.write_text(slurm_conf(self.folder, self.node))
        self._daemon(
            "munged", "munged", "--foreground", "--force", f"--socket={self.folder / 'munge.socket'}",
            f"--key-file={key}", f"--pid-file={self.folder / 'munge' / 'munged.pid'}",
            f"--log-file={self.folder / 'munge' / 'munged.log'}", f"--seed-file={self.folder / 'munge' / 'seed'}",
        )  # fmt: skip
        self._wait(lambda: (self.folder / "munge.socket").exists(), timeout, "munged's socket")
        self._daemon("slurmctld", "slurmctld", "-D", "-i", "-f", str(self.conf))
        self._daemon("slurmd", "slurmd", "-D", "-N", self.node, "-f", str(self.conf))
        self._wait(lambda: self.node_state() == "idle", timeout, f"node {self.node} idle")
        self.start_seconds = time.perf_counter() - started

    def node_state(self) -> str:
        """The node's state as sinfo prints it (`idle`, `alloc`, `down*`...), '' when the controller is not up."""
        result = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%t"], env=self.env, capture_output=True, text=True, timeout=30
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [name for name, process in self.processes.items() if process.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"the test cluster did not reach '{what}' ({'exited: ' + ', '.join(dead) if dead else 'timeout'}); logs:\n{self.logs()}")
            time.sleep(0.2)

    def logs(self, lines: int = 30) -> str:
        """The tail of every daemon's log, for a failure message."""
        parts = []
        for path in sorted([*self.folder.glob("*.log"), *self.folder.glob("*.out"), *self.folder.glob("munge/*.log")]):
            parts.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job, then end the daemons (slurmd and slurmctld first, munged last)."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", f"--partition={PARTITION}"], env=self.env, capture_output=True, timeout=30)
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.get(name)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)

    def wait_for_jobs(self, timeout: float) -> None:
        """Wait until the queue is empty (every job ended)."""
        self._wait(lambda: not self.run("squeue", "-h").strip(), timeout, "an empty queue")
