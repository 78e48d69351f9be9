"""Warm starts: a job's script runs in a fork of a process that has imported torch, diffusers and transformers
already, instead of importing them itself.

Those imports cost about 5 s of CPU per process (`python bench/imports.py`), more than many jobs of a CPU run spend
on their work: the world study's 1,440 training, generation and feature jobs would spend about two of their five
CPU-hours importing. So when Snakemake runs jobs on this machine, `rules/common.smk` starts one server per run
(`start_server`, at `onstart`). It imports the libraries once and waits. A job's script hands itself over as its
first step (`hand_over`, called when conceptbench.jobs is imported): it sends its command line, working directory,
environment and its stdin/stdout/stderr to the server, which forks a worker that runs the script from the top, as
a fresh process would, and sends back the worker's exit status. The job's process waits for it, passes on the
signals Snakemake sends it, and exits with the worker's status; if the job's process dies, the server kills the
worker.

The outputs are the same bytes as a cold start's (tests/workflow/test_workflow.py::test_two_runs_from_scratch_give_identical_results). What differs:
- Snakemake's benchmark files measure the job's own process, which only waits: a worker logs its CPU time and
  peak memory in the job's log instead (`jobs.start_job`);
- a job started anywhere else (a SLURM job, even on this host; a conda env's other Python; a process whose
  ancestors do not include the Snakemake that started the server) starts cold, as does every job when the server
  cannot be reached: a warm start is an optimisation, never a requirement.

`warm_start: false` in the config turns it off.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import sys
import tempfile
from pathlib import Path

ADDRESS = "CONCEPTBENCH_WARM_START"  # "<socket>@<pid of the snakemake that started the server>"
WORKER = "CONCEPTBENCH_WARM_WORKER"  # in a worker's environment: the pid of the server it was forked from

# The thread counts Snakemake gives a job's libraries through the environment, which they read when they load: the
# server loads them with one thread each, so it serves only jobs of one thread (a rule's default) and any other
# starts cold, rather than compute with another thread count than it was given (sums may round differently).
THREAD_VARIABLES = ["OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"]

# What the workers inherit, imported: the libraries every torch job imports (the rest each script imports itself).
PRELOAD = [
    "snakemake.script",  # what Snakemake's preamble of a script imports
    "torch",
    "numpy",
    "PIL.Image",
    "safetensors.torch",
    "transformers",
    "diffusers",
    "peft",
    "pandas",
    "scipy.linalg",
]
# Classes the jobs use, imported from the lazy modules above (diffusers' and transformers' lazy imports would
# otherwise load them, and most of the import time, in each worker).
PRELOAD_NAMES = {
    "diffusers": ["StableDiffusionPipeline", "StableDiffusionXLPipeline", "UNet2DConditionModel", "AutoencoderKL",
                  "DDIMScheduler", "DDPMScheduler"],
    "transformers": ["CLIPTextModel", "CLIPTextModelWithProjection", "CLIPTokenizer", "CLIPModel",
                     "CLIPVisionModel", "AutoModel"],
}


# ---- the job's side ---------------------------------------------------------------------------------------------

def hand_over() -> None:
    """If a warm-start server of the Snakemake that started this job is reachable, run this script there and exit
    with its status; otherwise return, and the script goes on in this process (a cold start)."""
    value = os.environ.get(ADDRESS)
    if not value:
        return
    path, _, owner = value.rpartition("@")
    if not owner.isdigit() or not _descends_from(int(owner)):
        return  # not a local job of that run (e.g. a SLURM job that inherited the variable)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(path)
        request = {"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ),
                   "executable": sys.executable, "version": sys.version}
        _send(client, request, fds=[_open_fd(fd) for fd in (0, 1, 2)])
        reply = _receive(client)
    except OSError:
        reply = None
    if not reply or "pid" not in reply:
        client.close()
        return  # refused (another Python) or gone: start cold
    worker = reply["pid"]
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, lambda received, _frame: _signal(worker, received))
    try:
        reply = _receive(client)
    except OSError:
        reply = None
    if not reply or "status" not in reply:
        print(f"conceptbench: lost the warm-start server at {path} while its worker (pid {worker}) ran this job",
              file=sys.stderr, flush=True)
        os._exit(1)
    code = os.waitstatus_to_exitcode(reply["status"])
    if code < 0:  # the worker was killed by a signal: end the same way, so Snakemake reports the same
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


def proc_stat(pid: int | str = "self") -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses): [0] is the
    state, [1] the parent's pid, [19] the start time in clock ticks since boot. Linux only (OSError elsewhere)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _descends_from(pid: int) -> bool:
    """Whether `pid` is an ancestor of this process (read from /proc: Linux; elsewhere no warm start)."""
    current = os.getpid()
    for _ in range(64):
        try:
            fields = proc_stat(current)
        except OSError:
            return False
        current = int(fields[1])  # the parent's pid
        if current == pid:
            return True
        if current <= 1:
            return False
    return False


def _open_fd(fd: int) -> int:
    """`fd` if it is open, else a descriptor of /dev/null in its place."""
    try:
        os.fstat(fd)
        return fd
    except OSError:
        return os.open(os.devnull, os.O_RDWR)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


# ---- messages: a 4-byte length and JSON, file descriptors beside the first ------------------------------------

def _send(sock: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    data = struct.pack("!I", len(data)) + data
    if fds:
        socket.send_fds(sock, [data[:4]], fds)
        data = data[4:]
    sock.sendall(data)


def _receive(sock: socket.socket, with_fds: int = 0):
    """One message (None if the other side has closed), and with `with_fds` also the descriptors sent with it."""
    fds = []
    if with_fds:
        head, fds, _, _ = socket.recv_fds(sock, 4, with_fds)
    else:
        head = _read(sock, 4)
    if len(head) < 4:
        head += _read(sock, 4 - len(head))
    if len(head) < 4:
        return (None, fds) if with_fds else None
    body = _read(sock, struct.unpack("!I", head)[0])
    message = json.loads(body) if body is not None else None
    return (message, fds) if with_fds else message


def _read(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return data if data else None
        data += chunk
    return data


# ---- the server ---------------------------------------------------------------------------------------------------

class Server:
    """The handle `start_server` returns: the server's process, and its address for the jobs."""

    def __init__(self, process, folder: str, address: str):
        self.process, self.folder, self.address = process, folder, address

    def stop(self) -> None:
        """Ask the server to end (it lets running workers finish) and forget its address."""
        os.environ.pop(ADDRESS, None)
        if self.process.poll() is None:
            self.process.terminate()


def start_server(log_file: str | Path) -> Server:
    """Start a server for the jobs this process (Snakemake) starts, and publish its address to them through the
    environment. The server logs to `log_file` and ends when asked to (Server.stop) or when this process ends."""
    import subprocess

    folder = tempfile.mkdtemp(prefix="conceptbench-warm-")  # a short path: a socket's is limited to ~100 bytes
    path = os.path.join(folder, "socket")
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a") as log:
        # Its own session: a Ctrl-C in the terminal reaches Snakemake and the jobs, which pass it on to the workers.
        process = subprocess.Popen([sys.executable, "-m", "conceptbench.warm", path, str(os.getpid())],
                                   env={**os.environ, **dict.fromkeys(THREAD_VARIABLES, "1")},
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    # Return once it listens (it binds before its imports, in a fraction of a second): a job started at once would
    # otherwise find no socket and start cold. A server that dies first just leaves every job cold.
    import time

    deadline = time.monotonic() + 30
    while not os.path.exists(path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    address = f"{path}@{os.getpid()}"
    os.environ[ADDRESS] = address
    return Server(process, folder, address)


def serve(path: str, owner: int) -> None:
    """Listen at `path`, import PRELOAD, then run each job handed over in a forked worker, until asked to end (or
    `owner` has ended) and no worker is left."""
    import shutil

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)  # first, so that jobs that start while it imports wait for it instead of starting cold
    listener.listen(64)
    try:
        _serve(listener, path, owner)
    finally:  # not at exit: the workers run the exit handlers they inherit, and would remove it
        listener.close()
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def _serve(listener: socket.socket, path: str, owner: int) -> None:
    import importlib
    import time

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))

    began = time.monotonic()
    for name in PRELOAD:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for attribute in PRELOAD_NAMES.get(name, []):
            getattr(module, attribute, None)
    # Out of the collector's reach: a worker's collections then skip the million objects the imports made, and do
    # not write to (and so copy) the pages they share with the server.
    import gc

    gc.freeze()
    print(f"[{time.strftime('%H:%M:%S')}] warm-start server {os.getpid()} at {path}: imported "
          f"{', '.join(PRELOAD)} in {time.monotonic() - began:.1f} s", flush=True)

    workers: dict[int, socket.socket] = {}  # worker pid -> the socket of the job waiting for it
    while True:
        accepting = not stopping and os.getppid() == owner
        if not accepting and not workers:
            break
        waiting = list(workers.values()) + ([listener] if accepting else [])
        try:
            readable, _, _ = select.select(waiting, [], [], 0.2)
        except InterruptedError:
            readable = []
        for sock in readable:
            if sock is listener:
                connection, _ = listener.accept()
                pid = _start_worker(connection, listener, workers)
                if pid:
                    workers[pid] = connection
            elif not sock.recv(1, socket.MSG_PEEK):  # the job's process has ended: its worker must too
                for pid, connection in list(workers.items()):
                    if connection is sock:
                        _signal(-pid, signal.SIGKILL)
        while workers:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            connection = workers.pop(pid, None)
            if connection is not None:
                try:
                    _send(connection, {"status": status})
                except OSError:
                    pass
                connection.close()


def _start_worker(connection: socket.socket, listener: socket.socket, workers: dict) -> int | None:
    """Fork a worker for the job on `connection`; returns its pid (None if the request was refused)."""
    try:
        request, fds = _receive(connection, with_fds=3)
    except (OSError, ValueError):
        connection.close()
        return None
    refusal = _refusal(request, fds)
    if refusal:
        print(f"started cold: {' '.join(request.get('argv', [])) if request else 'a job'}: {refusal}", flush=True)
        try:
            _send(connection, {"refused": refusal})
        except OSError:
            pass
        connection.close()
        for fd in fds:
            os.close(fd)
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        listener.close()
        for other in workers.values():
            other.close()
        connection.close()
        _run_worker(request, fds)  # never returns
    for fd in fds:
        os.close(fd)
    try:
        _send(connection, {"pid": pid})
    except OSError:
        _signal(pid, signal.SIGKILL)
    return pid


def _refusal(request: dict | None, fds: list[int]) -> str | None:
    """Why this server cannot run the job a request describes as a fresh process would (None: it can)."""
    if not request or len(fds) != 3:
        return "an incomplete request"
    if request.get("executable") != sys.executable or request.get("version") != sys.version:
        return f"another Python ({request.get('executable')})"
    env = request.get("env", {})
    threads = [name for name in THREAD_VARIABLES if env.get(name) != os.environ.get(name)]
    if threads:
        return f"another thread count ({threads[0]}={env.get(threads[0])})"
    return None


def _run_worker(request: dict, fds: list[int]) -> None:
    """In the forked worker: become the job's process (its descriptors, directory, environment and command line)
    and run its script as Python would run it; then exit with the status a cold start would have had."""
    import atexit
    import runpy
    import traceback

    os.setpgid(0, 0)  # its own group, so that the server can stop it with whatever it started
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.pop(ADDRESS, None)  # the script's own imports must not hand it over again, nor its subprocesses
    os.environ[WORKER] = str(os.getppid())
    sys.argv = list(request["argv"])
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
    # A fresh process draws unseeded random numbers from fresh entropy; a fork would repeat the server's.
    import numpy
    import torch

    torch.seed()
    numpy.random.seed()
    code = 0
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exit_:
        if exit_.code is None:
            code = 0
        elif isinstance(exit_.code, int):
            code = exit_.code
        else:
            print(exit_.code, file=sys.stderr)
            code = 1
    except BaseException:  # as Python does for an uncaught exception: the traceback, and status 1
        traceback.print_exc()
        code = 1
    try:
        import threading

        threading._shutdown()  # as at a normal exit: wait for the script's non-daemon threads
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os._exit(code)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
