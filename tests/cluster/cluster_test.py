#!/usr/bin/env python3
"""Scale-out end to end (issue 21): three zcrecv hosts behind HAProxy, senders using zcsend.

Every host, the balancer and every sender is a network namespace this script creates (and
deletes, on every path): eight senders, each its own namespace and address (10.231.2N.2), paced
at ~2.5 MiB/s by a tbf qdisc on its link (the pace is the harness's, not zcsend's); HAProxy 2.6
in `lb` (mode tcp, send-proxy-v2, `option httpchk GET /health` on each host's metrics port every
200 ms); three zcrecv hosts with receipts and PROXY v2, host 2 writing to a small loop-mounted
ext4. While the senders run, host 1 is SIGKILLed and restarted, host 2's disk fills up, and host
3's link goes down for 3 s.

It asserts what is correctness: every input acknowledged; every acknowledged input stored
byte-exact on at least one host under its sender's real address (from the PROXY header); no
published file that is not exactly one of its sender's inputs, no .incomplete file that is not a
prefix of one; no attempt waited out zcsend's own --timeout; zcrecv_lost_bytes_total 0 on every
host. It prints the figures: acknowledged, duplicates, attempts, p50/p99/max time to OK.

Run by ctest (tests/cluster/CMakeLists.txt) with the paths of zcrecv and zcsend. Without root,
`ip netns`, haproxy or mkfs.ext4 it reports skipped (the marker of tests/support/skip.hpp), and
under CI=true that is a failure.
"""

import argparse
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP_MARKER = "ZCRECV-TEST-SKIPPED:"
SENDERS = 8
BLOBS_PER_SENDER = 8
MAX_BLOB = 4 * 1024 * 1024
PACE = "20mbit"  # ~2.5 MiB/s per sender
SEND_TIMEOUT = "20s"
DISK_MIB = 48
MIN_FREE = "8MiB"
# Whatever happens, the scenario ends within this long (ctest's TIMEOUT is above it).
DEADLINE_S = 240
PREFIX = "zccl"


def skip(reason):
    if os.environ.get("CI") == "true":
        print(f"cannot run under CI=true: {reason}", flush=True)
        sys.exit(1)
    print(f"{SKIP_MARKER} {reason}", flush=True)
    sys.exit(0)


def run(*argv, check=True, quiet=False):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")
    if not quiet and result.returncode != 0:
        print(f"  (ignored) {' '.join(argv)}: {result.stderr.strip()}", flush=True)
    return result


def preflight():
    if os.geteuid() != 0:
        skip("needs root (network namespaces, a loop mount)")
    for tool in ("ip", "tc", "haproxy", "mkfs.ext4", "mount"):
        if shutil.which(tool) is None:
            skip(f"{tool} is not installed (.ci/install-deps installs it)")
    probe = f"{PREFIX}{os.getpid()}-probe"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        skip("cannot create a network namespace (`ip netns add` failed)")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)


def remove_stale_namespaces():
    """Namespaces a run that was SIGKILLed left behind: its pid is gone."""
    for line in run("ip", "netns", "list").stdout.splitlines():
        match = re.match(rf"({PREFIX}(\d+)-\S+)", line)
        if match and not os.path.exists(f"/proc/{match.group(2)}"):
            run("ip", "netns", "del", match.group(1), check=False)


class Cluster:
    """Everything the scenario creates, each undone by cleanup() in reverse order."""

    def __init__(self, work, zcrecv, zcsend):
        self.work = work
        self.zcrecv = zcrecv
        self.zcsend = zcsend
        self.tag = f"{PREFIX}{os.getpid()}"
        self.namespaces = []
        self.mounts = []
        self.processes = []
        self.hosts = {}

    def ns(self, name):
        return f"{self.tag}-{name}"

    def add_namespace(self, name):
        full = self.ns(name)
        run("ip", "netns", "add", full)
        self.namespaces.append(full)
        run("ip", "-n", full, "link", "set", "lo", "up")
        return full

    def link(self, a, a_dev, a_ip, b, b_dev, b_ip):
        """A veth pair between namespaces a and b, addresses a_ip and b_ip in a /24."""
        run("ip", "-n", a, "link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns", b)
        run("ip", "-n", a, "addr", "add", f"{a_ip}/24", "dev", a_dev)
        run("ip", "-n", b, "addr", "add", f"{b_ip}/24", "dev", b_dev)
        run("ip", "-n", a, "link", "set", a_dev, "up")
        run("ip", "-n", b, "link", "set", b_dev, "up")

    def spawn(self, namespace, argv, log_path):
        log = open(log_path, "ab")
        process = subprocess.Popen(["ip", "netns", "exec", namespace, *argv], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.processes.append(process)
        return process

    def cleanup(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                process.kill()
                process.wait()
        for mount in reversed(self.mounts):
            if run("umount", mount, check=False, quiet=True).returncode != 0:
                run("umount", "-l", mount, check=False)
        for namespace in reversed(self.namespaces):
            run("ip", "netns", "del", namespace, check=False)
        self.processes.clear()
        self.mounts.clear()
        self.namespaces.clear()


def host_config(index, out_dir):
    return f"""
[[listen]]
address = "10.231.{10 + index}.2:9000"
name = "ingest"
proxy_protocol = true
proxy_from = ["10.231.{10 + index}.1/32"]
receipt = true

[output]
directory = "{out_dir}"
name = "{{peer}}-{{conn}}-{{seq}}.bin"

[limits]
min_free_space = "{MIN_FREE}"

[metrics]
listen = "10.231.{10 + index}.2:9100"
"""


HAPROXY_CONFIG = """
global
  maxconn 2000
  stats socket {socket} mode 600 level admin

defaults
  mode tcp
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  timeout check 500ms
  retries 3
  option redispatch

frontend ingest
  bind :9000
  default_backend zcrecv

backend zcrecv
  balance leastconn
  option httpchk GET /health
  default-server send-proxy-v2 proxy-v2-options crc32c check port 9100 inter 200ms fall 2 rise 2
  server h1 10.231.11.2:9000
  server h2 10.231.12.2:9000
  server h3 10.231.13.2:9000
"""


def haproxy_states(cluster, stats_socket):
    """{server: 'UP'|'DOWN'|...} from the stats socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(stats_socket)
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    states = {}
    for line in data.decode().splitlines():
        fields = line.split(",")
        if len(fields) > 17 and fields[0] == "zcrecv" and fields[1].startswith("h"):
            states[fields[1]] = fields[17]
    return states


def wait_until(condition, what, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start_host(cluster, index):
    host = cluster.hosts[index]
    host["process"] = cluster.spawn(cluster.ns(f"h{index}"),
                                    [cluster.zcrecv, "-c", host["config"], "--workers", "2"],
                                    host["log"])


def wait_listening(cluster, index, starts):
    host = cluster.hosts[index]

    def listening():
        if host["process"].poll() is not None:
            raise AssertionError(f"host {index}: zcrecv exited {host['process'].returncode}")
        return open(host["log"], errors="replace").read().count("listening on 10.231") >= starts

    wait_until(listening, f"host {index} to listen", 30)


def scrape(cluster, index, metric):
    address = f"http://10.231.{10 + index}.2:9100/metrics"
    # From the balancer's namespace, as Prometheus would scrape it: traffic stays inside.
    text = run("ip", "netns", "exec", cluster.ns("lb"), "curl", "-s", "--max-time", "5",
               address).stdout
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith(metric):
            total += float(line.split()[-1])
            found = True
    if not found:
        raise AssertionError(f"host {index}: {metric} not in /metrics")
    return total


def make_blobs(work):
    rng = random.Random(21)
    blobs = {}
    for sender in range(SENDERS):
        directory = os.path.join(work, f"blobs{sender}")
        os.mkdir(directory)
        for n in range(BLOBS_PER_SENDER):
            size = rng.randint(64 * 1024, MAX_BLOB)
            path = os.path.join(directory, f"blob{n}.bin")
            data = os.urandom(size)
            with open(path, "wb") as f:
                f.write(data)
            blobs[path] = (sender, data)
    return blobs


def sender_ip(sender):
    return f"10.231.{20 + sender}.2"


def balancer_ip(sender):
    """HAProxy's address on sender `sender`'s link, which that sender sends to."""
    return f"10.231.{20 + sender}.1"


SUMMARY = re.compile(r"(\S+): acknowledged by (\S+): (\d+) bytes, (\d+) attempts?, ([\d.]+) s")
FAILED_ATTEMPT = re.compile(r"attempt \d+ of \d+ to \S+ failed after \d+ bytes: (.*)$")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def stored_files(cluster):
    """Every file under every host's output: (host, name, bytes)."""
    files = []
    for index, host in cluster.hosts.items():
        for root, _, names in os.walk(host["out"]):
            for name in names:
                if name == "lost+found" or root.endswith("lost+found"):
                    continue
                with open(os.path.join(root, name), "rb") as f:
                    files.append((index, os.path.relpath(os.path.join(root, name), host["out"]),
                                  f.read()))
    return files


def scenario(cluster, blobs):
    work = cluster.work
    lb = cluster.add_namespace("lb")
    for index in (1, 2, 3):
        ns = cluster.add_namespace(f"h{index}")
        cluster.link(lb, f"h{index}", f"10.231.{10 + index}.1", ns, "eth0",
                     f"10.231.{10 + index}.2")
        out = os.path.join(work, f"h{index}-out")
        os.mkdir(out)
        if index == 2:
            image = os.path.join(work, "h2-disk.img")
            with open(image, "wb") as f:
                f.truncate(DISK_MIB * 1024 * 1024)
            run("mkfs.ext4", "-q", "-F", "-m", "0", image)
            run("mount", "-o", "loop", image, out)
            cluster.mounts.append(out)
        config = os.path.join(work, f"h{index}.toml")
        with open(config, "w") as f:
            f.write(host_config(index, out))
        cluster.hosts[index] = {"out": out, "config": config,
                                "log": os.path.join(work, f"h{index}.log")}
    for sender in range(SENDERS):
        ns = cluster.add_namespace(f"s{sender}")
        cluster.link(lb, f"s{sender}", balancer_ip(sender), ns, "eth0", sender_ip(sender))
        run("tc", "-n", ns, "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", PACE, "burst",
            "32kb", "latency", "200ms")

    for index in (1, 2, 3):
        start_host(cluster, index)
        wait_listening(cluster, index, 1)
    stats_socket = os.path.join(work, "haproxy.sock")
    haproxy_cfg = os.path.join(work, "haproxy.cfg")
    with open(haproxy_cfg, "w") as f:
        f.write(HAPROXY_CONFIG.format(socket=stats_socket))
    cluster.spawn(lb, ["haproxy", "-db", "-f", haproxy_cfg], os.path.join(work, "haproxy.log"))
    wait_until(lambda: os.path.exists(stats_socket) and
               list(haproxy_states(cluster, stats_socket).values()) == ["UP"] * 3,
               "HAProxy to see the three hosts UP", 30)

    # Host 2's disk: all but ~16 MiB above min_free_space taken, so that it fills up early.
    statvfs = os.statvfs(cluster.hosts[2]["out"])
    free = statvfs.f_bavail * statvfs.f_frsize
    filler = free - (8 + 16) * 1024 * 1024
    with open(os.path.join(cluster.hosts[2]["out"], "filler"), "wb") as f:
        os.posix_fallocate(f.fileno(), 0, filler)

    senders = []
    started = time.monotonic()
    for sender in range(SENDERS):
        paths = sorted(p for p, (s, _) in blobs.items() if s == sender)
        argv = [cluster.zcsend, "--to", f"{balancer_ip(sender)}:9000", "--timeout", SEND_TIMEOUT,
                "--attempts", "30", "--backoff", "100ms", "--backoff-max", "2s", "--no-progress",
                *paths]
        log = os.path.join(work, f"s{sender}.log")
        senders.append((sender, cluster.spawn(cluster.ns(f"s{sender}"), argv, log), log))

    # The failure mix, while the senders run.
    events = []
    time.sleep(2.0)
    cluster.hosts[1]["process"].send_signal(signal.SIGKILL)
    cluster.hosts[1]["process"].wait()
    events.append(f"{time.monotonic() - started:5.1f} s  host 1 SIGKILLed")
    time.sleep(1.0)
    start_host(cluster, 1)
    wait_listening(cluster, 1, 2)
    events.append(f"{time.monotonic() - started:5.1f} s  host 1 restarted")
    time.sleep(2.0)
    run("ip", "-n", lb, "link", "set", "h3", "down")
    events.append(f"{time.monotonic() - started:5.1f} s  host 3 link down")
    time.sleep(3.0)
    run("ip", "-n", lb, "link", "set", "h3", "up")
    events.append(f"{time.monotonic() - started:5.1f} s  host 3 link up")

    for sender, process, log in senders:
        remaining = DEADLINE_S - (time.monotonic() - started)
        try:
            process.wait(timeout=max(1, remaining))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"sender {sender} still running after {DEADLINE_S} s")
    elapsed = time.monotonic() - started
    disk = os.statvfs(cluster.hosts[2]["out"])
    h2_free_mib = disk.f_bavail * disk.f_frsize / 1024 / 1024

    lost = {index: scrape(cluster, index, "zcrecv_lost_bytes_total") for index in (1, 2, 3)}
    for index in (1, 2, 3):
        process = cluster.hosts[index]["process"]
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=60)
        assert status == 0, f"host {index}: zcrecv exited {status} on SIGTERM"
    os.remove(os.path.join(cluster.hosts[2]["out"], "filler"))

    return senders, events, elapsed, lost, h2_free_mib


def verify(cluster, blobs, senders, events, elapsed, lost, h2_free_mib):
    failures = []
    times = []
    attempts = []
    acknowledged = set()
    timeouts = []
    reasons = {}
    for sender, process, log in senders:
        text = open(log, errors="replace").read()
        if process.returncode != 0:
            failures.append(f"sender {sender}: zcsend exited {process.returncode}")
        for line in text.splitlines():
            if match := SUMMARY.search(line):
                acknowledged.add(match.group(1))
                attempts.append(int(match.group(4)))
                times.append(float(match.group(5)))
            if match := FAILED_ATTEMPT.search(line):
                reason = match.group(1)
                key = re.sub(r"\d+", "N", reason)
                reasons[key] = reasons.get(key, 0) + 1
                if "--timeout" in reason:
                    timeouts.append(line)
    missing = sorted(set(blobs) - acknowledged)
    if missing:
        failures.append(f"{len(missing)} inputs not acknowledged: {missing[:5]}")

    by_hash = {}
    for path, (sender, data) in blobs.items():
        by_hash[hashlib.sha256(data).hexdigest()] = path
    stored = {}
    incomplete = 0
    for host, name, data in stored_files(cluster):
        base = os.path.basename(name)
        if base.startswith("."):
            failures.append(f"host {host}: unpublished file {name} after a graceful stop")
            continue
        match = re.match(r"(\d+\.\d+\.\d+\.\d+)_\d+-", base)
        if not match:
            failures.append(f"host {host}: {name} is not named after a client address")
            continue
        ip = match.group(1)
        if name.endswith(".incomplete"):
            incomplete += 1
            if not any(sender_ip(s) == ip and d.startswith(data) for s, d in blobs.values()):
                failures.append(f"host {host}: {name} ({len(data)} bytes) is no prefix of an "
                                f"input of {ip}")
            continue
        path = by_hash.get(hashlib.sha256(data).hexdigest())
        if path is None:
            failures.append(f"host {host}: {name} ({len(data)} bytes) is not one of the inputs")
            continue
        if sender_ip(blobs[path][0]) != ip:
            failures.append(f"host {host}: {name} holds an input of "
                            f"{sender_ip(blobs[path][0])}, named after {ip}")
            continue
        stored.setdefault(path, []).append(host)
    for path in sorted(acknowledged):
        if path not in stored:
            failures.append(f"{path}: acknowledged but stored on no host")
    duplicates = sum(len(hosts) - 1 for hosts in stored.values())
    for index, value in lost.items():
        if value != 0:
            failures.append(f"host {index}: zcrecv_lost_bytes_total {value:.0f}")
    if timeouts:
        failures.append(f"{len(timeouts)} attempts waited out zcsend's own --timeout: "
                        f"{timeouts[:3]}")

    print("cluster: events:")
    for event in events:
        print(f"  {event}")
    print(f"cluster: {len(acknowledged)}/{len(blobs)} inputs acknowledged in {elapsed:.1f} s; "
          f"{sum(attempts)} attempts ({sum(a > 1 for a in attempts)} inputs retried)")
    print(f"cluster: failed attempts by reason: {reasons or 'none'}")
    if times:
        print(f"cluster: time to OK: p50 {percentile(times, 0.5):.3f} s, "
              f"p99 {percentile(times, 0.99):.3f} s, max {max(times):.3f} s "
              f"(targets: p99 <= 10 s, max <= 15 s)")
    print(f"cluster: stored {len(stored)} distinct inputs, {duplicates} duplicates, "
          f"{incomplete} .incomplete files; per host: "
          + ", ".join(f"h{h}: {sum(1 for hs in stored.values() for x in hs if x == h)}"
                      for h in (1, 2, 3)))
    print(f"cluster: host 2 disk free at the end (filler included): {h2_free_mib:.1f} MiB; "
          f"zcrecv_lost_bytes_total: {lost}")
    print(f"cluster: attempts that waited out --timeout {SEND_TIMEOUT}: {len(timeouts)}")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zcrecv", required=True)
    parser.add_argument("--zcsend", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    preflight()
    remove_stale_namespaces()
    work = tempfile.mkdtemp(prefix="zcrecv-cluster-")
    cluster = Cluster(work, os.path.abspath(args.zcrecv), os.path.abspath(args.zcsend))
    # SIGTERM (ctest, a CI runner) unwinds through the finally below like an error.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("cluster: terminated"))
    failures = []
    try:
        blobs = make_blobs(work)
        results = scenario(cluster, blobs)
        failures = verify(cluster, blobs, *results)
    except BaseException:
        failures = ["the scenario did not complete"]
        raise
    finally:
        cluster.cleanup()
        if failures:
            for name in sorted(os.listdir(work)):
                if name.endswith(".log"):
                    print(f"--- {name} (last 15 lines)")
                    lines = open(os.path.join(work, name), errors="replace").read().splitlines()
                    print("\n".join(lines[-15:]))
        if args.keep:
            print(f"cluster: work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for failure in failures:
        print(f"FAILED: {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
