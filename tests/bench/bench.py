#!/usr/bin/python3
"""zcrecv's benchmark suite (docs/design.md §14, issue 9): receivers side by side on this machine,
in turn, round after round, printed as markdown tables, and drawn as plots when matplotlib is there.

Not part of the normal test run. Build a Release zcrecv first, then run this file as root (it
mounts a tmpfs, and a throttled slow disk for the durable scenarios); see tests/bench/README.md.
Python 3 standard library, plus Debian's python3-matplotlib for the plots (optional: without it
the tables are printed and the plots are skipped). The sender, the probe and the C contenders
beside this file are compiled with `cc -O2` into a temporary directory.
"""

import argparse
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
C_PROGRAMS = ("sender", "splice_loop", "readwrite_loop", "rusage_exec", "probe", "durable_server",
              "durable_writer", "sendfile_sender")
RUN_TIMEOUT = 300.0  # seconds one measurement may take before its processes are killed
LISTEN_TIMEOUT = 10.0  # seconds a receiver may take to listen
SCRAPE_INTERVAL = 0.1  # seconds between scrapes in scenario 9 (issue 12; Prometheus's default: 60)
POLL = 0.005  # seconds between looks at /proc while waiting for a condition with no fd to wait on
PATTERN_SIZE = MiB  # the sender's repeating pattern (sender.c)
SUMMARY = re.compile(r"received (\d+) bytes .* via (\S+) ")
STATISTICS = re.compile(r"statistics: .*files published=(\d+)")  # the daemon's SIGUSR2 line
SCENARIOS = {1: "single", 2: "seed", 3: "short", 4: "concurrency", 5: "idle", 6: "stall",
             7: "durable-short", 8: "durable-stream", 9: "metrics", 10: "proxy-short",
             11: "send-file", 12: "send-durable", 13: "records"}
RECORD_LENGTHS = (80, 400)  # scenario 13: each record's bytes, its '\n' included
RECORDS_SEED = 22  # scenario 13's record lengths and bytes (issue 22)


class Skip(Exception):
    """A scenario or contender that cannot run here; the message says why."""


class RunError(Exception):
    """A measurement that failed or received the wrong bytes; the message says what happened."""


@dataclasses.dataclass
class Sample:
    """One measurement of one contender in one round."""

    seconds: float  # first connect to the receiver's end (exit, or last file published)
    bytes: int
    cpu: float  # receiver user + system seconds (its rusage, through rusage_exec)
    max_rss_kib: int  # receiver ru_maxrss (through rusage_exec)
    path: str = ""  # the data path zcrecv reported ("splice", "readwrite"...)
    fds: int = 0  # most fds the receiver held at once, when sampled
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def mib_s(self):
        return self.bytes / MiB / self.seconds

    @property
    def cpu_per_gib(self):
        return self.cpu / (self.bytes / GiB)


@dataclasses.dataclass
class Contender:
    """A receiver: how to start it for an address and an output file (None: /dev/null)."""

    name: str
    command: object  # (address, out) -> (argv, stdout_path or None)
    zcrecv: bool = False  # it prints zcrecv's summary line
    missing: str = ""  # why it cannot run here, if it cannot
    failed: str = ""  # set after a run failed: later rounds skip it
    samples: list = dataclasses.field(default_factory=list)


def median(values):
    return statistics.median(values) if values else float("nan")


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def size_name(size):
    for unit, name in ((GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} B"


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio_text(ratio, bar):
    """The ratio with enough digits that it never reads as equal to the bar it missed."""
    digits = 3
    while f"{ratio:.{digits}f}" == f"{bar:.{digits}f}" and ratio != bar and digits < 6:
        digits += 1
    return f"{ratio:.{digits}f} ×"


def verdict(ok, text):
    return f"**{'met' if ok else 'not met'}**: {text}"


def port_candidates():
    """Ports below the ephemeral range, starting at a random one: a port the kernel may hand to
    a sender's connect as its source port could be taken between the probe and the listen."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as text:
        low = int(text.read().split()[0])
    first, last = 10000, max(10001, low - 1)
    port = first + int.from_bytes(os.urandom(2), "little") % (last - first)
    while True:
        port = first if port >= last else port + 1
        yield port


PORTS = port_candidates()


def free_port():
    """A loopback port nothing holds, TIME_WAIT included (the probe binds without
    SO_REUSEADDR)."""
    for _ in range(1000):
        port = next(PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RunError("no free loopback port below the ephemeral range after 1000 tries")


def is_listening(address):
    """True once `address` ("127.0.0.1:PORT" or "unix:PATH") has a listening socket."""
    if address.startswith("unix:"):
        with open("/proc/net/unix") as table:
            next(table)
            for line in table:
                fields = line.split()
                if len(fields) >= 8 and fields[7] == address[5:] and int(fields[3], 16) & 0x10000:
                    return True
        return False
    host, port = address.rsplit(":", 1)
    local = "%08X:%04X" % (int.from_bytes(socket.inet_aton(host), "little"), int(port))
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[1] == local and fields[3] == "0A":
                return True
    return False


def count_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def proc_status_kib(pid, key):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RunError(f"/proc/{pid}/status: no {key}")


def published_files(directory):
    """The regular files zcrecv published (partial files start with a dot)."""
    with os.scandir(directory) as entries:
        return [entry for entry in entries if not entry.name.startswith(".") and entry.is_file()]


def read_report(report):
    """rusage_exec's report: pid, then utime, stime and maxrss once the program ended."""
    try:
        with open(report) as text:
            return dict(item.split("=", 1) for item in text.read().split())
    except OSError:
        return {}


def usage_of(report):
    """(CPU seconds, ru_maxrss KiB) of a program that ended under rusage_exec."""
    fields = read_report(report)
    if "maxrss" not in fields:
        raise RunError(f"{report}: no resource usage (did rusage_exec die?)")
    return float(fields["utime"]) + float(fields["stime"]), int(fields["maxrss"])


def tail(path, lines=6):
    try:
        with open(path, errors="replace") as log:
            return " / ".join(log.read().strip().splitlines()[-lines:])
    except OSError:
        return ""


def kill_if_running(process):
    """Kills and reaps `process` (a Popen, or None for one never started) unless it has ended."""
    if process is not None and process.returncode is None:
        process.kill()
        process.wait()


class Bench:
    """The machinery: compiled helpers, output directories, child processes, measurements."""

    def __init__(self, args):
        self.args = args
        self.children = []
        self.mounted = None
        self.slow_mounts = []  # slow disks that are up, taken down by close() at the latest
        self.expected_hashes = {}
        self.counter = 0
        self.work = tempfile.mkdtemp(prefix="zcrecv-bench-")
        self.disk = tempfile.mkdtemp(prefix="zcrecv-bench-", dir="/var/tmp")
        self.logs = os.path.join(self.work, "logs")
        os.mkdir(self.logs)
        self.bin = os.path.join(self.work, "bin")
        os.mkdir(self.bin)
        for program in C_PROGRAMS:
            subprocess.run(["cc", "-O2", "-Wall", "-pthread", "-o", os.path.join(self.bin, program),
                            os.path.join(HERE, program + ".c")], check=True)
        self.sender = os.path.join(self.bin, "sender")
        self.pattern = subprocess.run([self.sender, "--pattern"], check=True,
                                      stdout=subprocess.PIPE).stdout
        self.tmpfs = self._make_tmpfs()

    def _make_tmpfs(self):
        target = os.path.join(self.work, "tmpfs")
        os.mkdir(target)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3G", "tmpfs", target],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if mounted.returncode == 0:
            self.mounted = target
            return target
        shm = os.statvfs("/dev/shm")
        if shm.f_bavail * shm.f_frsize < 3 * GiB:
            raise Skip("cannot mount a tmpfs (not root?) and /dev/shm has less than 3 GiB free")
        return tempfile.mkdtemp(prefix="zcrecv-bench-", dir="/dev/shm")

    def close(self):
        for child in self.children:
            kill_if_running(child)
        if self.mounted:
            subprocess.run(["umount", self.mounted], check=False)
        for mount in list(self.slow_mounts):
            self.slow_disk_down(mount)
        for directory in (self.tmpfs, self.disk, self.work):
            shutil.rmtree(directory, ignore_errors=True)

    def spawn(self, argv, stdout, stderr, stdin=subprocess.DEVNULL):
        child = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr)
        self.children.append(child)
        return child

    def spawn_measured(self, argv, stdout, stderr):
        """Starts `argv` under rusage_exec; returns the process and its report file."""
        self.counter += 1
        report = os.path.join(self.logs, f"rusage-{self.counter}.txt")
        child = self.spawn([os.path.join(self.bin, "rusage_exec"), report, *argv], stdout, stderr)
        return child, report

    def measured_pid(self, report):
        deadline = time.monotonic() + LISTEN_TIMEOUT
        while time.monotonic() < deadline:
            fields = read_report(report)
            if "pid" in fields:
                return int(fields["pid"])
            time.sleep(POLL)
        raise RunError(f"{report}: no pid after {LISTEN_TIMEOUT:.0f} s")

    def new_address(self, transport):
        self.counter += 1
        if transport == "unix":
            return "unix:" + os.path.join(self.work, f"{self.counter}.sock")
        return f"127.0.0.1:{free_port()}"

    def log_path(self, name):
        return os.path.join(self.logs, re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".log")

    def wait_listening(self, address, receiver, log):
        deadline = time.monotonic() + LISTEN_TIMEOUT
        while not is_listening(address):
            if receiver.poll() is not None:
                raise RunError(f"exited with status {receiver.returncode} before listening on "
                               f"{address}: {tail(log)}")
            if time.monotonic() > deadline:
                raise RunError(f"not listening on {address} after {LISTEN_TIMEOUT:.0f} s")
            time.sleep(POLL)

    def reap(self, child, others=()):
        """waitpid for `child`, killing it and `others` if it outlives RUN_TIMEOUT; returns the
        exit time and the exit status."""
        timer = threading.Timer(RUN_TIMEOUT, lambda: [p.kill() for p in (child, *others)
                                                      if p.returncode is None])
        timer.start()
        try:
            _, status = os.waitpid(child.pid, 0)
        finally:
            timer.cancel()
        ended = time.monotonic()
        child.returncode = os.waitstatus_to_exitcode(status)
        return ended, child.returncode

    def finish_sender(self, sender, stdin=None):
        try:
            output, _ = sender.communicate(input=stdin, timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            sender.kill()
            output, _ = sender.communicate()
        fields = dict(item.split("=", 1) for item in output.decode().split())
        if sender.returncode != 0 or "start" not in fields:
            raise RunError(f"the sender failed with status {sender.returncode}")
        return float(fields["start"]), float(fields["end"])

    def expected_hash(self, total):
        if total not in self.expected_hashes:
            digest = hashlib.sha256()
            for _ in range(total // PATTERN_SIZE):
                digest.update(self.pattern)
            digest.update(self.pattern[: total % PATTERN_SIZE])
            self.expected_hashes[total] = digest.hexdigest()
        return self.expected_hashes[total]

    def file_hash(self, path):
        digest = hashlib.sha256()
        with open(path, "rb") as data:
            while block := data.read(4 * MiB):
                digest.update(block)
        return digest.hexdigest()

    def stream(self, contender, transport, out_dir, chunk, total, checksum):
        """One connection of `total` bytes written `chunk` at a time into `contender`, which
        writes it into a file in `out_dir` (None: /dev/null). Returns a Sample."""
        address = self.new_address(transport)
        out = os.path.join(out_dir, "received.bin") if out_dir else None
        argv, stdout_path = contender.command(address, out)
        log = self.log_path(contender.name)
        os.sync()  # the previous contender's dirty pages must not be written back during this one
        with open(log, "w") as log_file, open(stdout_path or os.devnull, "wb") as sink:
            receiver, report = self.spawn_measured(argv, stdout=sink if stdout_path else log_file,
                                                   stderr=log_file)
            try:
                self.wait_listening(address, receiver, log)
                sender = self.spawn([self.sender, "--bytes", str(total), "--chunk", str(chunk),
                                     address], stdout=subprocess.PIPE, stderr=log_file)
                ended, status = self.reap(receiver, (sender,))
                start, _ = self.finish_sender(sender)
            finally:
                kill_if_running(receiver)
        try:
            if status != 0:
                raise RunError(f"exited with status {status}: {tail(log)}")
            path = ""
            if contender.zcrecv:
                summary = SUMMARY.search(open(log, errors="replace").read())
                if not summary or int(summary.group(1)) != total:
                    raise RunError(f"did not report {total} bytes received: {tail(log)}")
                path = summary.group(2)
            if out:
                size = os.path.getsize(out)
                if size != total:
                    raise RunError(f"{out}: {size} bytes instead of {total}")
                if checksum and self.file_hash(out) != self.expected_hash(total):
                    raise RunError(f"{out}: the bytes differ from what was sent (sha256)")
        finally:
            if out and os.path.exists(out):
                os.unlink(out)
        cpu, max_rss = usage_of(report)
        return Sample(ended - start, total, cpu, max_rss, path)

    def write_config(self, address, out_dir, sync, metrics=None, proxy=False):
        config = os.path.join(self.work, "zcrecv.toml")
        proxy_keys = 'proxy_protocol = true\nproxy_from = ["127.0.0.1/32"]\n' if proxy else ""
        with open(config, "w") as text:
            text.write(f"""log_level = "info"
workers = 0

[[listen]]
address = "{address}"
{proxy_keys}
[output]
directory = "{out_dir}"
name = "{{conn}}-{{seq}}.bin"
max_file_size = "0"
sync = "{sync}"

[limits]
max_connections = 16384
max_connections_per_peer = 16384
""")
            if metrics:
                text.write(f'\n[metrics]\nlisten = "{metrics}"\n')
        return config

    def start_daemon(self, name, out_dir, sync, metrics=None, proxy=False):
        """Starts `zcrecv -c CONFIG` on a fresh output directory, with its metrics endpoint on
        `metrics` if given, its listener behind a proxy on 127.0.0.1 if `proxy`; returns
        (process, report, address, log). A daemon that cannot start means daemon mode (or the
        endpoint) is not available: Skip."""
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        address = self.new_address("tcp")
        config = self.write_config(address, out_dir, sync, metrics, proxy)
        daemon, report, log = self.spawn_daemon(
            name, [self.args.zcrecv, "-c", config], [address] + ([metrics] if metrics else []),
            "daemon mode (`zcrecv -c CONFIG`)")
        return daemon, report, address, log

    def spawn_daemon(self, name, argv, addresses, what):
        """Spawns the daemon `argv`, measured, its output into its log, and waits until it
        listens on every one of `addresses`; returns (process, report, log). One that cannot
        start means `what` cannot run here: Skip."""
        log = self.log_path(name)
        with open(log, "w") as log_file:
            daemon, report = self.spawn_measured(argv, stdout=log_file, stderr=log_file)
        try:
            for address in addresses:
                self.wait_listening(address, daemon, log)
        except RunError as error:
            kill_if_running(daemon)
            raise Skip(f"{what} cannot run: {error}") from error
        return daemon, report, log

    def stop_daemon(self, daemon, report, log):
        """SIGTERM (rusage_exec passes it on); returns the daemon's (CPU seconds, maxrss)."""
        daemon.send_signal(signal.SIGTERM)
        _, status = self.reap(daemon)
        if status != 0:
            raise RunError(f"the daemon exited with status {status}: {tail(log)}")
        return usage_of(report)

    def daemon_streams(self, name, out_dir, sync, conns, parallel, per_conn, chunk, checksum,
                       sample_fds, scrape=False, proxy=False):
        """`conns` connections of `per_conn` bytes, `parallel` at once, into a daemon; the
        sender waits for the daemon to close each one. Ends when every file is published. With
        `scrape`, the daemon has a metrics endpoint and a Scraper GETs /metrics every 100 ms
        while the sender runs. With `proxy`, each connection starts with a PROXY v2 header,
        which must not be in its file."""
        metrics = self.new_address("tcp") if scrape else None
        daemon, report, address, log = self.start_daemon(name, out_dir, sync, metrics, proxy)
        scraper = Scraper(metrics, SCRAPE_INTERVAL) if scrape else None
        try:
            pid = self.measured_pid(report)
            if scraper:
                scraper.start()
            sender = self.spawn([self.sender, "--bytes", str(per_conn), "--chunk", str(chunk),
                                 "--conns", str(conns), "--parallel", str(parallel),
                                 "--await-close"] + (["--proxy-v2"] if proxy else []) + [address],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            most_fds = 0
            deadline = time.monotonic() + RUN_TIMEOUT
            while sender.poll() is None and time.monotonic() < deadline:
                if sample_fds:
                    most_fds = max(most_fds, count_fds(pid))
                time.sleep(0.05 if sample_fds else POLL * 4)
            start, sender_end = self.finish_sender(sender)
            end = sender_end
            files = published_files(out_dir)
            while len(files) < conns:
                end = time.monotonic()
                if end - sender_end > 60:
                    raise RunError(f"{len(files)} of {conns} files published 60 s after the "
                                   f"sender finished: {tail(log)}")
                time.sleep(POLL * 4)
                files = published_files(out_dir)
            if scraper:
                scraper.stop()
            cpu, max_rss = self.stop_daemon(daemon, report, log)
        finally:
            if scraper:
                scraper.stop()
            kill_if_running(daemon)
        wrong = [f.name for f in files if f.stat().st_size != per_conn]
        if len(files) != conns or wrong:
            raise RunError(f"{len(files)} files published for {conns} connections, "
                           f"{len(wrong)} of them not {per_conn} bytes (e.g. {wrong[:3]})")
        if checksum:
            expected = self.expected_hash(per_conn)
            bad = [f.name for f in files if self.file_hash(f.path) != expected]
            if bad:
                raise RunError(f"{len(bad)} files differ from what was sent (e.g. {bad[:3]})")
        if scraper and (scraper.failed or not scraper.answered):
            raise RunError(f"{scraper.answered} scrapes answered, {scraper.failed} failed "
                           f"({scraper.error})")
        shutil.rmtree(out_dir, ignore_errors=True)
        return Sample(end - start, per_conn * conns, cpu, max_rss, fds=most_fds,
                      extra={"conns": conns, "scrapes": scraper.answered if scraper else 0})

    def idle(self, name, out_dir, conns):
        """Holds `conns` idle connections open against a daemon; measures its resident memory
        once it has accepted them all."""
        daemon, report, address, log = self.start_daemon(name, out_dir, "none")
        sender = None
        try:
            pid = self.measured_pid(report)
            base_rss = proc_status_kib(pid, "VmRSS")
            base_fds = count_fds(pid)
            sender = self.spawn([self.sender, "--hold", "--conns", str(conns), address],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.PIPE)
            if sender.stdout.readline().strip() != b"ready":
                raise RunError(f"the sender could not open {conns} connections")
            deadline = time.monotonic() + 60
            while count_fds(pid) < base_fds + conns:
                if time.monotonic() > deadline:
                    raise RunError(f"the daemon holds {count_fds(pid) - base_fds} of "
                                   f"{conns} connections after 60 s: {tail(log)}")
                time.sleep(0.05)
            rss = proc_status_kib(pid, "VmRSS")
            fds = count_fds(pid)
            self.finish_sender(sender, stdin=b"")
            cpu, max_rss = self.stop_daemon(daemon, report, log)
        finally:
            for child in (sender, daemon):
                kill_if_running(child)
        shutil.rmtree(out_dir, ignore_errors=True)
        return Sample(1.0, 0, cpu, max_rss, fds=fds,
                      extra={"rss": rss, "base_rss": base_rss, "conns": conns})


    # The durable-publishing scenarios (issue 9): a daemon started from the command line with
    # only the options every zcrecv has had since the first stage, so that the same scenarios
    # run against today's binary and a rebuilt one; --zcrecv-arg and --zcrecv-set add more.

    @contextlib.contextmanager
    def slow_disk(self, size):
        """A throttled ext4 filesystem (tests/tools/slow-disk) mounted for the scenario; Skip
        with the tool's reason when it cannot be set up (root, a loop device, the blkio cgroup)."""
        tool, mount = self.args.slow_disk, self.args.slow_mount
        if not os.access(tool, os.X_OK):
            raise Skip(f"the slow-disk tool is not at {tool} (--slow-disk PATH)")
        up = subprocess.run([tool, "up", "--mbps", str(self.args.slow_mbps), "--size", size,
                             mount], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if up.returncode != 0:
            reason = " ".join(up.stdout.split()) or f"exit status {up.returncode}"
            if "already a mount point" not in reason:
                subprocess.run([tool, "down", mount], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=False)
            raise Skip(f"`slow-disk up --mbps {self.args.slow_mbps} --size {size} {mount}` "
                       f"failed: {reason} (it needs root, a free loop device and the blkio or "
                       "io cgroup controller)")
        self.slow_mounts.append(mount)
        try:
            yield mount
        finally:
            self.slow_disk_down(mount)

    def slow_disk_down(self, mount):
        for child in self.children:  # nothing may hold a file on it
            kill_if_running(child)
        down = subprocess.run([self.args.slow_disk, "down", mount], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        if down.returncode != 0:
            print(f"warning: slow-disk down {mount}: {down.stdout.strip()}", file=sys.stderr)
        else:
            with contextlib.suppress(OSError):
                os.rmdir(mount)
        self.slow_mounts.remove(mount)

    def slow_argv(self, mount, argv):
        """`argv` run through `slow-disk run MOUNT`: its writes to that disk are throttled."""
        return [self.args.slow_disk, "run", mount, *argv]

    def durable_config(self):
        """The one file the durable daemons read (-c): what the command line cannot say (the
        limits, raised so that no probe is refused) and the --zcrecv-set keys."""
        tables = {"": {}, "limits": {"max_connections": "16384",
                                     "max_connections_per_peer": "16384"}}
        for setting in self.args.zcrecv_set:
            key, value = setting.split("=", 1)
            table, _, name = key.strip().rpartition(".")
            value = value.strip()
            if not re.fullmatch(r'-?\d+|true|false|".*"|\[.*\]', value):
                value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            tables.setdefault(table, {})[name] = value
        config = os.path.join(self.work, "durable.toml")
        with open(config, "w") as text:
            for table, keys in tables.items():
                if table and keys:
                    text.write(f"\n[{table}]\n")
                text.writelines(f"{name} = {value}\n" for name, value in keys.items())
        return config

    def start_durable_daemon(self, name, out_dir, sync, workers=None, max_file_size=None,
                             slow=None, receipt=False, record_delimiter=None):
        """Starts `zcrecv -c CONFIG -l ADDR -o DIR --sync SYNC --name {conn}-{seq}.bin
        [--workers N] [--max-file-size SIZE] [--receipt] [--record-delimiter BYTE] EXTRA...` on
        a fresh directory, through `slow-disk run` when `slow` names a slow disk; returns
        (process, report, address, log)."""
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        address = self.new_address("tcp")
        argv = [self.args.zcrecv, "-c", self.durable_config(), "-l", address, "-o", out_dir,
                "--sync", sync, "--name", "{conn}-{seq}.bin"]
        if workers is not None:
            argv += ["--workers", str(workers)]
        if max_file_size is not None:
            argv += ["--max-file-size", max_file_size]
        if receipt:
            argv.append("--receipt")
        if record_delimiter is not None:
            argv += ["--record-delimiter", record_delimiter]
        argv += self.args.zcrecv_arg
        if slow:
            argv = self.slow_argv(slow, argv)
        os.sync()  # the previous run's dirty pages must not be written back during this one
        daemon, report, log = self.spawn_daemon(name, argv, [address],
                                                f"the daemon (`{' '.join(argv)}`)")
        return daemon, report, address, log

    def wait_published(self, daemon, log, count, timeout=120.0):
        """Sends SIGUSR2 until the daemon's statistics line says `files published` >= count;
        returns when that line was read. A file counts there once it is published, durably with
        sync = publish (today after its fdatasync, rename and directory fsync; after issue 9 too,
        though the connection may close earlier), so this is "all N files durable"."""
        offset = os.path.getsize(log)
        deadline = time.monotonic() + timeout
        published = 0
        while True:
            daemon.send_signal(signal.SIGUSR2)  # rusage_exec passes it on
            answered = time.monotonic() + 0.05
            while time.monotonic() < answered:
                with open(log, "rb") as text:
                    text.seek(offset)
                    new = text.read()
                complete = new[: new.rfind(b"\n") + 1]
                offset += len(complete)
                values = STATISTICS.findall(complete.decode(errors="replace"))
                if values:
                    published = int(values[-1])
                    if published >= count:
                        return time.monotonic()
                    break
                time.sleep(0.001)
            if daemon.poll() is not None:
                raise RunError(f"the daemon exited with status {daemon.returncode} with "
                               f"{published} of {count} files published: {tail(log)}")
            if time.monotonic() > deadline:
                raise RunError(f"{published} of {count} files published after {timeout:.0f} s: "
                               f"{tail(log)}")
            time.sleep(POLL)

    def check_files(self, out_dir, expected, checksum):
        """The published files in `out_dir` must be exactly `expected` ({size: count}), with no
        file left partial; with `checksum`, each one's bytes are the pattern's (every file starts
        a connection or a rotation at a multiple of the 1 MiB pattern)."""
        files = published_files(out_dir)
        partial = [entry.name for entry in os.scandir(out_dir) if entry.name.startswith(".")]
        sizes = {}
        for entry in files:
            sizes.setdefault(entry.stat().st_size, []).append(entry)
        found = {size: len(entries) for size, entries in sizes.items()}
        if found != {size: count for size, count in expected.items() if count} or partial:
            raise RunError(f"{out_dir}: published files by size {found}, expected {expected}"
                           + (f"; left partial: {partial[:3]}" if partial else ""))
        if checksum:
            bad = [entry.name for entry in files
                   if self.file_hash(entry.path) != self.expected_hash(entry.stat().st_size)]
            if bad:
                raise RunError(f"{len(bad)} files differ from what was sent (e.g. {bad[:3]})")

    def stall(self, name, mount, sync, workers, total, file_size, checksum):
        """One `total` stream rotated every `file_size` into a daemon on the slow disk, while the
        probe opens a 1 KiB connection every 20 ms. The probe starts 0.2 s before the stream and
        stops 0.2 s after the stream's last file is published. Returns a Sample whose extra
        holds each probe's latency and start (seconds from the stream's first connect)."""
        out_dir = os.path.join(mount, "out")
        daemon, report, address, log = self.start_durable_daemon(
            name, out_dir, sync, workers, size_name(file_size).replace(" ", ""), slow=mount)
        probe = None
        try:
            self.measured_pid(report)
            closed = ["--closed"] if self.args.probe_mode == "closed" else []
            probe = self.spawn([os.path.join(self.bin, "probe"), "--interval-ms", "20", *closed,
                                "--bytes", str(KiB), address], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, stdin=subprocess.PIPE)
            time.sleep(0.2)
            sender = self.spawn([self.sender, "--bytes", str(total), "--chunk", str(MiB),
                                 "--await-close", address], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
            start, _ = self.finish_sender(sender)
            files = total // file_size
            deadline = time.monotonic() + RUN_TIMEOUT
            while sum(1 for f in published_files(out_dir) if f.stat().st_size == file_size) < files:
                if time.monotonic() > deadline:
                    raise RunError(f"the stream's {files} files not published after "
                                   f"{RUN_TIMEOUT:.0f} s: {tail(log)}")
                time.sleep(0.02)
            end = time.monotonic()
            time.sleep(0.2)
            try:
                output, _ = probe.communicate(input=b"", timeout=RUN_TIMEOUT)
            except subprocess.TimeoutExpired as error:
                raise RunError("the probe did not finish") from error
            cpu, max_rss = self.stop_daemon(daemon, report, log)
        finally:
            for child in (probe, daemon):
                kill_if_running(child)
        latencies, starts, errors = [], [], []
        for line in output.decode().splitlines():
            fields = dict(item.split("=", 1) if "=" in item else (item, "")
                          for item in line.split()[1:])
            if line.startswith("probe ") and "latency" in fields:
                latencies.append(float(fields["latency"]))
                starts.append(float(fields["start"]) - start)
            elif line.startswith("probe "):
                errors.append(fields.get("error", "unfinished"))
        self.check_files(out_dir, {file_size: files, KiB: len(latencies)}, checksum)
        shutil.rmtree(out_dir, ignore_errors=True)
        return Sample(end - start, total, cpu, max_rss,
                      extra={"latencies": latencies, "starts": starts, "errors": errors})

    def durable_short_zcrecv(self, name, out_dir, conns, clients, checksum, receipt=False):
        """`conns` connections of 1 KiB, `clients` at once, into a daemon with sync = publish
        (with `receipt`, a listener that answers OK once a stream is durable: the clients read
        it before the close); time from the first connect until the statistics line counts
        `conns` files published."""
        daemon, report, address, log = self.start_durable_daemon(name, out_dir, "publish",
                                                                 receipt=receipt)
        try:
            self.measured_pid(report)
            sender = self.spawn([self.sender, "--bytes", str(KiB), "--chunk", str(KiB),
                                 "--conns", str(conns), "--parallel", str(clients),
                                 "--await-close", address], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
            start, last_close = self.finish_sender(sender)
            end = self.wait_published(daemon, log, conns)
            cpu, max_rss = self.stop_daemon(daemon, report, log)
        finally:
            kill_if_running(daemon)
        self.check_files(out_dir, {KiB: conns}, checksum)
        shutil.rmtree(out_dir, ignore_errors=True)
        return Sample(end - start, KiB * conns, cpu, max_rss,
                      extra={"files": conns, "last_close": last_close - start})

    def durable_short_server(self, name, out_dir, conns, clients, checksum):
        """The same clients against the sequential C server, which exits once it has published
        the last file: time from the first connect to its exit."""
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        address = self.new_address("tcp")
        log = self.log_path(name)
        os.sync()
        with open(log, "w") as log_file:
            server, report = self.spawn_measured([os.path.join(self.bin, "durable_server"),
                                                  address, out_dir, str(conns)],
                                                 stdout=log_file, stderr=log_file)
            try:
                self.wait_listening(address, server, log)
                sender = self.spawn([self.sender, "--bytes", str(KiB), "--chunk", str(KiB),
                                     "--conns", str(conns), "--parallel", str(clients),
                                     "--await-close", address], stdout=subprocess.PIPE,
                                    stderr=log_file)
                ended, status = self.reap(server, (sender,))
                start, _ = self.finish_sender(sender)
            finally:
                kill_if_running(server)
        if status != 0:
            raise RunError(f"exited with status {status}: {tail(log)}")
        self.check_files(out_dir, {KiB: conns}, checksum)
        shutil.rmtree(out_dir, ignore_errors=True)
        cpu, max_rss = usage_of(report)
        return Sample(ended - start, KiB * conns, cpu, max_rss, extra={"files": conns})

    def durable_short_writer(self, name, out_dir, conns, threads, checksum):
        """The C writer's `threads` threads publishing `conns` files of 1 KiB, no network; time
        from before its first thread to after its last (it prints both)."""
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        log = self.log_path(name)
        os.sync()
        with open(log, "w") as log_file:
            writer, report = self.spawn_measured([os.path.join(self.bin, "durable_writer"),
                                                  out_dir, str(threads), str(conns), str(KiB)],
                                                 stdout=subprocess.PIPE, stderr=log_file)
            try:
                output, _ = writer.communicate(timeout=RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                writer.kill()
                output, _ = writer.communicate()
        fields = dict(item.split("=", 1) for item in output.decode().split())
        if writer.returncode != 0 or "end" not in fields:
            raise RunError(f"exited with status {writer.returncode}: {tail(log)}")
        self.check_files(out_dir, {KiB: conns}, checksum)
        shutil.rmtree(out_dir, ignore_errors=True)
        cpu, max_rss = usage_of(report)
        return Sample(float(fields["end"]) - float(fields["start"]), KiB * conns, cpu, max_rss,
                      extra={"files": conns})

    def durable_stream_zcrecv(self, name, mount, total, checksum):
        """One `total` stream into a daemon with sync = publish on the slow disk (default
        max_file_size, so one file per GiB); time from the connect until the statistics line
        counts its files published (durable)."""
        out_dir = os.path.join(mount, "out")
        daemon, report, address, log = self.start_durable_daemon(name, out_dir, "publish",
                                                                 slow=mount)
        try:
            self.measured_pid(report)
            sender = self.spawn([self.sender, "--bytes", str(total), "--chunk", str(MiB),
                                 "--await-close", address], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
            start, last_close = self.finish_sender(sender)
            files = -(-total // GiB)  # the default max_file_size is 1 GiB
            end = self.wait_published(daemon, log, files)
            cpu, max_rss = self.stop_daemon(daemon, report, log)
        finally:
            kill_if_running(daemon)
        sizes = {GiB: total // GiB, total % GiB: 1 if total % GiB else 0}
        self.check_files(out_dir, sizes, checksum)
        shutil.rmtree(out_dir, ignore_errors=True)
        return Sample(end - start, total, cpu, max_rss, extra={"last_close": last_close - start})

    def dd_stream(self, name, mount, total, flag):
        """`dd if=/dev/zero of=FILE bs=1M count=N FLAG` through `slow-disk run`: the disk's own
        rate for one writer. Time from its start to its exit."""
        path = os.path.join(mount, "dd.bin")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        log = self.log_path(name)
        os.sync()
        with open(log, "w") as log_file:
            started = time.monotonic()
            dd, report = self.spawn_measured(self.slow_argv(mount, [
                "dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={total // MiB}", flag]),
                stdout=log_file, stderr=log_file)
            ended, status = self.reap(dd)
        try:
            if status != 0:
                raise RunError(f"exited with status {status}: {tail(log)}")
            if os.path.getsize(path) != total:
                raise RunError(f"{path}: {os.path.getsize(path)} bytes instead of {total}")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        cpu, max_rss = usage_of(report)
        return Sample(ended - started, total, cpu, max_rss)

    def source_file(self, total):
        """A file of `total` bytes of the sender's pattern on the tmpfs, made once: what the
        senders of scenario 11 send (its bytes are what expected_hash(total) hashes)."""
        path = os.path.join(self.tmpfs, f"source-{total}.bin")
        if not os.path.exists(path):
            with open(path, "wb") as source:
                for _ in range(total // PATTERN_SIZE):
                    source.write(self.pattern)
                source.write(self.pattern[: total % PATTERN_SIZE])
        return path

    def file_to_file(self, pair, out_dir, total, checksum):
        """One file of `total` bytes sent by `pair`'s sender and written by its receiver into
        out_dir/received.bin; both run under rusage_exec. Wall time from the sender's start to
        the later of the two exits; CPU of each side."""
        source = self.source_file(total)
        address = self.new_address("tcp")
        out = os.path.join(out_dir, "received.bin")
        (receive_argv, receive_stdout), (send_argv, send_stdin) = pair.command(address, out,
                                                                               source)
        log = self.log_path(pair.name)
        os.sync()
        with open(log, "w") as log_file, open(receive_stdout or os.devnull, "wb") as sink, \
                open(send_stdin or os.devnull, "rb") as feed:
            receiver, receive_report = self.spawn_measured(
                receive_argv, stdout=sink if receive_stdout else log_file, stderr=log_file)
            try:
                self.wait_listening(address, receiver, log)
                self.counter += 1
                send_report = os.path.join(self.logs, f"rusage-{self.counter}.txt")
                start = time.monotonic()
                sender = self.spawn([os.path.join(self.bin, "rusage_exec"), send_report,
                                     *send_argv], stdin=feed, stdout=log_file, stderr=log_file)
                sent, send_status = self.reap(sender, (receiver,))
                received, receive_status = self.reap(receiver, (sender,))
            finally:
                kill_if_running(receiver)
        try:
            if send_status != 0 or receive_status != 0:
                raise RunError(f"sender exited {send_status}, receiver {receive_status}: "
                               f"{tail(log)}")
            size = os.path.getsize(out)
            if size != total:
                raise RunError(f"{out}: {size} bytes instead of {total}")
            if checksum and self.file_hash(out) != self.expected_hash(total):
                raise RunError(f"{out}: the bytes differ from what was sent (sha256)")
        finally:
            if os.path.exists(out):
                os.unlink(out)
        cpu, max_rss = usage_of(receive_report)
        send_cpu, send_rss = usage_of(send_report)
        return Sample(max(sent, received) - start, total, cpu, max_rss,
                      extra={"send_cpu": send_cpu, "send_rss_kib": send_rss})

    def small_sources(self, count):
        """`count` files of 1 KiB (the pattern's first KiB) on the tmpfs, made once: what
        zcsend sends in scenario 12."""
        directory = os.path.join(self.tmpfs, f"small-{count}")
        if not os.path.isdir(directory):
            os.makedirs(directory)
            for number in range(count):
                with open(os.path.join(directory, f"{number:06d}.bin"), "wb") as small:
                    small.write(self.pattern[:KiB])
        return sorted(os.path.join(directory, name) for name in os.listdir(directory))

    def zcsend_durable(self, name, out_dir, count, processes, checksum):
        """`count` files of 1 KiB sent by `processes` zcsend processes at once (the files split
        between them), each file on its own connection, into a daemon with `--receipt` and
        `--sync publish`: time from the first zcsend's start until the last one exits, every
        file acknowledged (OK only once durable). CPU of the daemon and of the senders."""
        files = self.small_sources(count)
        daemon, report, address, log = self.start_durable_daemon(name, out_dir, "publish",
                                                                 receipt=True)
        senders = []
        try:
            self.measured_pid(report)
            send_log = self.log_path(name + " senders")
            with open(send_log, "w") as log_file:
                start = time.monotonic()
                for part in range(processes):
                    senders.append(self.spawn_measured(
                        [self.args.zcsend, "--to", address, "--no-progress", "--attempts", "1",
                         *files[part::processes]], stdout=log_file, stderr=log_file))
                end = start
                for sender, _ in senders:
                    ended, status = self.reap(sender, [s for s, _ in senders])
                    end = max(end, ended)
                    if status != 0:
                        raise RunError(f"zcsend exited with status {status}: {tail(send_log)}")
            cpu, max_rss = self.stop_daemon(daemon, report, log)
        finally:
            kill_if_running(daemon)
            for sender, _ in senders:
                kill_if_running(sender)
        self.check_files(out_dir, {KiB: count}, checksum)
        shutil.rmtree(out_dir, ignore_errors=True)
        send_cpu = sum(usage_of(send_report)[0] for _, send_report in senders)
        return Sample(end - start, KiB * count, cpu, max_rss,
                      extra={"files": count, "send_cpu": send_cpu})

    @contextlib.contextmanager
    def records_source(self, total):
        """A file of `total` bytes of newline-delimited records on the tmpfs, for the length of
        the `with`; yields (path, its sha256). Each record is RECORD_LENGTHS bytes of printable
        ASCII (0x20-0x7e) ending with '\n', lengths and bytes drawn from a generator seeded with
        RECORDS_SEED, so every run sends the same file; the last record is cut short so that
        the file ends with a '\n' at exactly `total` bytes. Scenario 11's sources are removed
        first (source_file makes them again when asked): with them, this file and its copy
        received would not fit in the 3 GiB tmpfs."""
        for entry in os.scandir(self.tmpfs):
            if entry.name.startswith("source-"):
                os.unlink(entry.path)
        path = os.path.join(self.tmpfs, f"records-{total}.bin")
        printable = bytes(range(0x20, 0x7F))
        to_printable = bytes(printable[byte % len(printable)] for byte in range(256))
        random_source = random.Random(RECORDS_SEED)
        digest = hashlib.sha256()
        newline = RECORD_LENGTHS[0] - 1  # where the next record's '\n' goes
        try:
            with open(path, "wb") as records:
                for offset in range(0, total, 4 * MiB):
                    block = bytearray(random_source.randbytes(min(4 * MiB, total - offset))
                                      .translate(to_printable))
                    while newline < offset + len(block):
                        block[newline - offset] = ord("\n")
                        newline += random_source.randint(*RECORD_LENGTHS)
                    if offset + len(block) == total:
                        block[-1] = ord("\n")
                    records.write(block)
                    digest.update(block)
            yield path, digest.hexdigest()
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def records_stream(self, name, out_dir, source, digest, delimiter, checksum):
        """The file `source` sent by sendfile_sender over loopback TCP into a daemon on the
        tmpfs with `--sync none --max-file-size 64MiB` and, when `delimiter` is given,
        `--record-delimiter DELIMITER` (one connection: files {conn}-{seq}.bin). Time from the
        sender's start until the published files hold every byte. Checked every time: every file
        but the last is 64 MiB without a delimiter, and ends with '\n' within record_max (64
        KiB, the default) below 64 MiB with one; with `checksum`, the files concatenated in
        {seq} order hash as `source` (`digest`)."""
        total = os.path.getsize(source)
        file_size, record_max = 64 * MiB, 64 * KiB
        daemon, report, address, log = self.start_durable_daemon(
            name, out_dir, "none", max_file_size="64MiB", record_delimiter=delimiter)
        send_log = self.log_path(name + " sender")
        try:
            self.measured_pid(report)
            with open(send_log, "w") as log_file:
                start = time.monotonic()
                sender = self.spawn([os.path.join(self.bin, "sendfile_sender"), address, source],
                                    stdout=log_file, stderr=log_file)
                _, status = self.reap(sender, (daemon,))
            if status != 0:
                raise RunError(f"sendfile_sender exited with status {status}: {tail(send_log)}")
            deadline = time.monotonic() + RUN_TIMEOUT
            while sum(entry.stat().st_size for entry in published_files(out_dir)) < total:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise RunError(f"the stream's files not all published: {tail(log)}")
                time.sleep(POLL)
            end = time.monotonic()
            cpu, max_rss = self.stop_daemon(daemon, report, log)
        finally:
            kill_if_running(daemon)
        named = {}
        for entry in published_files(out_dir):
            match = re.fullmatch(r"[0-9a-f]+-(\d+)\.bin", entry.name)
            if not match:
                raise RunError(f"{out_dir}: unexpected file {entry.name}")
            named[int(match.group(1))] = entry
        files = [named[seq] for seq in sorted(named)]
        sizes = [entry.stat().st_size for entry in files]
        if sum(sizes) != total:
            raise RunError(f"{out_dir}: {sum(sizes)} bytes in {len(files)} files, not {total}")
        for entry, size in zip(files[:-1], sizes):
            if delimiter is None and size != file_size:
                raise RunError(f"{entry.name}: {size} bytes, not {file_size}")
            if delimiter is not None:
                with open(entry.path, "rb") as data:
                    data.seek(-1, os.SEEK_END)
                    last = data.read(1)
                if last != b"\n" or not file_size - record_max < size <= file_size:
                    raise RunError(f"{entry.name}: {size} bytes ending with {last!r}, not a "
                                   f"record boundary within {record_max} bytes of {file_size}")
        if checksum:
            joined = hashlib.sha256()
            for entry in files:
                with open(entry.path, "rb") as data:
                    while block := data.read(4 * MiB):
                        joined.update(block)
            if joined.hexdigest() != digest:
                raise RunError(f"{out_dir}: the files in {{seq}} order differ from what was sent "
                               "(sha256)")
        shutil.rmtree(out_dir, ignore_errors=True)
        return Sample(end - start, total, cpu, max_rss, extra={"files": len(files)})


class Scraper:
    """What Prometheus does to a target: GET /metrics every `interval` seconds (on a fixed
    schedule, each with a 5 s timeout), from a thread, between start() and stop(). Counts the
    answers: 200 with the zcrecv families in the body, or anything else (failed)."""

    def __init__(self, address, interval):
        host, port = address.rsplit(":", 1)
        self.address = (host, int(port))
        self.interval = interval
        self.answered = 0
        self.failed = 0
        self.error = ""
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()

    def run(self):
        due = time.monotonic()
        while not self.stopping.wait(max(0.0, due - time.monotonic())):
            due += self.interval
            try:
                with socket.create_connection(self.address, timeout=5) as client:
                    client.sendall(b"GET /metrics HTTP/1.1\r\nHost: zcrecv\r\n"
                                   b"Connection: close\r\n\r\n")
                    answer = b""
                    while chunk := client.recv(65536):
                        answer += chunk
                if (answer.startswith(b"HTTP/1.1 200 ")
                        and b"zcrecv_connections_accepted_total" in answer):
                    self.answered += 1
                    continue
                self.error = answer[:80].decode(errors="replace")
            except OSError as error:
                self.error = str(error)
            self.failed += 1


def run_rounds(bench, label, contenders, measure, rounds):
    """One warm-up round, then `rounds` counted ones; each round runs every contender once, the
    starting contender rotating so none always runs first. The warm-up round also checksums."""
    for number in range(rounds + 1):
        order = contenders[number % len(contenders):] + contenders[:number % len(contenders)]
        for contender in order:
            if contender.missing or contender.failed:
                continue
            tag = "warm-up" if number == 0 else f"round {number}/{rounds}"
            print(f"  {label}: {tag}: {contender.name}", file=sys.stderr, flush=True)
            try:
                sample = measure(contender, number == 0)
            except RunError as error:
                contender.failed = str(error)
                print(f"    failed: {error}", file=sys.stderr, flush=True)
                continue
            if number > 0:
                contender.samples.append(sample)


def conn_rate(sample):
    """Connections per second of a short-connection sample."""
    return sample.extra["conns"] / sample.seconds


def short_connection_rows(contenders, cpu_digits, last_column):
    """Table rows of short-connection contenders: name, median conn/s, min–max, receiver CPU
    µs per connection (`cpu_digits` decimals), `last_column(contender)`, and a note."""
    rows = []
    for contender in contenders:
        note = state_note(contender)
        if note or not contender.samples:
            rows.append([contender.name, "–", "–", "–", "–", note or "no samples"])
            continue
        rates = [conn_rate(s) for s in contender.samples]
        cpu_us = [s.cpu / s.extra["conns"] * 1e6 for s in contender.samples]
        rows.append([contender.name, f"{median(rates):.0f}", f"{min(rates):.0f}–{max(rates):.0f}",
                     f"{median(cpu_us):.{cpu_digits}f}", last_column(contender), ""])
    return rows


def peak_rss_mib(contender):
    return f"{max(s.max_rss_kib for s in contender.samples) / 1024:.1f}"


def per_round_ratios(numerator, denominator, value):
    """value(numerator's sample) / value(denominator's sample), round by round."""
    pairs = zip(numerator.samples, denominator.samples)
    return [value(a) / value(b) for a, b in pairs if value(b) > 0]


def per_round_ratio(numerator, denominator, value):
    """The median over rounds of value(numerator's sample) / value(denominator's sample)."""
    return median(per_round_ratios(numerator, denominator, value))


def rounds_text(ratios):
    return " ".join(f"{ratio:.2f}" for ratio in ratios)


def ratio_bar(label, measured, contender, value, bar):
    """`label: **met**: …` when the median over rounds of value(measured) / value(contender) is
    at least `bar`, with the per-round ratios; `label: not measured (why)` without samples."""
    if not measured.samples or not contender.samples:
        return (f"{label}: not measured "
                f"({state_note(measured) or state_note(contender) or 'no samples'})")
    ratios = per_round_ratios(measured, contender, value)
    return f"{label}: " + verdict(median(ratios) >= bar, f"{ratio_text(median(ratios), bar)} "
                                                         f"(rounds: {rounds_text(ratios)})")


def state_note(contender):
    if contender.missing:
        return f"skipped: {contender.missing}"
    if contender.failed:
        return f"failed: {contender.failed}"
    return ""


class Suite:
    """The scenarios of issues 5 and 9; each returns its markdown (tables and bars) and keeps
    what the plots need in `plot_data`."""

    def __init__(self, bench, args):
        self.bench = bench
        self.args = args
        self.quick = args.quick
        self.rounds = args.rounds or (2 if args.quick else 5)
        self.plot_data = {}

    def zcrecv(self, name, *extra):
        def command(address, out):
            return ([self.args.zcrecv, "--once", "-l", address, "-o", out or "-",
                     "--sync", "none", *extra], None if out else os.devnull)
        return Contender(name, command, zcrecv=True)

    def single_stream_contenders(self):
        bin_dir = self.bench.bin
        contenders = [
            self.zcrecv("zcrecv --once"),
            self.zcrecv("zcrecv --copy-mode readwrite", "--copy-mode", "readwrite"),
            Contender("C splice loop", lambda a, o: ([os.path.join(bin_dir, "splice_loop"), a,
                                                      o or os.devnull], None)),
            Contender("C read/write loop", lambda a, o: ([os.path.join(bin_dir, "readwrite_loop"),
                                                          a, o or os.devnull], None)),
            Contender("socat", lambda a, o: (["socat", "-u", "TCP-LISTEN:%s,bind=127.0.0.1,"
                                              "reuseaddr" % a.rsplit(":", 1)[1],
                                              f"OPEN:{o},creat,trunc"], None)),
            Contender("nc -l > file", lambda a, o: (["nc", "-l", "127.0.0.1",
                                                     a.rsplit(":", 1)[1]], o)),
        ]
        for contender, tool in ((contenders[4], "socat"), (contenders[5], "nc")):
            if shutil.which(tool) is None:
                contender.missing = f"{tool} is not installed (apt-get install {tool})"
        return contenders

    def scenario_1(self):
        total = 256 * MiB if self.quick else GiB
        out = [f"## Scenario 1: one stream of {size_name(total)} over loopback TCP\n",
               f"The sender writes {size_name(MiB)} at a time; zcrecv runs with `--sync none` "
               "(no receiver calls fsync). Wall time runs from the sender's connect to the "
               "receiver's exit. `zcrecv ÷ this` is the median over rounds of zcrecv's MiB/s "
               "over this contender's in the same round; `CPU ratio` likewise for receiver CPU "
               f"per GiB. {self.rounds} counted rounds after a warm-up (which also checksums).\n"]
        for target, directory in (("tmpfs", self.bench.tmpfs), ("disk (/var/tmp)",
                                                                 self.bench.disk)):
            contenders = self.single_stream_contenders()
            run_rounds(self.bench, f"scenario 1 {target}", contenders,
                       lambda c, warm: self.bench.stream(c, "tcp", directory, MiB, total, warm),
                       self.rounds)
            self.plot_data.setdefault("single", []).append((target, contenders))
            out.append(f"### Into a file on {target}\n")
            out.append(self.contender_table(contenders))
            if target == "tmpfs":
                out.append(self.single_stream_bars(contenders))
        return "\n".join(out)

    def contender_table(self, contenders):
        reference = contenders[0]
        rows = []
        for contender in contenders:
            note = state_note(contender)
            if note or not contender.samples or not reference.samples:
                rows.append([contender.name] + ["–"] * 7 + [note])
                continue
            speeds = [s.mib_s for s in contender.samples]
            rows.append([
                contender.name,
                f"{median(speeds):.0f}",
                f"{min(speeds):.0f}–{max(speeds):.0f}",
                f"{per_round_ratio(reference, contender, lambda s: s.mib_s):.2f}",
                rounds_text(per_round_ratios(reference, contender, lambda s: s.mib_s)),
                f"{median([s.cpu_per_gib for s in contender.samples]):.3f}",
                f"{per_round_ratio(reference, contender, lambda s: s.cpu_per_gib):.2f}",
                f"{max(s.max_rss_kib for s in contender.samples) / 1024:.1f}",
                contender.samples[0].path or "",
            ])
        return markdown_table(["receiver", "median MiB/s", "min–max", "zcrecv ÷ this",
                               "zcrecv ÷ this, per round", "CPU s/GiB",
                               "CPU ratio (zcrecv ÷ this)", "peak RSS MiB", "path / note"],
                              rows) + "\n"

    def single_stream_bars(self, contenders):
        zcrecv = contenders[0]
        lines = ["Bars (docs/design.md §14, one stream into tmpfs, ratios from this run):\n"]
        for contender, bar in zip(contenders[1:], (1.35, 0.95, None, 2.5, 2.0)):
            if bar is None:
                continue
            lines.append(ratio_bar(f"- zcrecv ≥ {bar} × {contender.name}", zcrecv, contender,
                                   lambda s: s.mib_s, bar))
        readwrite = contenders[1]
        if zcrecv.samples and readwrite.samples:
            ratio = per_round_ratio(zcrecv, readwrite, lambda s: s.cpu_per_gib)
            rounds = rounds_text(per_round_ratios(zcrecv, readwrite, lambda s: s.cpu_per_gib))
            medians = (f"{median([s.cpu_per_gib for s in zcrecv.samples]):.3f} vs "
                       f"{median([s.cpu_per_gib for s in readwrite.samples]):.3f} s/GiB")
            lines.append("- receiver CPU per GiB ≤ 0.75 × readwrite: "
                         + verdict(ratio <= 0.75, f"{ratio_text(ratio, 0.75)} (rounds: {rounds}; "
                                   f"medians {medians})"))
        return "\n".join(lines) + "\n"

    def scenario_2(self):
        sizes = [KiB << i for i in range(11)]
        if self.quick:
            sizes = [KiB, 32 * KiB, MiB]
        total = 16 * MiB if self.quick else 256 * MiB
        out = ["## Scenario 2: the seed's table (Go's BenchmarkSpliceFile shape)\n",
               f"One connection per write size carrying {size_name(total)} in writes of that "
               "size; zcrecv `--once` (`auto`, which splices) against the same binary with "
               "`--copy-mode readwrite`. `splice ÷ rw` is the median of per-round ratios; the "
               "last row is their geometric mean (Go reported +34 % on /dev/null). CPU is the "
               f"receiver's s/GiB, readwrite / splice. {self.rounds} counted rounds per cell "
               "after a warm-up.\n"]
        for sink, directory in (("/dev/null", None), ("a tmpfs file", self.bench.tmpfs)):
            columns = {}
            for transport in ("tcp", "unix"):
                for size in sizes:
                    contenders = [self.zcrecv("splice"),
                                  self.zcrecv("readwrite", "--copy-mode", "readwrite")]
                    label = f"scenario 2 {sink} {transport} {size_name(size)}"
                    run_rounds(self.bench, label, contenders,
                               lambda c, warm: self.bench.stream(c, transport, directory, size,
                                                                 total, warm),
                               self.rounds)
                    columns[transport, size] = contenders
            self.plot_data.setdefault("seed", []).append((sink, sizes, columns))
            out.append(f"### Into {sink}\n")
            out.append(self.seed_table(sizes, columns))
        return "\n".join(out)

    def seed_table(self, sizes, columns):
        rows = []
        ratios = {"tcp": [], "unix": []}
        for size in sizes:
            row = [size_name(size)]
            for transport in ("tcp", "unix"):
                splice, readwrite = columns[transport, size]
                note = state_note(splice) or state_note(readwrite)
                if note or not splice.samples or not readwrite.samples:
                    row += ["–", "–", note or "no samples", "–"]
                    continue
                ratio = per_round_ratio(splice, readwrite, lambda s: s.mib_s)
                ratios[transport].append(ratio)
                row += [f"{median([s.mib_s for s in readwrite.samples]):.0f}",
                        f"{median([s.mib_s for s in splice.samples]):.0f}",
                        f"{ratio:.2f} ({(ratio - 1) * 100:+.0f} %)",
                        f"{median([s.cpu_per_gib for s in readwrite.samples]):.2f} / "
                        f"{median([s.cpu_per_gib for s in splice.samples]):.2f}"]
            rows.append(row)
        geo = ["geomean", "", ""]
        geo += [f"{geomean(ratios['tcp']):.2f} ({(geomean(ratios['tcp']) - 1) * 100:+.0f} %)"
                if ratios["tcp"] else "–", "", "", ""]
        geo += [f"{geomean(ratios['unix']):.2f} ({(geomean(ratios['unix']) - 1) * 100:+.0f} %)"
                if ratios["unix"] else "–", ""]
        rows.append(geo)
        return markdown_table(["write size", "TCP rw MiB/s", "TCP splice MiB/s", "TCP splice ÷ rw",
                               "TCP CPU rw / splice", "Unix rw MiB/s", "Unix splice MiB/s",
                               "Unix splice ÷ rw", "Unix CPU rw / splice"], rows) + "\n"

    def daemon_contender(self, name):
        return Contender(name, None, zcrecv=True)

    def scenario_3(self):
        conns = 2000 if self.quick else 20000
        parallel = 64
        out = [f"## Scenario 3: short connections ({conns} × 1 KiB, daemon mode)\n",
               f"The sender keeps {parallel} connections in flight; each writes 1 KiB, shuts "
               "down its side and counts as done when zcrecv closes it. Time runs from the "
               "first connect to the last file published (`{conn}-{seq}.bin`, one per "
               f"connection, each checked for size). `workers = 0` (one per CPU). "
               f"{self.rounds} counted rounds after a warm-up (which also checks every file's "
               "bytes).\n"]
        targets = [("sync none, tmpfs", "none", self.bench.tmpfs),
                   ("sync publish, tmpfs", "publish", self.bench.tmpfs),
                   ("sync none, disk", "none", self.bench.disk)]
        contenders = [self.daemon_contender(name) for name, _, _ in targets]
        settings = {c.name: (sync, directory) for c, (_, sync, directory) in zip(contenders,
                                                                                   targets)}

        def measure(contender, warm):
            sync, directory = settings[contender.name]
            return self.bench.daemon_streams(contender.name, os.path.join(directory, "out"), sync,
                                             conns, parallel, KiB, KiB, warm, False)

        run_rounds(self.bench, "scenario 3", contenders, measure, self.rounds)
        rows = short_connection_rows(contenders, 0, peak_rss_mib)
        out.append(markdown_table(["output", "median conn/s", "min–max", "receiver CPU µs/conn",
                                   "peak RSS MiB", "note"], rows) + "\n")
        first = contenders[0]
        if first.samples:
            rate = median([s.extra["conns"] / s.seconds for s in first.samples])
            out.append(f"Bar: short connections ≥ 15 000/s with `sync = none` on "
                       f"{os.cpu_count()} cores: " + verdict(rate >= 15000, f"{rate:.0f}/s") +
                       "\n")
        else:
            out.append(f"Bar: short connections ≥ 15 000/s: not measured ({state_note(first)})\n")
        return "\n".join(out)

    def scenario_4(self):
        total = 128 * MiB if self.quick else GiB
        levels = [1, 10, 100, 1000]
        out = [f"## Scenario 4: concurrent streams into tmpfs ({size_name(total)} in all, daemon "
               "mode)\n",
               "N connections open at once, each carrying 1/N of the bytes in 256 KiB writes; "
               "time from the first connect to the last file published; fds = most open fds "
               f"seen in the daemon (sampled every 50 ms). {self.rounds} counted rounds after a "
               "warm-up (which also checksums every file).\n"]
        contenders = [self.daemon_contender(f"{n} stream{'s' if n > 1 else ''}")
                      for n in levels]
        counts = dict(zip((c.name for c in contenders), levels))

        def measure(contender, warm):
            n = counts[contender.name]
            return self.bench.daemon_streams(contender.name,
                                             os.path.join(self.bench.tmpfs, "out"), "none", n, n,
                                             total // n, 256 * KiB, warm, True)

        run_rounds(self.bench, "scenario 4", contenders, measure, self.rounds)
        rows = []
        single = contenders[0]
        for contender in contenders:
            note = state_note(contender)
            if note or not contender.samples:
                rows.append([contender.name] + ["–"] * 7 + [note or "no samples"])
                continue
            speeds = [s.mib_s for s in contender.samples]
            ratios = per_round_ratios(contender, single, lambda s: s.mib_s)
            rows.append([contender.name, f"{median(speeds):.0f}",
                         f"{min(speeds):.0f}–{max(speeds):.0f}",
                         f"{median(ratios):.2f}" if ratios else "–", rounds_text(ratios),
                         f"{median([s.cpu_per_gib for s in contender.samples]):.3f}",
                         f"{max(s.max_rss_kib for s in contender.samples) / 1024:.1f}",
                         f"{max(s.fds for s in contender.samples)}", ""])
        out.append(markdown_table(["streams", "aggregate MiB/s", "min–max", "÷ 1 stream",
                                   "÷ 1 stream, per round", "CPU s/GiB", "peak RSS MiB", "fds",
                                   "note"], rows) + "\n")
        out.append(ratio_bar("Bar: 1 000 concurrent streams ≥ 0.9 × single-stream aggregate",
                             contenders[-1], single, lambda s: s.mib_s, 0.9) + "\n")
        return "\n".join(out)

    def scenario_5(self):
        conns = 1000 if self.quick else 10000
        out = [f"## Scenario 5: {conns} idle connections (daemon mode)\n",
               "The sender opens the connections and sends nothing; once the daemon holds them "
               "all (its fd count says so), its VmRSS is read from /proc. Baseline = VmRSS "
               f"before the first connection. {self.rounds} counted rounds after a warm-up.\n"]
        contender = self.daemon_contender(f"{conns} idle")
        run_rounds(self.bench, "scenario 5", [contender],
                   lambda c, warm: self.bench.idle(c.name, os.path.join(self.bench.tmpfs, "out"),
                                                   conns), self.rounds)
        if not contender.samples:
            out.append(f"Not measured: {state_note(contender) or 'no samples'}\n")
            out.append(f"Bar: 10 000 idle connections < 64 MiB resident: not measured\n")
            return "\n".join(out)
        samples = contender.samples
        rss = median([s.extra["rss"] for s in samples]) / 1024
        base = median([s.extra["base_rss"] for s in samples]) / 1024
        out.append(markdown_table(
            ["idle connections", "median VmRSS MiB", "baseline MiB", "KiB per connection",
             "peak RSS MiB (ru_maxrss)", "fds"],
            [[conns, f"{rss:.1f}", f"{base:.1f}", f"{(rss - base) * 1024 / conns:.2f}",
              f"{max(s.max_rss_kib for s in samples) / 1024:.1f}",
              f"{max(s.fds for s in samples)}"]]) + "\n")
        out.append(f"Bar: {conns} idle connections < 64 MiB resident: "
                   + verdict(rss < 64, f"{rss:.1f} MiB") + "\n")
        return "\n".join(out)

    def scenario_9(self):
        conns = 2000 if self.quick else 20000
        parallel = 64
        out = [f"## Scenario 9: short connections while /metrics is scraped ({conns} × 1 KiB, "
               "daemon mode, issue 12)\n",
               "Scenario 3's `sync = none` tmpfs run twice per round: once with no metrics "
               "endpoint, once with `[metrics] listen` set and a scraper (in the driver) sending "
               f"`GET /metrics` every {SCRAPE_INTERVAL * 1000:.0f} ms from the first connect to "
               "the last file published; every scrape must answer 200 with the zcrecv families. "
               f"{self.rounds} counted rounds after a warm-up (which also checks every file's "
               "bytes); the ratio is the median of the per-round ratios.\n"]
        plain = self.daemon_contender("no metrics endpoint")
        scraped = self.daemon_contender(f"scraped every {SCRAPE_INTERVAL * 1000:.0f} ms")
        directory = os.path.join(self.bench.tmpfs, "out")

        def measure(contender, warm):
            return self.bench.daemon_streams(contender.name, directory, "none", conns, parallel,
                                             KiB, KiB, warm, False, contender is scraped)

        run_rounds(self.bench, "scenario 9", [plain, scraped], measure, self.rounds)
        rows = short_connection_rows(
            (plain, scraped), 1,
            lambda contender: f"{median([s.extra['scrapes'] for s in contender.samples]):.0f}")
        out.append(markdown_table(["daemon", "median conn/s", "min–max", "receiver CPU µs/conn",
                                   "scrapes per round", "note"], rows) + "\n")
        out.append(ratio_bar("Bar (issue 12): short connections with /metrics scraped every "
                             "100 ms ≥ 0.97 × without the endpoint", scraped, plain, conn_rate,
                             0.97) + "\n")
        return "\n".join(out)


    def extra_args_note(self):
        extra = [f"`{' '.join(self.args.zcrecv_arg)}`"] if self.args.zcrecv_arg else []
        extra += [f"`{setting}`" for setting in self.args.zcrecv_set]
        return (" Extra zcrecv settings of this run: " + ", ".join(extra) + ".") if extra else ""

    def scenario_6(self):
        total = 256 * MiB if self.quick else GiB
        file_size = 64 * MiB if self.quick else 256 * MiB
        mbps = self.args.slow_mbps
        out = [f"## Scenario 6: stall probe on a {mbps} MB/s disk (durable publishing, "
               "issue 9)\n",
               f"A zcrecv daemon on a slow disk (`slow-disk up --mbps {mbps}`, ext4; zcrecv runs "
               f"through `slow-disk run`, so its fdatasync and fsync go at {mbps} MB/s) receives "
               f"one {size_name(total)} stream (1 MiB writes) rotated every "
               f"{size_name(file_size)} (`--max-file-size`), while a probe opens a 1 KiB "
               "connection every 20 ms and times each from its connect to zcrecv's close ("
               + ("open loop: on a fixed schedule, not waiting for earlier probes, so a stall "
                  "shows in every probe due during it"
                  if self.args.probe_mode == "open" else
                  "closed loop, `--probe-mode closed`: at most one probe open, the next one 20 ms "
                  "after the previous started or when it ended, so a stall shows in one probe")
               + "). The probe starts 0.2 s "
               "before the stream and stops 0.2 s after the stream's last file is published; "
               "every probe publishes a file too. Percentiles are nearest-rank over the probes "
               f"of all {self.rounds} counted rounds (after a warm-up, which also checksums "
               "every file); `per round` gives each round's own. `--workers 1` and the default "
               f"(one per CPU: {os.cpu_count()}); `--sync publish` beside `--sync none`."
               + self.extra_args_note() + "\n"]
        contenders, settings = [], {}
        for workers in (1, None):
            for sync in ("publish", "none"):
                label = "1" if workers else f"default ({os.cpu_count()})"
                contender = self.daemon_contender(f"workers {label}, sync {sync}")
                settings[contender.name] = (workers, sync, label)
                contenders.append(contender)
        with self.bench.slow_disk("3G") as mount:
            def measure(contender, warm):
                workers, sync, _ = settings[contender.name]
                return self.bench.stall(contender.name, mount, sync, workers, total, file_size,
                                        warm)

            run_rounds(self.bench, "scenario 6", contenders, measure, self.rounds)
        self.plot_data["stall"] = [(c, settings[c.name]) for c in contenders]
        rows, bars = [], []
        for contender in contenders:
            workers, sync, label = settings[contender.name]
            note = state_note(contender)
            if note or not contender.samples:
                rows.append([label, sync] + ["–"] * 8 + [note or "no samples"])
                if sync == "publish":
                    bars.append(f"- `--workers {label}`: not measured ({note or 'no samples'})")
                continue
            samples = contender.samples
            pooled = [x for s in samples for x in s.extra["latencies"]]
            failed = sum(len(s.extra["errors"]) for s in samples)
            p50, p99, worst = (percentile(pooled, q) * 1000 for q in (50, 99, 100))
            rows.append([label, sync, len(pooled) + failed, f"{p50:.1f}", f"{p99:.1f}",
                         f"{worst:.1f}",
                         " ".join(f"{percentile(s.extra['latencies'], 99) * 1000:.0f}"
                                  for s in samples),
                         " ".join(f"{percentile(s.extra['latencies'], 100) * 1000:.0f}"
                                  for s in samples),
                         failed, f"{median([s.mib_s for s in samples]):.0f}", ""])
            if sync == "publish":
                ok = p99 <= 50 and worst <= 250 and failed == 0
                bars.append(f"- `--workers {label}`: " + verdict(
                    ok, f"p99 {p99:.1f} ms, max {worst:.1f} ms, {failed} probes failed"))
        out.append(markdown_table(["workers", "sync", "probes", "p50 ms", "p99 ms", "max ms",
                                   "p99 ms per round", "max ms per round", "failed probes",
                                   "stream MiB/s", "note"], rows) + "\n")
        out.append("`stream MiB/s`: the stream's bytes over the time from its connect to its "
                   "last file published (not a bar here; scenario 8 measures the durable "
                   "stream alone).\n")
        out.append("Bar (issue 9, on the 100 MB/s disk with `sync = publish`): probe p99 ≤ 50 ms "
                   "and max ≤ 250 ms (and no probe refused):\n")
        out.append("\n".join(bars) + "\n")
        return "\n".join(out)

    def scenario_7(self):
        files = 500 if self.quick else 2000
        clients = 16
        directory = self.bench.disk
        out = [f"## Scenario 7: durable short connections ({files} × 1 KiB, {clients} clients, "
               "`sync = publish`, ordinary disk)\n",
               f"Into `{os.path.dirname(directory)}` "
               f"({filesystem_of(directory)}). The sender keeps {clients} connections in "
               "flight; each writes 1 KiB, shuts down its side and waits for the receiver's "
               "close. **zcrecv** (daemon, default workers, `--sync publish`, one file per "
               "connection): time from the first connect until its SIGUSR2 statistics line says "
               f"`files published={files}` (a file counts there once durable: fdatasync, rename, "
               "directory fsync); polled every ~5 ms after the last client is done, so the "
               "figure may be a few ms late, never early. **C sequential server** "
               "(`durable_server.c`): accepts one connection at a time, reads it to its end into "
               "a new file, fdatasync, rename, fsync of the directory, then closes it; time from "
               f"the first connect to its exit after the last file. **C writer, {clients} "
               f"threads** (`durable_writer.c`, no network): each thread creates a file, writes "
               "1 KiB, fdatasync, rename, fsync of the directory, in a loop: the disk's own "
               "parallel rate; time from its first thread's start to its last one's end. "
               "**zcrecv, receipts**: the same with `--receipt`, so each client reads `OK 1024` "
               "(sent once its file is durable) before the close: a sender that knows. "
               f"{self.rounds} counted rounds after a warm-up (which also checks every file's "
               "bytes)." + self.extra_args_note() + "\n"]
        zcrecv = self.daemon_contender("zcrecv")
        receipts = self.daemon_contender("zcrecv, receipts")
        server = Contender("C sequential server", None)
        writer = Contender(f"C writer, {clients} threads", None)
        contenders = [zcrecv, receipts, server, writer]
        until = {zcrecv.name: "statistics line: all files published (durable)",
                 receipts.name: "statistics line: all files published (durable)",
                 server.name: "server exit (last file durable)",
                 writer.name: "writer exit (last file durable)"}

        def measure(contender, warm):
            out_dir = os.path.join(directory, "out")
            if contender is zcrecv or contender is receipts:
                return self.bench.durable_short_zcrecv(contender.name, out_dir, files, clients,
                                                       warm, receipt=contender is receipts)
            if contender is server:
                return self.bench.durable_short_server(contender.name, out_dir, files, clients,
                                                       warm)
            return self.bench.durable_short_writer(contender.name, out_dir, files, clients, warm)

        run_rounds(self.bench, "scenario 7", contenders, measure, self.rounds)
        self.plot_data["durable-short"] = contenders

        def rate(sample):
            return sample.extra["files"] / sample.seconds

        rows = []
        for contender in contenders:
            note = state_note(contender)
            if note or not contender.samples or not zcrecv.samples:
                rows.append([contender.name] + ["–"] * 5 + [until[contender.name],
                                                            note or "no samples"])
                continue
            rates = [rate(s) for s in contender.samples]
            ratios = per_round_ratios(zcrecv, contender, rate)
            cpu_us = median([s.cpu / s.extra["files"] * 1e6 for s in contender.samples])
            if contender is zcrecv or contender is receipts:
                closes = median([s.extra["last_close"] for s in contender.samples])
                times = median([s.seconds for s in contender.samples])
                note = f"last connection closed at {closes:.2f} s, all durable at {times:.2f} s"
            rows.append([contender.name, f"{median(rates):.0f}",
                         f"{min(rates):.0f}–{max(rates):.0f}", f"{median(ratios):.2f}",
                         rounds_text(ratios), f"{cpu_us:.0f}", until[contender.name], note])
        out.append(markdown_table(["publisher", "files/s", "min–max", "zcrecv ÷ this",
                                   "zcrecv ÷ this, per round", "CPU µs/file", "measured until",
                                   "note"], rows) + "\n")
        out.append("Bars (issues 9 and 10, ratios from this run):\n")
        lines = []
        for measured, contender, bar in ((zcrecv, server, 1.3), (zcrecv, writer, 1.0),
                                         (receipts, zcrecv, 0.9)):
            lines.append(ratio_bar(f"- {measured.name} ≥ {bar} × {contender.name}", measured,
                                   contender, rate, bar))
        out.append("\n".join(lines) + "\n")
        out.append("The last bar is issue 10's: a receipt costs one small write per connection.\n")
        return "\n".join(out)

    def scenario_8(self):
        total = 256 * MiB if self.quick else GiB
        mbps = self.args.slow_mbps
        out = [f"## Scenario 8: one durable stream of {size_name(total)} on a {mbps} MB/s disk\n",
               f"On the slow disk (`slow-disk up --mbps {mbps}`; every writer runs through "
               "`slow-disk run`, so what it writes to the device goes at that rate). **zcrecv**: "
               "daemon, default workers, `--sync publish`, default `max_file_size` (1 GiB: one "
               "file per GiB), one connection of 1 MiB writes; time from the connect until "
               "its SIGUSR2 statistics line counts the stream's files published (durable). "
               f"**dd**: `dd if=/dev/zero of=FILE bs=1M count={total // MiB}` with "
               "`oflag=direct` (the disk's own rate: the bar's reference) and with "
               "`conv=fdatasync` (page cache, then one fdatasync: what zcrecv does today); time "
               f"from its start to its exit. {self.rounds} counted rounds after a warm-up "
               "(which also checksums zcrecv's file)." + self.extra_args_note() + "\n"]
        zcrecv = self.daemon_contender("zcrecv, sync publish")
        direct = Contender("dd oflag=direct", None)
        fdatasync = Contender("dd conv=fdatasync", None)
        contenders = [zcrecv, direct, fdatasync]
        until = {zcrecv.name: "statistics line: file published (durable)",
                 direct.name: "dd exit", fdatasync.name: "dd exit (after its fdatasync)"}
        with self.bench.slow_disk("3G") as mount:
            def measure(contender, warm):
                if contender is zcrecv:
                    return self.bench.durable_stream_zcrecv(contender.name, mount, total, warm)
                flag = "oflag=direct" if contender is direct else "conv=fdatasync"
                return self.bench.dd_stream(contender.name, mount, total, flag)

            run_rounds(self.bench, "scenario 8", contenders, measure, self.rounds)
        self.plot_data["durable-stream"] = contenders
        rows = []
        for contender in contenders:
            note = state_note(contender)
            if note or not contender.samples or not zcrecv.samples:
                rows.append([contender.name] + ["–"] * 5 + [until[contender.name],
                                                            note or "no samples"])
                continue
            speeds = [s.mib_s for s in contender.samples]
            ratios = per_round_ratios(zcrecv, contender, lambda s: s.mib_s)
            if contender is zcrecv:
                closes = median([s.extra["last_close"] for s in contender.samples])
                note = f"connection closed at {closes:.2f} s (median)"
            rows.append([contender.name, f"{median(speeds):.1f}",
                         f"{min(speeds):.1f}–{max(speeds):.1f}", f"{median(ratios):.2f}",
                         rounds_text(ratios),
                         f"{median([s.cpu_per_gib for s in contender.samples]):.3f}",
                         until[contender.name], note])
        out.append(markdown_table(["writer", "MiB/s", "min–max", "zcrecv ÷ this",
                                   "zcrecv ÷ this, per round", "CPU s/GiB", "measured until",
                                   "note"], rows) + "\n")
        out.append(f"({mbps} MB/s = {mbps * 1e6 / MiB:.1f} MiB/s.)\n")
        out.append(ratio_bar("Bar (issue 9): the durable stream ≥ 0.9 × the disk's own rate "
                             "(dd oflag=direct)", zcrecv, direct, lambda s: s.mib_s, 0.9) + "\n")
        return "\n".join(out)

    def scenario_10(self):
        conns = 2000 if self.quick else 20000
        parallel = 64
        out = [f"## Scenario 10: short connections behind a proxy ({conns} × 1 KiB, daemon "
               "mode, issue 11)\n",
               "Scenario 3's `sync none, tmpfs` twice in each round: once as there, once with "
               "the sender writing a 28-byte PROXY v2 header before each connection's 1 KiB (in "
               "the same `writev`, as a proxy forwarding a client's first segment does) into a "
               "listener with `proxy_protocol = true` and `proxy_from = [\"127.0.0.1/32\"]`. "
               "Every file is checked for size (1 KiB: the header is not in it) and, in the "
               f"warm-up, for its bytes. {self.rounds} counted rounds after a warm-up.\n"]
        plain = self.daemon_contender("without PROXY protocol")
        proxied = self.daemon_contender("PROXY v2 header")
        contenders = [plain, proxied]

        def measure(contender, warm):
            return self.bench.daemon_streams(contender.name,
                                             os.path.join(self.bench.tmpfs, "out"), "none",
                                             conns, parallel, KiB, KiB, warm, False,
                                             proxy=contender is proxied)

        run_rounds(self.bench, "scenario 10", contenders, measure, self.rounds)
        rows = short_connection_rows(contenders, 1, peak_rss_mib)
        out.append(markdown_table(["sender", "median conn/s", "min–max", "receiver CPU µs/conn",
                                   "peak RSS MiB", "note"], rows) + "\n")
        out.append(ratio_bar("Bar: short connections with a PROXY v2 header ≥ 0.95 × without, "
                             "same run", proxied, plain, conn_rate, 0.95) + "\n")
        return "\n".join(out)

    def send_file_pairs(self):
        """Scenario 11's sender → receiver pairs: command(address, out, source) gives
        ((receiver argv, its stdout or None), (sender argv, its stdin or None))."""
        bin_dir = self.bench.bin

        def port(address):
            return address.rsplit(":", 1)[1]

        pairs = [
            Contender("zcsend → zcrecv --once --receipt", lambda a, o, f: (
                ([self.args.zcrecv, "--once", "--receipt", "-l", a, "-o", o], None),
                ([self.args.zcsend, "--to", a, "--no-progress", "--attempts", "1", f], None))),
            Contender("C sendfile → C splice loop", lambda a, o, f: (
                ([os.path.join(bin_dir, "splice_loop"), a, o], None),
                ([os.path.join(bin_dir, "sendfile_sender"), a, f], None))),
            Contender("socat → socat", lambda a, o, f: (
                (["socat", "-u", f"TCP-LISTEN:{port(a)},bind=127.0.0.1,reuseaddr",
                  f"OPEN:{o},creat,trunc"], None),
                (["socat", "-u", f"OPEN:{f}", f"TCP:{a}"], None))),
            Contender("nc -N < file → nc -l > file", lambda a, o, f: (
                (["nc", "-l", "127.0.0.1", port(a)], o),
                (["nc", "-N", "127.0.0.1", port(a)], f))),
        ]
        for pair, tool in ((pairs[2], "socat"), (pairs[3], "nc")):
            if shutil.which(tool) is None:
                pair.missing = f"{tool} is not installed (apt-get install {tool})"
        if not os.access(self.args.zcsend, os.X_OK):
            pairs[0].missing = f"{self.args.zcsend} is not an executable"
        return pairs

    def scenario_11(self):
        total = 256 * MiB if self.quick else GiB
        directory = self.bench.tmpfs
        out = [f"## Scenario 11: one file of {size_name(total)} to a file, across loopback TCP "
               "(issue 21)\n",
               "The source is a file of the sender pattern on the tmpfs, the destination a new "
               "file on the same tmpfs. **zcsend** sends it with sendfile(2), half-closes and "
               "waits for `OK <n>`; **zcrecv --once --receipt** splices it into the file, syncs "
               "it (free on tmpfs) and answers. The **C pair**: `sendfile_sender.c` (sendfile of "
               "the whole file, close) into `splice_loop.c`. **socat**: `socat -u OPEN:FILE "
               "TCP:…` into `socat -u TCP-LISTEN:… OPEN:file,creat,trunc`. **nc**: `nc -N < "
               "FILE` into `nc -l > file` (netcat-openbsd). Wall time from the sender's start "
               "to the later of the two exits; CPU s/GiB of each side (its own rusage, through "
               "`rusage_exec`). `zcsend+zcrecv ÷ this` is the median of the per-round ratios of "
               f"MiB/s. {self.rounds} counted rounds after a warm-up (which also checksums).\n"]
        pairs = self.send_file_pairs()
        run_rounds(self.bench, "scenario 11", pairs,
                   lambda p, warm: self.bench.file_to_file(p, directory, total, warm),
                   self.rounds)
        reference = pairs[0]
        rows = []
        for pair in pairs:
            note = state_note(pair)
            if note or not pair.samples or not reference.samples:
                rows.append([pair.name] + ["–"] * 6 + [note or "no samples"])
                continue
            speeds = [s.mib_s for s in pair.samples]
            ratios = per_round_ratios(reference, pair, lambda s: s.mib_s)
            send_cpu = median([s.extra["send_cpu"] / (s.bytes / GiB) for s in pair.samples])
            rows.append([pair.name, f"{median(speeds):.0f}", f"{min(speeds):.0f}–{max(speeds):.0f}",
                         f"{median(ratios):.2f}", rounds_text(ratios), f"{send_cpu:.3f}",
                         f"{median([s.cpu_per_gib for s in pair.samples]):.3f}", ""])
        out.append(markdown_table(["sender → receiver", "median MiB/s", "min–max",
                                   "zcsend+zcrecv ÷ this", "per round", "sender CPU s/GiB",
                                   "receiver CPU s/GiB", "note"], rows) + "\n")
        out.append("Bars (issue 21, ratios from this run):\n")
        lines = [ratio_bar("- zcsend+zcrecv ≥ 0.95 × the C pair", reference, pairs[1],
                           lambda s: s.mib_s, 0.95)]
        for pair in pairs[2:]:
            lines.append(ratio_bar(f"- zcsend+zcrecv ahead of {pair.name} (≥ 1.0 ×)", reference,
                                   pair, lambda s: s.mib_s, 1.0))
        out.append("\n".join(lines) + "\n")
        return "\n".join(out)

    def scenario_12(self):
        files = 500 if self.quick else 2000
        clients = 16
        directory = self.bench.disk
        out = [f"## Scenario 12: small files with receipts through zcsend ({files} × 1 KiB, "
               "`sync = publish`, ordinary disk, issue 21)\n",
               f"Into `{os.path.dirname(directory)}` ({filesystem_of(directory)}), as scenario "
               "7. **zcsend, sequential**: one zcsend with every file, each on its own "
               "connection into a daemon with `--receipt --sync publish`, the next sent once "
               f"the last is acknowledged (`OK` comes once the file is durable). **zcsend × "
               f"{clients}**: {clients} zcsend processes at once, the files split between them. "
               "Time from the first zcsend's start until the last one exits, every file "
               "acknowledged. Against scenario 7's durable C contenders, measured in the same "
               f"rounds: the **C sequential server** with {clients} C clients, and the **C "
               f"writer** ({clients} threads, no network). Acknowledged (durable) files per "
               "second; CPU µs per file of the receiver and, for zcsend, of the senders. "
               f"{self.rounds} counted rounds after a warm-up (which also checks every file's "
               "bytes).\n"]
        sequential = Contender("zcsend, sequential", None)
        parallel = Contender(f"zcsend × {clients}", None)
        server = Contender("C sequential server", None)
        writer = Contender(f"C writer, {clients} threads", None)
        contenders = [sequential, parallel, server, writer]
        if not os.access(self.args.zcsend, os.X_OK):
            sequential.missing = parallel.missing = f"{self.args.zcsend} is not an executable"

        def measure(contender, warm):
            out_dir = os.path.join(directory, "out")
            if contender is sequential or contender is parallel:
                return self.bench.zcsend_durable(contender.name, out_dir, files,
                                                 1 if contender is sequential else clients, warm)
            if contender is server:
                return self.bench.durable_short_server(contender.name, out_dir, files, clients,
                                                       warm)
            return self.bench.durable_short_writer(contender.name, out_dir, files, clients, warm)

        run_rounds(self.bench, "scenario 12", contenders, measure, self.rounds)

        def rate(sample):
            return sample.extra["files"] / sample.seconds

        rows = []
        for contender in contenders:
            note = state_note(contender)
            if note or not contender.samples or not parallel.samples:
                rows.append([contender.name] + ["–"] * 5 + [note or "no samples"])
                continue
            rates = [rate(s) for s in contender.samples]
            ratios = per_round_ratios(parallel, contender, rate)
            cpu_us = median([s.cpu / s.extra["files"] * 1e6 for s in contender.samples])
            send_us = ("" if "send_cpu" not in contender.samples[0].extra else
                       f"{median([s.extra['send_cpu'] / s.extra['files'] * 1e6 for s in contender.samples]):.0f}")
            rows.append([contender.name, f"{median(rates):.0f}",
                         f"{min(rates):.0f}–{max(rates):.0f}", f"{median(ratios):.2f}",
                         rounds_text(ratios), f"{cpu_us:.0f}", send_us])
        out.append(markdown_table(["publisher", "acknowledged files/s", "min–max",
                                   f"zcsend × {clients} ÷ this", "per round",
                                   "receiver CPU µs/file", "senders' CPU µs/file"], rows) + "\n")
        return "\n".join(out)

    def scenario_13(self):
        total = 256 * MiB if self.quick else GiB
        out = [f"## Scenario 13: {size_name(total)} of newline-delimited records into 64 MiB "
               "files, record alignment off and on (issue 22)\n",
               f"A file of records of {RECORD_LENGTHS[0]}–{RECORD_LENGTHS[1]} bytes (printable "
               f"ASCII and '\\n', random lengths, seed {RECORDS_SEED}) on the tmpfs, sent over "
               "loopback TCP by `sendfile_sender.c` (sendfile of the whole file, close) into a "
               "zcrecv daemon writing to the tmpfs with `--sync none --max-file-size 64MiB`: "
               "**off** without a delimiter (files cut at exactly 64 MiB), **on** with "
               "`--record-delimiter '\\n'` (`record_max` 64 KiB, the default: each file ends "
               "just after the first '\\n' in its last 64 KiB, found with `MSG_PEEK`). Wall time "
               "from the sender's start until the published files hold every byte; CPU is the "
               "daemon's (rusage, through `rusage_exec`). `on ÷ this` is the median of the "
               "per-round ratios. Every file is checked every round (off: 64 MiB each but the "
               "last; on: each but the last ends with '\\n' within 64 KiB below 64 MiB); the "
               f"warm-up also checksums the files concatenated in `{{seq}}` order against the "
               f"input. {self.rounds} counted rounds after a warm-up, off and on alternating."
               + self.extra_args_note() + "\n"]
        off = self.daemon_contender("alignment off")
        on = self.daemon_contender("alignment on (`--record-delimiter '\\n'`)")
        contenders = [off, on]
        directory = os.path.join(self.bench.tmpfs, "out")
        with self.bench.records_source(total) as (source, digest):
            run_rounds(self.bench, "scenario 13", contenders,
                       lambda c, warm: self.bench.records_stream(
                           c.name, directory, source, digest, "\\n" if c is on else None, warm),
                       self.rounds)
        rows = []
        for contender in contenders:
            note = state_note(contender)
            if note or not contender.samples or not on.samples:
                rows.append([contender.name] + ["–"] * 9 + [note or "no samples"])
                continue
            speeds = [s.mib_s for s in contender.samples]
            ratios = per_round_ratios(on, contender, lambda s: s.mib_s)
            cpu_ratios = per_round_ratios(on, contender, lambda s: s.cpu_per_gib)
            rows.append([contender.name, f"{median(speeds):.0f}",
                         f"{min(speeds):.0f}–{max(speeds):.0f}", f"{median(ratios):.2f}",
                         rounds_text(ratios),
                         f"{median([s.cpu_per_gib for s in contender.samples]):.3f}",
                         f"{median(cpu_ratios):.2f}", rounds_text(cpu_ratios),
                         f"{median([s.extra['files'] for s in contender.samples]):.0f}",
                         peak_rss_mib(contender), ""])
        out.append(markdown_table(["daemon", "median MiB/s", "min–max", "on ÷ this",
                                   "on ÷ this, per round", "CPU s/GiB", "CPU on ÷ this",
                                   "CPU on ÷ this, per round", "files", "peak RSS MiB", "note"],
                                  rows) + "\n")
        out.append("Bars (issue 22, ratios from this run):\n")
        lines = [ratio_bar("- throughput with alignment on ≥ 0.95 × off", on, off,
                           lambda s: s.mib_s, 0.95)]
        if on.samples and off.samples:
            cpu_ratios = per_round_ratios(on, off, lambda s: s.cpu_per_gib)
            medians = (f"{median([s.cpu_per_gib for s in on.samples]):.3f} vs "
                       f"{median([s.cpu_per_gib for s in off.samples]):.3f} s/GiB")
            lines.append("- receiver CPU per GiB with alignment on ≤ 1.10 × off (within 10 %): "
                         + verdict(median(cpu_ratios) <= 1.10,
                                   f"{ratio_text(median(cpu_ratios), 1.10)} (rounds: "
                                   f"{rounds_text(cpu_ratios)}; medians {medians})"))
            # This VM's host stalls a round now and then (a 1 GiB stream takes 0.45 s or 2 s,
            # bimodal, the same with zcrecv --once), and a stall only ever slows: each mode's
            # best round is the figure the stalls leave alone.
            best = max(s.mib_s for s in on.samples) / max(s.mib_s for s in off.samples)
            least = (min(s.cpu_per_gib for s in on.samples)
                     / min(s.cpu_per_gib for s in off.samples))
            lines.append("- the same, each mode's best round (the host's stalls only slow a round):"
                         " throughput " + verdict(best >= 0.95, ratio_text(best, 0.95))
                         + ", CPU per GiB " + verdict(least <= 1.10, ratio_text(least, 1.10)))
        else:
            lines.append("- receiver CPU per GiB with alignment on ≤ 1.10 × off: not measured "
                         f"({state_note(on) or state_note(off) or 'no samples'})")
        out.append("\n".join(lines) + "\n")
        return "\n".join(out)


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of `values`; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def filesystem_of(path):
    kind = subprocess.run(["findmnt", "-no", "FSTYPE", "-T", path], stdout=subprocess.PIPE,
                          text=True, check=False).stdout.strip()
    return kind or "?"


# Plots (issue 14): SVG files beside the results file, drawn with matplotlib when it imports
# (Debian's python3-matplotlib, under /usr/bin/python3); without it the tables are all there is.

def write_plots(plot_data, results):
    """Draws the plots for the scenarios that ran as RESULTS-NAME.svg beside `results`; returns
    the markdown that shows them, or the reason there are none."""
    if not plot_data:
        return ""
    try:
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as error:
        return (f"Plots skipped: {sys.executable} cannot import matplotlib ({error}); "
                "`apt-get install python3-matplotlib` and run the suite with /usr/bin/python3.\n")
    matplotlib.rcParams.update({"svg.hashsalt": "zcrecv-bench", "font.size": 9,
                                "axes.grid": True, "grid.alpha": 0.3})
    stem = os.path.splitext(results)[0]
    drawings = [("seed-table", "The seed's table", plot_seed, ("seed",)),
                ("single-stream", "Single stream, the contenders side by side", plot_single,
                 ("single",)),
                ("stall-probe", "Stall probe latencies", plot_stall, ("stall",)),
                ("durable", "Durable publishing rates", plot_durable,
                 ("durable-short", "durable-stream"))]
    lines = ["## Plots\n"]
    for name, title, draw, keys in drawings:
        if not any(key in plot_data for key in keys):
            continue
        figure = draw(pyplot, *(plot_data.get(key) for key in keys))
        path = f"{stem}-{name}.svg"
        figure.savefig(path, metadata={"Date": None}, bbox_inches="tight", dpi=150)
        pyplot.close(figure)
        print(f"plot written: {path}", file=sys.stderr)
        lines.append(f"![{title}]({os.path.basename(path)})\n")
    return "\n".join(lines)


def contender_json(contender):
    return {"name": contender.name, "missing": contender.missing, "failed": contender.failed,
            "samples": [dataclasses.asdict(sample) for sample in contender.samples]}


def contender_from_json(data):
    return Contender(data["name"], None, missing=data["missing"], failed=data["failed"],
                     samples=[Sample(**sample) for sample in data["samples"]])


def save_plot_data(plot_data, path):
    """What the plots are drawn from, as JSON, so that they can be drawn again (--redraw) by
    another Python, e.g. after a run under one without matplotlib."""
    data = {}
    for sink, sizes, columns in plot_data.get("seed", []):
        data.setdefault("seed", []).append(
            [sink, sizes, [[transport, size, [contender_json(c) for c in pair]]
                           for (transport, size), pair in columns.items()]])
    for target, contenders in plot_data.get("single", []):
        data.setdefault("single", []).append([target, [contender_json(c) for c in contenders]])
    if "stall" in plot_data:
        data["stall"] = [[contender_json(c), list(setting)] for c, setting in plot_data["stall"]]
    for key in ("durable-short", "durable-stream"):
        if key in plot_data:
            data[key] = [contender_json(c) for c in plot_data[key]]
    with open(path, "w") as text:
        json.dump(data, text, separators=(",", ":"))


def load_plot_data(path):
    with open(path) as text:
        data = json.load(text)
    plot_data = {}
    for sink, sizes, columns in data.get("seed", []):
        plot_data.setdefault("seed", []).append(
            (sink, sizes, {(transport, size): [contender_from_json(c) for c in pair]
                           for transport, size, pair in columns}))
    for target, contenders in data.get("single", []):
        plot_data.setdefault("single", []).append(
            (target, [contender_from_json(c) for c in contenders]))
    if "stall" in data:
        plot_data["stall"] = [(contender_from_json(c), tuple(setting))
                              for c, setting in data["stall"]]
    for key in ("durable-short", "durable-stream"):
        if key in data:
            plot_data[key] = [contender_from_json(c) for c in data[key]]
    return plot_data


def spread(samples, value):
    """(median, median - min, max - median) of value(sample) over the samples."""
    values = [value(s) for s in samples]
    middle = median(values)
    return middle, middle - min(values), max(values) - middle


def short_size(size):
    return size_name(size).replace(" KiB", "K").replace(" MiB", "M").replace(" GiB", "G")


def plot_seed(pyplot, tables):
    """MiB/s by client write size (log 2), splice against read/write, TCP and Unix, one panel
    per sink: the shape of Go's BenchmarkSpliceFile table."""
    figure, axes = pyplot.subplots(1, len(tables), figsize=(5.5 * len(tables), 4.2),
                                   squeeze=False, layout="constrained")
    for axis, (sink, sizes, columns) in zip(axes[0], tables):
        for transport, colour in (("tcp", "tab:blue"), ("unix", "tab:orange")):
            for index, (mode, style, marker) in enumerate((("splice", "-", "o"),
                                                          ("read/write", "--", "s"))):
                points = [(size, *spread(columns[transport, size][index].samples,
                                         lambda s: s.mib_s))
                          for size in sizes if columns[transport, size][index].samples]
                if not points:
                    continue
                x, y, low, high = zip(*points)
                axis.plot(x, y, style, color=colour, marker=marker, markersize=4,
                          label=f"{'TCP' if transport == 'tcp' else 'Unix'} {mode}")
                axis.fill_between(x, [a - b for a, b in zip(y, low)],
                                  [a + b for a, b in zip(y, high)], color=colour, alpha=0.12)
        axis.set_xscale("log", base=2)
        axis.set_xticks(sizes)
        axis.set_xticklabels([short_size(size) for size in sizes])
        axis.set_xlabel("client write size")
        axis.set_ylabel("MiB/s (median; band: min–max)")
        axis.set_title(f"into {sink}")
        axis.set_ylim(bottom=0)
        axis.legend(fontsize=8)
    figure.suptitle("Scenario 2, the seed's table: zcrecv --once, splice (auto) against "
                    "--copy-mode readwrite")
    return figure


def plot_single(pyplot, targets):
    """Median MiB/s (min–max error bars) and receiver CPU s/GiB of every single-stream
    contender, one bar per output target."""
    names = [contender.name for contender in targets[0][1]]
    figure, (speed, cpu) = pyplot.subplots(1, 2, figsize=(11, 0.55 * len(names) + 1.6),
                                           sharey=True, layout="constrained")
    height = 0.8 / len(targets)
    for index, (target, contenders) in enumerate(targets):
        colour = ("tab:green", "tab:purple", "tab:gray")[index % 3]
        for row, contender in enumerate(contenders):
            y = row + (index - (len(targets) - 1) / 2) * height
            if not contender.samples:
                speed.text(0, y, f"  {target}: {state_note(contender)[:60]}", va="center",
                           fontsize=7)
                continue
            for axis, value in ((speed, lambda s: s.mib_s), (cpu, lambda s: s.cpu_per_gib)):
                middle, low, high = spread(contender.samples, value)
                axis.barh(y, middle, height, xerr=[[low], [high]], color=colour, capsize=2,
                          label=target if row == 0 else None)
    speed.set_yticks(range(len(names)))
    speed.set_yticklabels(names)
    speed.set_ylim(len(names) - 0.5, -0.5)  # first contender on top, room for a skipped one
    speed.set_xlabel("MiB/s (median; bars: min–max)")
    cpu.set_xlabel("receiver CPU s/GiB (median; bars: min–max)")
    speed.legend(fontsize=8, loc="lower right")
    figure.suptitle("Scenario 1: one stream over loopback TCP (1 MiB writes), receivers side by "
                    "side")
    return figure


def plot_stall(pyplot, rows):
    """The probe latencies of scenario 6: their distribution (CDF, log scale) per workers and
    sync setting, and probe by probe over time in the first counted round."""
    figure, (cdf, timeline) = pyplot.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    colours = {"1": "tab:red", "default": "tab:blue"}
    for contender, (workers, sync, label) in rows:
        if not contender.samples:
            continue
        colour = colours["1" if workers == 1 else "default"]
        style = "-" if sync == "publish" else "--"
        name = f"workers {label}, sync {sync}"
        pooled = sorted(x * 1000 for s in contender.samples for x in s.extra["latencies"])
        if pooled:
            cdf.step(pooled, [(i + 1) / len(pooled) for i in range(len(pooled))], style,
                     where="post", color=colour, label=f"{name} ({len(pooled)} probes)")
        first = contender.samples[0]
        timeline.scatter(first.extra["starts"], [x * 1000 for x in first.extra["latencies"]],
                         s=6, color=colour, marker="o" if sync == "publish" else "x",
                         label=name, rasterized=True)  # thousands of points: one image
    for axis in (cdf, timeline):
        for bar, text in ((50, "p99 bar"), (250, "max bar")):
            if axis is cdf:
                axis.axvline(bar, color="black", linestyle=":", linewidth=1)
                axis.text(bar, 0.98, f"{text} {bar} ms ", rotation=90, fontsize=7, va="top",
                          ha="right")
            else:
                axis.axhline(bar, color="black", linestyle=":", linewidth=1)
    cdf.set_xscale("log")
    cdf.set_xlabel("probe latency, connect → zcrecv's close (ms, log)")
    cdf.set_ylabel("fraction of probes ≤ x")
    cdf.set_title("distribution, all counted rounds")
    cdf.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    timeline.set_yscale("log")
    timeline.set_xlabel("probe start, s after the stream's connect")
    timeline.set_ylabel("latency (ms, log)")
    timeline.set_title("probe by probe, first counted round")
    timeline.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    figure.suptitle("Scenario 6: 1 KiB probes every 20 ms while one stream, rotated, is received "
                    "on the slow disk")
    return figure


def plot_durable(pyplot, short, stream):
    """Scenario 7's files/s and scenario 8's MiB/s, each publisher's median with min–max."""
    panels = [(title, contenders, value, unit) for title, contenders, value, unit in (
        ("Scenario 7: durable short connections", short,
         lambda s: s.extra["files"] / s.seconds, "files durably published per second"),
        ("Scenario 8: one durable stream, slow disk", stream, lambda s: s.mib_s, "MiB/s"))
        if contenders]
    figure, axes = pyplot.subplots(1, len(panels), figsize=(6.5 * len(panels), 3.2),
                                   squeeze=False, layout="constrained")
    for axis, (title, contenders, value, unit) in zip(axes[0], panels):
        names = [c.name for c in contenders]
        for row, contender in enumerate(contenders):
            if contender.samples:
                middle, low, high = spread(contender.samples, value)
                axis.barh(row, middle, 0.6, xerr=[[low], [high]], capsize=3,
                          color="tab:blue" if row == 0 else "tab:gray")
                axis.text(middle + high, row, f" {middle:.0f}", va="center", fontsize=8)
            else:
                axis.text(0, row, f" {state_note(contender)[:50]}", va="center", fontsize=7)
        axis.set_yticks(range(len(names)))
        axis.set_yticklabels(names)
        axis.invert_yaxis()
        axis.margins(x=0.12)
        axis.set_xlabel(f"{unit} (median; bars: min–max)")
        axis.set_title(title)
    return figure


def load_note():
    """Other processes share the cores; their load explains much of a run's spread."""
    with open("/proc/loadavg") as text:
        one, five, fifteen = text.read().split()[:3]
    return f"Load average (1/5/15 min) when this ended: {one} {five} {fifteen}.\n"


def machine_description(zcrecv):
    model = ""
    lscpu = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True, check=False).stdout
    for line in lscpu.splitlines():
        if line.startswith("Model name"):
            model = line.split(":", 1)[1].strip()
    version = subprocess.run([zcrecv, "--version"], stdout=subprocess.PIPE, text=True,
                             stderr=subprocess.STDOUT, check=False).stdout.strip()
    disk = subprocess.run(["findmnt", "-no", "FSTYPE", "-T", "/var/tmp"], stdout=subprocess.PIPE,
                          text=True, check=False).stdout.strip()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (f"Machine: {os.cpu_count()} CPUs ({model}), kernel {os.uname().release}, "
            f"/var/tmp on {disk or '?'}; {version}; {when}.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes and 2 counted rounds: a smoke run of under 2 minutes")
    parser.add_argument("--scenarios", default="all",
                        help="comma-separated scenario numbers or names: " + ", ".join(
                            f"{n} {name}" for n, name in SCENARIOS.items()) + " (default: all)")
    parser.add_argument("--rounds", type=int, default=0,
                        help="counted rounds after the warm-up (default 5, --quick 2)")
    parser.add_argument("--zcrecv", default=os.path.join(ROOT, "build", "bench", "zcrecv"),
                        help="the zcrecv binary (default: build/bench/zcrecv)")
    parser.add_argument("--zcsend", default=os.path.join(ROOT, "build", "bench", "zcsend"),
                        help="the zcsend binary of scenarios 11 and 12 (default: "
                             "build/bench/zcsend)")
    parser.add_argument("--results", default=os.path.join(ROOT, "build", "bench", "results.md"),
                        help="also write the tables here, and the plots beside it as "
                             "RESULTS-NAME.svg (default: build/bench/results.md)")
    parser.add_argument("--zcrecv-arg", action="append", default=[], metavar="ARG",
                        help="one more command-line argument for the daemons of scenarios 6-8 "
                             "and 13 (repeatable, one argv element each: --zcrecv-arg=--workers "
                             "--zcrecv-arg=4)")
    parser.add_argument("--zcrecv-set", action="append", default=[], metavar="KEY=VALUE",
                        help="one more configuration key for the daemons of scenarios 6-8 "
                             "and 13, written into the config file they read (repeatable; "
                             "output.sync_threads=4, output.writeback_bytes=8MiB; a value that "
                             "is not a number, a boolean, a quoted string or an array is quoted)")
    parser.add_argument("--slow-disk", default=os.path.join(ROOT, "tests", "tools", "slow-disk"),
                        help="the slow-disk tool for scenarios 6 and 8 (default: "
                             "tests/tools/slow-disk)")
    parser.add_argument("--slow-mount", default="/mnt/zcrecv-bench-slow",
                        help="where scenarios 6 and 8 mount their slow disk, set up and taken "
                             "down by the scenario (default: /mnt/zcrecv-bench-slow)")
    parser.add_argument("--slow-mbps", type=int, default=100,
                        help="the slow disk's write rate in MB/s (default 100, issue 9's)")
    parser.add_argument("--probe-mode", choices=("open", "closed"), default="open",
                        help="scenario 6's probe: open = a probe every 20 ms whatever the "
                             "earlier ones do (default); closed = at most one open, the next "
                             "20 ms after the previous started or when it ended")
    parser.add_argument("--no-plots", action="store_true", help="tables only")
    parser.add_argument("--redraw", metavar="RESULTS",
                        help="run nothing: draw the plots of an earlier run again from "
                             "RESULTS-STEM-data.json beside its results file")
    args = parser.parse_args()
    if args.redraw:
        data = os.path.splitext(os.path.abspath(args.redraw))[0] + "-data.json"
        try:
            plot_data = load_plot_data(data)
        except (OSError, ValueError, KeyError, TypeError) as error:
            parser.error(f"--redraw {args.redraw}: cannot read {data}: {error}")
        print(write_plots(plot_data, os.path.abspath(args.redraw)) or "no plot data in " + data)
        return 0
    names = {name: number for number, name in SCENARIOS.items()}
    chosen = set()
    for item in args.scenarios.split(","):
        item = item.strip()
        if item == "all":
            chosen |= set(SCENARIOS)
        elif item in names:
            chosen.add(names[item])
        elif item.isdigit() and int(item) in SCENARIOS:
            chosen.add(int(item))
        else:
            parser.error(f'--scenarios "{args.scenarios}": "{item}" is none of all, '
                         + ", ".join(f"{n} ({name})" for n, name in SCENARIOS.items()))
    chosen = sorted(chosen)
    for setting in args.zcrecv_set:
        if "=" not in setting or not setting.split("=", 1)[0].strip():
            parser.error(f'--zcrecv-set "{setting}": expected KEY=VALUE, e.g. '
                         "output.sync_threads=4")
    args.slow_disk = os.path.abspath(args.slow_disk)
    if not os.access(args.zcrecv, os.X_OK):
        parser.error(f'--zcrecv "{args.zcrecv}": not an executable; build it with cmake -S . -B '
                     "build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DZCRECV_BUILD_TESTS=OFF && "
                     "cmake --build build/bench")
    args.zcrecv = os.path.abspath(args.zcrecv)
    args.zcsend = os.path.abspath(args.zcsend)
    if args.rounds < 0:
        parser.error(f"--rounds {args.rounds}: must be at least 1")
    os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
    started = time.monotonic()
    try:
        bench = Bench(args)
    except Skip as skip:
        print(f"cannot run the benchmark: {skip}", file=sys.stderr)
        return 1
    try:
        suite = Suite(bench, args)
        with open(args.results, "w") as results:
            header = (f"# zcrecv benchmark{' (--quick)' if args.quick else ''}\n\n"
                      f"{machine_description(args.zcrecv)}\n\nCommand: `{' '.join(sys.argv)}`\n\n"
                      + load_note().replace("when this ended", "at the start"))
            for text in [header] + [None] * len(chosen):
                if text is None:
                    number = chosen.pop(0)
                    try:
                        text = getattr(suite, f"scenario_{number}")() + "\n" + load_note()
                    except Skip as skip:
                        text = f"## Scenario {number}: skipped\n\n{skip}\n"
                print(text, flush=True)
                results.write(text + "\n")
                results.flush()
            footer = f"Total time: {time.monotonic() - started:.0f} s.\n"
            print(footer)
            results.write(footer)
            if not args.no_plots and suite.plot_data:
                save_plot_data(suite.plot_data,
                               os.path.splitext(os.path.abspath(args.results))[0] + "-data.json")
                plots = write_plots(suite.plot_data, os.path.abspath(args.results))
                if plots:
                    print(plots)
                    results.write("\n" + plots)
    finally:
        bench.close()
    print(f"results written to {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
