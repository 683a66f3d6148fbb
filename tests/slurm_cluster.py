"""A throw-away single-node SLURM cluster (munged + slurmctld + slurmd) for the SLURM tests.

Everything lives in two directories: SLURM's config, state, spool and logs under ``root``
(a pytest tmp directory), munge's key and socket under a directory of its own, because
munged insists that every directory above its socket is traversable by everyone, which
pytest's 0700 tmp directories are not. Clients find the cluster through ``SLURM_CONF``
(see ``env``). Daemons run in the foreground, so ``stop`` ends exactly the processes
``start`` created, by their pids.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")


def missing_binaries() -> list[str]:
    return [name for name in (*DAEMONS, "sbatch", "scontrol", "squeue", "scancel") if shutil.which(name) is None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SlurmCluster:
    def __init__(self, root: Path):
        self.root = root
        self.conf = root / "slurm.conf"
        self.munge_dir = Path(tempfile.mkdtemp(prefix="sacflow-munge-"))
        self.processes: list[subprocess.Popen] = []

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    # ---------------------------------------------------------------- start / stop
    def start(self) -> None:
        self._start_munge()
        self._write_conf()
        for daemon in ("slurmctld", "slurmd"):
            self._spawn([daemon, "-D", "-f", str(self.conf)], daemon)
        self._wait_until_idle()

    def stop(self) -> None:
        try:
            if self.processes and all(proc.poll() is None for proc in self.processes):
                self._drain()
        finally:
            for proc in reversed(self.processes):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            self.processes.clear()
            shutil.rmtree(self.munge_dir, ignore_errors=True)

    def _drain(self) -> None:
        """Let jobs finish (or cancel them) first: a job step's slurmstepd outlives a stopped slurmd,
        waiting for it forever, and it is no child of ours to stop."""
        def empty() -> bool:
            out = subprocess.run(["squeue", "-h"], env=self.env, capture_output=True, text=True, check=True).stdout
            return not out.strip()

        try:
            _wait_for(empty, 60, "jobs still queued", self.root / "slurmctld.log")
        except RuntimeError:
            subprocess.run(["scancel", f"--user={pwd.getpwuid(os.getuid()).pw_name}"], env=self.env, timeout=60,
                           check=True)
            _wait_for(empty, 60, "jobs still queued after scancel", self.root / "slurmctld.log")

    def _start_munge(self) -> None:
        key = self.munge_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        for path in (self.munge_dir, key):
            shutil.chown(path, "munge", "munge")
        self.munge_dir.chmod(0o755)  # clients (root, jobs) connect to the socket inside
        args = ["munged", "-F", f"--key-file={key}", f"--socket={self.munge_socket}",
                f"--pid-file={self.munge_dir / 'munged.pid'}", f"--log-file={self.munge_dir / 'munged.log'}",
                f"--seed-file={self.munge_dir / 'munged.seed'}"]
        self._spawn(args, "munged", user="munge", group="munge")
        _wait_for(self.munge_socket.exists, 30, "munged did not create its socket", self.root / "munged.out")

    def _spawn(self, args: list[str], name: str, **kwargs) -> None:
        with open(self.root / f"{name}.out", "w") as log:
            self.processes.append(subprocess.Popen(args, stdout=log, stderr=log, **kwargs))

    @property
    def munge_socket(self) -> Path:
        return self.munge_dir / "munge.socket"

    def _write_conf(self) -> None:
        # `slurmd -C` prints this machine's node line (name, CPUs, memory) as slurmd will see it.
        node = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
        name = node.split()[0].split("=", 1)[1]
        for sub in ("state", "spool"):
            (self.root / sub).mkdir(exist_ok=True)
        self.conf.write_text("\n".join([
            "ClusterName=sacflowtest",
            f"SlurmctldHost={name}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={self.root / 'state'}",
            f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.root / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.root / 'slurmctld.log'}",
            f"SlurmdLogFile={self.root / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SchedulerType=sched/backfill",
            "MpiDefault=none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "ReturnToService=2",
            "KillWait=5",  # seconds between SIGTERM and SIGKILL when a job is requeued or cancelled
            f"{node} NodeAddr=127.0.0.1 State=UNKNOWN",
            f"PartitionName=debug Nodes={name} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))

    def _wait_until_idle(self) -> None:
        def idle() -> bool:
            out = self.scontrol("show", "nodes", check=False)
            return "State=IDLE" in out

        _wait_for(idle, 60, "the SLURM node did not become idle", self.root / "slurmd.log")

    # ---------------------------------------------------------------- client helpers
    def scontrol(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(["scontrol", *args], env=self.env, capture_output=True, text=True, timeout=60,
                                check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"scontrol {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def start_now_if_requeued(self, job: str) -> bool:
        """Lift the delay SLURM puts on a requeued job (BeginTime, about 2 minutes here); False
        while the job is not yet back in the queue."""
        if "Reason=BeginTime" not in self.scontrol("show", "job", job):
            return False
        self.scontrol("update", f"JobId={job}", "StartTime=now")
        return True

    def running_jobs(self) -> list[str]:
        """Ids of the jobs now RUNNING ('A_a' for array tasks)."""
        out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"], env=self.env, capture_output=True,
                             text=True, timeout=60, check=True).stdout
        return out.split()

def _wait_for(condition, timeout_s: float, message: str, log: Path) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.5)
    tail = log.read_text()[-2000:] if log.exists() else "(no log)"
    raise RuntimeError(f"{message}; {log.name}:\n{tail}")
