"""A background experiment the app can start, watch and stop.

The run lives in its own process (``python -m analysis.experiments worker
JOB_DIR``), so a Streamlit rerun or another browser session never touches it
and stop is reliable. Everything it tells the app is a JSON file in the job
folder, written to a temporary file and renamed into place (atomic on POSIX):
a reader sees the previous snapshot or the next one, never half of one, even
if the process is killed mid-write.

    job_dir/job.json       what to run (written once, before the process starts)
    job_dir/progress.json  state, fraction done, partial curves (rewritten often)
    job_dir/result.json    the finished result (only when the run completed)
    job_dir/STOP           created by stop(); the worker checks it every step
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from alexnet.checkpoint import write_atomic

from .config import ExperimentConfig
from .registry import experiment as registered

REPO_ROOT = Path(__file__).resolve().parents[2]
STATES = ("starting", "running", "done", "stopped", "failed")


def write_json_atomic(obj, path) -> None:
    """Write JSON so that ``path`` always holds a whole document (tmp + fsync + rename)."""
    write_atomic(path, lambda f: json.dump(obj, f), mode="w")


def read_json(path):
    """The JSON at ``path``, or None if there is none yet."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


class ExperimentJob:
    """Handle on one job folder; ``start`` launches it, ``attach`` finds it again later."""

    def __init__(self, job_dir):
        self.dir = Path(job_dir)
        self._proc: subprocess.Popen | None = None

    @classmethod
    def start(cls, job_dir, experiment: str, config: ExperimentConfig, data_dir,
              threads: int = 2, nice: int = 0) -> "ExperimentJob":
        """Launch ``experiment`` (a key of ``EXPERIMENTS``) on CIFAR-10 in ``data_dir``."""
        registered(experiment)  # a clear ValueError listing EXPERIMENTS if unknown
        config.validate()
        job = cls(job_dir)
        if job.running():
            raise RuntimeError(f"a job is already running in {job.dir}; stop it or use another folder")
        job.dir.mkdir(parents=True, exist_ok=True)
        for name in ("progress.json", "result.json", "STOP"):
            (job.dir / name).unlink(missing_ok=True)
        spec = {"experiment": experiment, "config": config.to_dict(),
                "data_dir": str(Path(data_dir).expanduser()), "threads": threads}
        write_json_atomic(spec, job.dir / "job.json")
        write_json_atomic({"state": "starting", "fraction": 0.0}, job.dir / "progress.json")
        env = dict(os.environ, OMP_NUM_THREADS=str(threads),
                   PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
        cmd = [sys.executable, "-m", "analysis.experiments", "worker", str(job.dir.resolve())]
        if nice:
            cmd = ["nice", "-n", str(nice)] + cmd
        with open(job.dir / "worker.log", "w") as log:
            job._proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                                         stderr=log, start_new_session=True)
        spec["pid"] = job._proc.pid
        write_json_atomic(spec, job.dir / "job.json")
        return job

    @classmethod
    def attach(cls, job_dir) -> "ExperimentJob":
        """A handle on an existing job folder (e.g. after a Streamlit rerun)."""
        job = cls(job_dir)
        if read_json(job.dir / "job.json") is None:
            raise FileNotFoundError(f"{job.dir} holds no experiment job (no job.json)")
        return job

    def _pid(self) -> int | None:
        if self._proc is not None:
            return self._proc.pid
        spec = read_json(self.dir / "job.json") or {}
        return spec.get("pid")

    def running(self) -> bool:
        """Whether the worker process is still alive."""
        if self._proc is not None:
            return self._proc.poll() is None
        pid = self._pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        state = (read_json(self.dir / "progress.json") or {}).get("state")
        return state in ("starting", "running")  # a reused pid is not our worker

    def progress(self) -> dict:
        """State, fraction done and the partial result; a dead worker reads as failed/stopped."""
        p = read_json(self.dir / "progress.json") or {"state": "starting", "fraction": 0.0}
        if p["state"] in ("starting", "running") and not self.running():
            if (self.dir / "result.json").exists():  # killed between the two last writes
                return {"state": "done", "fraction": 1.0, "partial": read_json(self.dir / "result.json")}
            killed = (self.dir / "STOP").exists()
            p = dict(p, state="stopped" if killed else "failed",
                     error=None if killed else f"the worker died; see {self.dir / 'worker.log'}")
        return p

    def result(self):
        """The finished ExperimentResult, or None while it is running or if it was stopped."""
        from .runs import ExperimentResult

        d = read_json(self.dir / "result.json")
        return None if d is None else ExperimentResult.from_dict(d)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker ends or ``timeout`` seconds pass; True if it ended.

        A job this handle started is waited on as a child process (woken when it
        exits); an attached one is not our child, so its pid is checked every 50 ms.
        """
        if self._proc is not None:
            try:
                self._proc.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the worker to stop, and kill it if it has not within ``timeout`` seconds."""
        (self.dir / "STOP").touch()
        self.wait(timeout)
        pid = self._pid()
        if self.running() and pid:
            try:
                os.killpg(pid, signal.SIGKILL)  # its own session: the worker and nothing else
            except ProcessLookupError:
                pass  # it finished in the meantime
        if self._proc is not None:
            self._proc.wait()


def worker(job_dir) -> int:
    """The job's process: load the data, run, write snapshots and the result."""
    import torch

    from alexnet.data import load_cifar10
    from alexnet.step import keep_freed_memory

    job_dir = Path(job_dir)
    spec = read_json(job_dir / "job.json")
    stop_file = job_dir / "STOP"
    last = {"t": 0.0}

    def progress(p: dict) -> None:
        if time.time() - last["t"] >= 0.5:  # at most two snapshots a second
            last["t"] = time.time()
            write_json_atomic(dict(p, state="running"), job_dir / "progress.json")

    try:
        torch.set_num_threads(max(1, int(spec.get("threads", 2))))
        keep_freed_memory()
        cfg = ExperimentConfig.from_dict(spec["config"])
        e = registered(spec["experiment"])
        train = load_cifar10(spec["data_dir"], train=True)
        test = load_cifar10(spec["data_dir"], train=False) if e.needs_test else None
        res = e.run(cfg, train, test, progress, stop_file.exists)
    except Exception as e:
        from alexnet.unreadable import UnreadableImages

        error = (f"{e.summary}; remove them (or replace them with good copies), then start again"
                 if isinstance(e, UnreadableImages) else f"{type(e).__name__}: {e}")
        write_json_atomic({"state": "failed", "error": error}, job_dir / "progress.json")
        return 1
    if res.stopped:  # the last complete snapshot stays; no result.json
        snap = read_json(job_dir / "progress.json") or {}
        write_json_atomic(dict(snap, state="stopped"), job_dir / "progress.json")
        return 0
    write_json_atomic(res.to_dict(), job_dir / "result.json")
    write_json_atomic({"state": "done", "fraction": 1.0, "partial": res.to_dict()},
                      job_dir / "progress.json")
    return 0
