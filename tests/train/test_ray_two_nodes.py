"""Two Ray nodes on this machine, as real processes, without a shared run directory.

The head lives in one network namespace, a worker node in another, joined by a veth pair
(10.200.x.1 <-> 10.200.x.2, addresses that exist only inside the namespaces this test creates).
Each node has its own directory (``--temp-dir``, ``HOME``, ``TMPDIR``), and the worker node cannot
even see the driver's directory (a tmpfs is mounted over it in the worker's mount namespace).
The driver (``eureka executor=ray``) runs in the head's namespace. Once a training runs on the
worker node, its raylet is killed: Ray retries the task on the head, and the run completes with
every candidate trained once. Needs root and ``ip`` (iproute2).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

import eureka

pytest.importorskip("ray")
pytestmark = [pytest.mark.timeout(900), pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("unshare") is None,
                                 reason="needs root, ip (iproute2) and unshare")]

TAG = f"{os.getpid() % 100000}"
HEAD_NS, WORKER_NS = f"eureka-h{TAG}", f"eureka-w{TAG}"
SUBNET = f"10.200.{os.getpid() % 250}"
HEAD_IP, WORKER_IP = f"{SUBNET}.1", f"{SUBNET}.2"
RAY = str(Path(sys.executable).with_name("ray"))
SOURCE = str(Path(eureka.__file__).resolve().parents[1])  # this checkout, for every node's Python path
TOKEN = os.urandom(32).hex()


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=60)


def ns_pids(ns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=30).stdout
    return [int(p) for p in out.split()]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def node_env(home: Path, tmp: Path | None = None) -> dict:
    """A node's (or the driver's) environment: its own HOME and temp dir, the cluster's token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "OPENAI_"))}
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    env.update(HOME=str(home), PYTHONPATH=SOURCE, RAY_AUTH_MODE="token",
               RAY_AUTH_TOKEN=TOKEN, RAY_health_check_period_ms="1000", RAY_health_check_timeout_ms="1000",
               RAY_health_check_failure_threshold="3", RAY_USAGE_STATS_ENABLED="0")
    return env


def kill_namespace(ns: str) -> None:
    for _ in range(3):
        pids = ns_pids(ns)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)


@pytest.fixture
def cluster(tmp_path):
    head, worker, driver = tmp_path / "head", tmp_path / "worker", tmp_path / "driver"
    for d in (head, worker, driver):
        d.mkdir()
    veth_h, veth_w = f"veh{TAG}", f"vew{TAG}"
    # Ray's session directories hold unix sockets (paths of at most 107 bytes): short, one per node
    ray_dirs = {k: Path(tempfile.mkdtemp(prefix=f"e{TAG}{k}", dir="/tmp")) for k in ("h", "w")}
    tmps = {}
    for k, d in ray_dirs.items():  # each node's TMPDIR: walled trainings (another uid) make their scratch there
        os.chmod(d, 0o755)
        tmps[k] = d / "tmp"
        tmps[k].mkdir()
        os.chmod(tmps[k], 0o1777)
    sh("ip", "netns", "add", HEAD_NS)
    sh("ip", "netns", "add", WORKER_NS)
    worker_proc = None
    try:
        sh("ip", "link", "add", veth_h, "type", "veth", "peer", "name", veth_w)
        sh("ip", "link", "set", veth_h, "netns", HEAD_NS)
        sh("ip", "link", "set", veth_w, "netns", WORKER_NS)
        for ns, dev, ip in ((HEAD_NS, veth_h, HEAD_IP), (WORKER_NS, veth_w, WORKER_IP)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        started = subprocess.run(["ip", "netns", "exec", HEAD_NS, RAY, "start", "--head", f"--node-ip-address={HEAD_IP}",
                        "--port=6379", "--num-cpus=1", f"--temp-dir={ray_dirs['h']}", "--include-dashboard=false",
                        "--disable-usage-stats"], env=node_env(head, tmps["h"]), capture_output=True, text=True,
                                 timeout=180, cwd=head)
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        # the worker node: its own mount namespace, in which the driver's directory is an empty tmpfs
        start = (f"mount -t tmpfs eureka-hidden {driver} && exec {RAY} start --address={HEAD_IP}:6379 "
                 f"--node-ip-address={WORKER_IP} --num-cpus=1 --temp-dir={ray_dirs['w']} --disable-usage-stats "
                 "--block")
        worker_proc = subprocess.Popen(["ip", "netns", "exec", WORKER_NS, "unshare", "--mount", "sh", "-c", start],
                                       env=node_env(worker, tmps["w"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       cwd=worker)
        probe = (f"import ray, time\nray.init(address='{HEAD_IP}:6379', log_to_driver=False, logging_level='ERROR')\n"
                 "for _ in range(120):\n    alive = [n for n in ray.nodes() if n['Alive']]\n"
                 "    if len(alive) >= 2: break\n    time.sleep(0.5)\n"
                 "print(json.dumps([[n['NodeID'], n['NodeManagerAddress']] for n in alive]))\n")
        out = subprocess.run(["ip", "netns", "exec", HEAD_NS, sys.executable, "-c", "import json\n" + probe],
                             env=node_env(driver), capture_output=True, text=True, timeout=180, cwd=driver)
        nodes = dict((ip, nid) for nid, ip in json.loads(out.stdout.strip().splitlines()[-1]))
        assert set(nodes) == {HEAD_IP, WORKER_IP}, out.stdout + out.stderr
        print(f"\nnodes: head {nodes[HEAD_IP]} at {HEAD_IP}, worker {nodes[WORKER_IP]} at {WORKER_IP}")
        yield {"head": head, "worker": worker, "driver": driver, "nodes": nodes, "worker_tmp": tmps["w"]}
    finally:
        kill_namespace(WORKER_NS)
        kill_namespace(HEAD_NS)
        if worker_proc is not None:
            worker_proc.wait(timeout=30)
        for ns in (WORKER_NS, HEAD_NS):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        for d in ray_dirs.values():
            shutil.rmtree(d, ignore_errors=True)


def test_a_killed_worker_raylet_is_retried_and_every_candidate_trains_once(cluster):
    run = cluster["driver"] / "run"
    # 120,000 steps: a training of several seconds on the vector backend, so the raylet dies well before it ends
    # (with 30,000 a training could finish and report from the worker before the kill took effect)
    args = ["executor=ray", f"executor.address={HEAD_IP}:6379", "executor.max_retries=3", "iterations=1",
            "samples=2", "trainer.total_timesteps=120000", "eval.episodes=2", "eval.seeds=[7]",
            "eval.baselines=false", "video=false", "loop.target_fitness=null", "loop.racing.enabled=false",
            "loop.confirm.seeds=0",
            f"hydra.run.dir={run}"]
    driver = subprocess.Popen(["ip", "netns", "exec", HEAD_NS, sys.executable, "-m", "eureka.cli", *args],
                              env={**node_env(cluster["driver"]), "COLUMNS": "250"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, cwd=cluster["driver"])
    killed: dict = {}
    deadline = time.monotonic() + 600
    jobs_tmp = cluster["worker_tmp"]
    while time.monotonic() < deadline and driver.poll() is None and not killed:
        started = [m for m in jobs_tmp.glob("eureka-job-*/out/metrics.jsonl") if m.stat().st_size > 0]
        pids = ns_pids(WORKER_NS)
        raylet = [p for p in pids if "/raylet" in cmdline(p).split(" ")[0]]
        training = [p for p in pids if "ray::train_on_node" in cmdline(p)]
        if started and raylet and training:
            job = started[0].parent.parent.name.split("-")[2]
            os.kill(raylet[0], signal.SIGKILL)
            killed = {"raylet": raylet[0], "job": job, "at": time.time()}
            print(f"killed the worker node's raylet (pid {raylet[0]}) while it trained {job}")
        time.sleep(0.2)
    out, _ = driver.communicate(timeout=600)
    assert killed, "no training ran on the worker node:\n" + out[-3000:]
    assert driver.returncode == 0, out[-3000:]
    text = out.replace(str(cluster["driver"].parent), "<tmp>")  # the test's own paths name the raylet
    noise = [line for line in text.splitlines() if "raylet" in line.lower() or "Token authentication" in line
             or "ray." in line.lower() or "(pid=" in line]
    assert not noise, noise  # nothing from Ray on the terminal

    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    cands = [c for it in summary["iterations"] for c in it["candidates"]]
    assert sorted(c["id"] for c in cands) == ["iter0_sample0", "iter0_sample1"]
    assert all(c["status"] == "ok" for c in cands), cands
    keys = Counter(json.loads(line)["key"] for line in (run / "trainings.jsonl").read_text().splitlines())
    assert max(keys.values()) == 1 and len(keys) == 3, keys  # 2 candidates + 1 final seed, each once
    tasks = [json.loads(line) for line in (run / "ray" / "tasks.jsonl").read_text().splitlines()]
    done = Counter(t["job_id"] for t in tasks)
    assert max(done.values()) == 1 and len(done) == 3 and {"iter0_sample0", "iter0_sample1"} <= set(done), done
    retried = next(t for t in tasks if t["job_id"] == killed["job"])
    assert retried["node"] == cluster["nodes"][HEAD_IP], (retried, cluster["nodes"])
    print(f"{killed['job']} was retried on the head node {retried['node']} after the raylet was killed; "
          f"tasks: {[(t['job_id'], t['node'][:8]) for t in tasks]}")
    # results came back through the object store: the policy is in the driver's candidate directory
    for c in cands:
        assert (run / "candidates" / c["id"] / "policy.safetensors").is_file()
