#!/usr/bin/env python3
"""Power cuts (issue 20): crash images of the disk zcrecv writes to, taken under load.

The filesystem zcrecv writes to (ext4 with data=ordered, or XFS) sits on a loop device with
direct I/O, whose backing file lives on an outer ext4 (itself on a loop device over a tmpfs this
script mounts). A crash image is `fsfreeze -f` of the outer filesystem, a copy of the inner
backing file, `fsfreeze -u`: since the inner loop device writes through, the copy holds what the
disk had at that instant and nothing of the page cache above it — what a power cut leaves.

Load: senders on loopback, each stream on its own connection with a delivery receipt, into
`{listener}/%Y-%m-%d/{conn}/{seq}.bin` (a directory per connection), 64 KiB files, writeback every
64 KiB, an on_publish hook that appends the file's name to a ledger outside the disk. Every 16
bytes of a stream say which stream they belong to and at which offset they were sent, so any
byte of any file can be checked. Images are taken at random moments, some right after a receipt
was read. Then a stop that cuts streams exactly at a size boundary, and one image after it.

Each image is checked, mounted read-write (the journal replays) from a copy:
- every stream whose `OK <n>` was read before the freeze is there, byte-exact, in published
  files, none `.incomplete`;
- no published or `.incomplete` file holds a byte that was not sent at its offset, and a `.part`
  holds only sent bytes up to its first hole (the disk never got what follows);
- zcrecv started on it publishes every `.part` as `NAME.incomplete` holding only sent bytes,
  and hands off every file whose record is pending in the image (none forgotten; a file handed
  off twice is counted);
- every stream cut by the stop, at a size boundary, ends with a `.incomplete` file;
- the filesystem checker finds nothing to repair.

Run by ctest (tests/crash/CMakeLists.txt) with the path of zcrecv and the filesystem. Without
root, loop devices, fsfreeze or the filesystem's tools it reports skipped (the marker of
tests/support/skip.hpp), and under CI=true that is a failure.
"""

import argparse
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SKIP_MARKER = "ZCRECV-TEST-SKIPPED:"
BLOCK = 16
FILE_SIZE = 64 * 1024
MAX_STREAM = 1024 * 1024 + 40 * 1024
SENDERS = 6
HOOK_ATTRIBUTE = "user.zcrecv.handoff"
LOAD_SECONDS = 14
DEADLINE_S = 420


def skip(reason):
    if os.environ.get("CI") == "true":
        print(f"cannot run under CI=true: {reason}", flush=True)
        sys.exit(1)
    print(f"{SKIP_MARKER} {reason}", flush=True)
    sys.exit(0)


def run(*argv, check=True):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {result.returncode}: "
                           f"{(result.stderr or result.stdout).strip()}")
    return result


def preflight(fs):
    if os.geteuid() != 0:
        skip("needs root (loop devices, mounts, fsfreeze)")
    tools = ["losetup", "mount", "umount", "fsfreeze", "mkfs.ext4", "e2fsck"]
    tools += ["mkfs.xfs", "xfs_repair"] if fs == "xfs" else []
    for tool in tools:
        if shutil.which(tool) is None:
            skip(f"{tool} is not installed (.ci/install-deps installs it)")
    if not os.path.exists("/dev/loop-control"):
        skip("no loop devices (/dev/loop-control)")


def pattern(stream_id, offset, length):
    """The bytes stream `stream_id` sends at `offset` (a multiple of BLOCK)."""
    blocks = (length + BLOCK - 1) // BLOCK
    words = []
    for i in range(blocks):
        words += (stream_id, offset + i * BLOCK)
    return struct.pack(f">{2 * blocks}Q", *words)[:length]


def first_bad_byte(data, stream_id, offset):
    """The index of the first byte of `data` that the stream did not send at `offset` + index,
    or None."""
    expected = pattern(stream_id, offset, len(data))
    if data == expected:
        return None
    for i, (got, want) in enumerate(zip(data, expected)):
        if got != want:
            return i
    return None


class Disk:
    """The outer ext4 (on a loop device over a tmpfs) and the inner filesystem zcrecv writes
    to (a loop device with direct I/O over a file of the outer one). Everything is recorded in
    `undo` as it is made, and torn down in reverse order."""

    def __init__(self, work, fs):
        self.work = work
        self.fs = fs
        self.undo = []
        self.tmpfs = os.path.join(work, "tmpfs")
        self.outer = os.path.join(work, "outer")
        self.inner = os.path.join(work, "inner")
        self.images = os.path.join(self.tmpfs, "images")

    def up(self):
        for directory in (self.tmpfs, self.outer, self.inner):
            os.makedirs(directory)
        run("mount", "-t", "tmpfs", "-o", "size=12g", "zcrecv-crash", self.tmpfs)
        self.undo.append(("umount", self.tmpfs))
        os.makedirs(self.images)
        outer_image = os.path.join(self.tmpfs, "outer.img")
        with open(outer_image, "wb") as f:
            f.truncate(1536 << 20)
        outer_loop = run("losetup", "-f", "--show", outer_image).stdout.strip()
        self.undo.append(("losetup", "-d", outer_loop))
        run("mkfs.ext4", "-q", "-F", outer_loop)
        run("mount", outer_loop, self.outer)
        self.undo.append(("umount", self.outer))
        self.backing = os.path.join(self.outer, "inner.img")
        with open(self.backing, "wb") as f:
            f.truncate(640 << 20)
        self.inner_loop = run("losetup", "-f", "--show", "--direct-io=on",
                              self.backing).stdout.strip()
        self.undo.append(("losetup", "-d", self.inner_loop))
        mkfs(self.fs, self.inner_loop)
        run("mount", *mount_options(self.fs), self.inner_loop, self.inner)
        self.undo.append(("umount", self.inner))

    def image(self, name, while_frozen=lambda: None):
        """A crash image: what the inner disk holds right now. `while_frozen` runs once the copy
        is taken, before the disk goes on: what it sees happened before the power cut or during
        it, never after."""
        path = os.path.join(self.images, name)
        run("fsfreeze", "-f", self.outer)
        try:
            run("cp", "--sparse=always", self.backing, path)
            seen = while_frozen()
        finally:
            run("fsfreeze", "-u", self.outer)
        return path, seen

    def unmount_inner(self):
        step = ("umount", self.inner)
        if step in self.undo:
            self.undo.remove(step)
            run(*step)

    def down(self):
        while self.undo:
            step = self.undo.pop()
            if step[0] == "umount":
                subprocess.run(["fsfreeze", "-u", step[1]], capture_output=True)
            result = subprocess.run(list(step), capture_output=True, text=True)
            if result.returncode != 0 and step[0] == "umount":
                subprocess.run(["umount", "-l", step[1]], capture_output=True)


def mkfs(fs, device):
    if fs == "xfs":
        run("mkfs.xfs", "-q", "-f", device)
    else:
        run("mkfs.ext4", "-q", "-F", device)


def mount_options(fs):
    # Two XFS with one UUID cannot be mounted at once: the copies are mounted with nouuid.
    return ["-o", "nouuid"] if fs == "xfs" else ["-o", "data=ordered"]


def write_config(path, out, ledger, listen="127.0.0.1:0", shutdown_timeout="10s"):
    with open(path, "w") as f:
        f.write(f"""[[listen]]
address = "{listen}"
name = "crash"
receipt = true

[output]
directory = "{out}"
name = "{{listener}}/%Y-%m-%d/{{conn}}/{{seq}}.bin"
max_file_size = "{FILE_SIZE}"
writeback_bytes = "64KiB"
on_publish = ["/bin/sh", "-c", 'printf "%s\\\\n" "$ZCRECV_PATH" >> {ledger}']

[limits]
shutdown_timeout = "{shutdown_timeout}"
min_free_space = "0"
""")


class Zcrecv:
    """A zcrecv process whose stderr is collected; its listening address is parsed."""

    def __init__(self, binary, config):
        self.lines = []
        self.process = subprocess.Popen([binary, "-c", config], stderr=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        line = self.wait_for("listening on ")
        self.port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", line).group(1))

    def _read(self):
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text, count=1, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in list(self.lines) if text in line]
            if len(found) >= count:
                return found[count - 1]
            if self.process.poll() is not None and not self.reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"zcrecv did not log {text!r} ({count}×); it logged:\n" +
                             "\n".join(self.lines[-40:]))

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=60)
        self.reader.join(timeout=10)
        return status

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Ledger:
    """What the senders know: the streams sent and the receipts read."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sizes = {}
        self.acked = set()
        self.receipt_read = threading.Event()
        self.failures = []

    def new_stream(self, size, rng):
        """A stream id no other stream has, registered with its size."""
        with self.lock:
            while True:
                stream_id = rng.getrandbits(63) | 1
                if stream_id not in self.sizes:
                    self.sizes[stream_id] = size
                    return stream_id


def send_stream(port, stream_id, size, rng, stall_at=None, cut=None):
    """One stream with a receipt; returns the receipt line. With `stall_at`, sends that many
    bytes, then hands the open socket to `cut` and returns what it answers."""
    connection = socket.create_connection(("127.0.0.1", port))
    try:
        data = pattern(stream_id, 0, size if stall_at is None else stall_at)
        sent = 0
        while sent < len(data):
            step = min(len(data) - sent, rng.choice((1000, 4096, 16384, 65536, 200000)))
            connection.sendall(data[sent:sent + step])
            sent += step
        if stall_at is not None:
            return cut(connection)
        connection.shutdown(socket.SHUT_WR)
        return read_receipt(connection)
    finally:
        connection.close()


def read_receipt(connection):
    """The line zcrecv answers, without its newline ("" if it closed without one)."""
    connection.settimeout(60)
    answer = b""
    while not answer.endswith(b"\n"):
        chunk = connection.recv(64)
        if not chunk:
            break
        answer += chunk
    return answer.decode(errors="replace").strip()


def sender(port, ledger, seed, stop):
    rng = random.Random(seed)
    while not stop.is_set():
        shape = rng.random()
        if shape < 0.2:
            size = FILE_SIZE * rng.randint(1, 8)  # ends exactly on a file boundary
        else:
            size = rng.randint(1, MAX_STREAM // BLOCK) * BLOCK - rng.choice((0, 0, 3))
            if 0 < size % FILE_SIZE < BLOCK:
                size += BLOCK  # a last file holds at least a block: its stream is known
        stream_id = ledger.new_stream(size, rng)
        try:
            answer = send_stream(port, stream_id, size, rng)
        except OSError as error:
            with ledger.lock:
                ledger.failures.append(f"stream {stream_id:x}: {error}")
            continue
        if answer == f"OK {size}":
            with ledger.lock:
                ledger.acked.add(stream_id)
            ledger.receipt_read.set()
        elif not stop.is_set():
            with ledger.lock:
                ledger.failures.append(f"stream {stream_id:x} of {size} bytes: {answer!r}")


class Image:
    def __init__(self, path, acked, hooked, note):
        self.path = path
        # Streams whose OK was read before the freeze, and the files whose hook had written to
        # the ledger by the time the copy was taken.
        self.acked = acked
        self.hooked = hooked
        self.note = note


def read_lines(path):
    try:
        with open(path) as f:
            return [line.rstrip("\n") for line in f if line.strip()]
    except FileNotFoundError:
        return []


def relative_names(paths, root):
    return {os.path.relpath(path, root) for path in paths}


def take_images(disk, ledger, hook_ledger, out, count, rng):
    images = []
    for n in range(count):
        right_after_receipt = n % 2 == 1
        if right_after_receipt:
            ledger.receipt_read.clear()
            ledger.receipt_read.wait(timeout=30)
        else:
            time.sleep(rng.uniform(0.3, LOAD_SECONDS / count))
        with ledger.lock:
            acked = set(ledger.acked)
        # The hooks that ran before the cut: a file marked handed off in the image is among them.
        path, hooked = disk.image(f"load-{n}.img",
                                  lambda: relative_names(read_lines(hook_ledger), out))
        images.append(Image(path, acked, hooked,
                            "right after a receipt" if right_after_receipt else "at random"))
    return images


class Stats:
    def __init__(self):
        self.images = 0
        self.acked_checked = 0
        self.parts = 0
        self.parts_cut = 0
        self.bytes_cut = 0
        self.handoffs_pending = 0
        self.handoffs_done = 0
        self.handed_twice = 0
        self.files_checked = 0
        self.cut_markers = 0


def walk_files(root):
    for directory, _, names in os.walk(root):
        for name in names:
            yield os.path.join(directory, name)


def classify(name):
    if name.startswith(".") and name.endswith(".part"):
        return "part"
    if name.endswith(".incomplete"):
        return "incomplete"
    return "published"


def seq_of(path):
    base = os.path.basename(path).lstrip(".")
    return int(re.match(r"(\d+)", base).group(1))


def stream_ids_by_directory(paths):
    """Each connection has a directory of its own: the stream id its files' first block names,
    for every directory with a file of at least a block."""
    ids = {}
    for path in paths:
        with open(path, "rb") as f:
            head = f.read(min(BLOCK, first_hole(path)))
        if len(head) == BLOCK:
            ids.setdefault(os.path.dirname(path), struct.unpack(">QQ", head)[0])
    return ids


def check_file(path, kind, stream_id, sizes, problems, upto=None):
    """Checks every byte of `path` (up to `upto`) against what stream `stream_id` sent at its
    offset (seq × FILE_SIZE: every file of a stream but its last is full). Returns (offset,
    length)."""
    with open(path, "rb") as f:
        data = f.read() if upto is None else f.read(upto)
    offset = seq_of(path) * FILE_SIZE
    if not data:
        return offset, 0
    if stream_id not in sizes:
        problems.append(f"{path} ({kind}): starts with bytes no stream sent "
                        f"({data[:BLOCK].hex()})")
        return offset, 0
    bad = first_bad_byte(data, stream_id, offset)
    if bad is not None:
        problems.append(f"{path} ({kind}, {len(data)} bytes): byte {bad} is not what stream "
                        f"{stream_id:x} sent at offset {offset + bad} "
                        f"(got {data[bad:bad + BLOCK].hex()})")
    if offset + len(data) > sizes[stream_id]:
        problems.append(f"{path}: runs past the end of stream {stream_id:x}")
    return offset, len(data)


def first_hole(path):
    """Where the bytes that reached the disk end. An unwritten extent (which reads as zeros) is
    a hole to SEEK_HOLE only while none of its pages is cached: the cache goes first."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return 0
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        return os.lseek(f.fileno(), 0, os.SEEK_HOLE)


def handoff_state(path):
    try:
        record = os.getxattr(path, HOOK_ATTRIBUTE).decode()
    except OSError:
        return None
    match = re.search(r"^state=(\w+)$", record, re.M)
    return match.group(1) if match else None


def check_image(args, disk, image, sizes, stats, problems, cut_streams=()):
    """Mounts a copy of `image`, checks what it holds, runs zcrecv on it (recovery and the
    hand-offs), checks again, unmounts and runs the filesystem checker."""
    label = f"{os.path.basename(image.path)} ({image.note})"
    mount_point = os.path.join(disk.work, "check")
    os.makedirs(mount_point, exist_ok=True)
    loop = run("losetup", "-f", "--show", image.path).stdout.strip()
    mounted = False
    zcrecv = None
    try:
        run("mount", *mount_options(disk.fs), loop, mount_point)
        mounted = True
        out = os.path.join(mount_point, "out")
        mine = []

        # What the disk held at the power cut.
        paths = list(walk_files(out))
        ids = stream_ids_by_directory(paths)
        by_stream = {}
        pending = set()
        done = set()
        parts = []
        for path in paths:
            kind = classify(os.path.basename(path))
            upto = None
            if kind == "part":
                parts.append(path)
                upto = first_hole(path)
            else:
                (done if handoff_state(path) == "done" else pending).add(
                    os.path.relpath(path, out))
            stream_id = ids.get(os.path.dirname(path))
            if stream_id is None:
                # Not a block of this stream reached the disk: nothing to check it against.
                continue
            offset, length = check_file(path, kind, stream_id, sizes, mine, upto)
            stats.files_checked += 1
            by_stream.setdefault(stream_id, []).append((offset, length, kind, path))
        for stream_id in image.acked:
            size = sizes[stream_id]
            offset = 0
            for start, length, kind, path in sorted(by_stream.get(stream_id, [])):
                if kind != "published":
                    mine.append(f"acknowledged stream {stream_id:x}: {path} is {kind}")
                if start != offset:
                    mine.append(f"acknowledged stream {stream_id:x}: bytes {offset}–{start} "
                                "are in no file")
                offset = max(offset, start + length)
            if offset != size:
                mine.append(f"acknowledged stream {stream_id:x}: {offset} of its {size} bytes "
                            "are in its files")
            stats.acked_checked += 1
        for relative in done:
            if relative not in image.hooked:
                mine.append(f"{relative}: marked handed off, but its hook never ran")

        # zcrecv on the image: recovery, then the hand-offs.
        config = os.path.join(disk.work, "check.toml")
        recovered_ledger = os.path.join(disk.work, f"handoffs-{os.path.basename(image.path)}")
        write_config(config, out, recovered_ledger)
        zcrecv = Zcrecv(args.zcrecv, config)
        expected = len(parts) + len(pending)
        if expected:
            deadline = time.monotonic() + 60
            while (len(set(read_lines(recovered_ledger))) < expected and
                   time.monotonic() < deadline):
                time.sleep(0.05)
        if zcrecv.stop() != 0:
            mine.append("zcrecv on the image did not exit 0:\n" + "\n".join(zcrecv.lines[-20:]))
        log = "\n".join(zcrecv.lines)
        zcrecv = None
        handed = relative_names(read_lines(recovered_ledger), out)
        for path in parts:
            if os.path.exists(path):
                mine.append(f"{os.path.relpath(path, out)}: still partial after recovery")
            stats.parts += 1
        paths = list(walk_files(out))
        ids.update(stream_ids_by_directory(paths))
        for path in paths:
            relative = os.path.relpath(path, out)
            kind = classify(os.path.basename(path))
            if kind == "part":
                mine.append(f"{relative}: a partial file after recovery")
                continue
            if os.path.dirname(path) in ids:
                check_file(path, kind, ids[os.path.dirname(path)], sizes, mine)
            if relative in done:
                stats.handoffs_done += 1
                continue
            if relative not in handed:
                mine.append(f"{relative} ({kind}): never handed off (pending in the image or "
                            "recovered, no hook ran on it after the restart)")
                continue
            stats.handoffs_pending += 1
            if relative in image.hooked:
                stats.handed_twice += 1
        cut = re.findall(r"cut (\d+) bytes? the disk never got", log)
        stats.parts_cut += len(cut)
        stats.bytes_cut += sum(int(n) for n in cut)
        for stream_id in cut_streams:
            files = by_stream.get(stream_id, [])
            directories = {os.path.dirname(path) for _, _, _, path in files}
            markers = [path for directory in directories for path in walk_files(directory)
                       if path.endswith(".incomplete")]
            if not markers:
                mine.append(f"stream {stream_id:x}, cut by the stop at a size boundary, has "
                            "no .incomplete file")
            stats.cut_markers += len(markers) > 0
    finally:
        if zcrecv is not None:
            zcrecv.kill()
        if mounted:
            run("umount", mount_point)
        run("losetup", "-d", loop)
    checker = (["xfs_repair", "-n", image.path] if disk.fs == "xfs" else
               ["e2fsck", "-fn", image.path])
    result = run(*checker, check=False)
    if result.returncode != 0:
        mine.append(f"{' '.join(checker)}: exit {result.returncode}: {result.stdout[-800:]}")
    os.unlink(image.path)
    stats.images += 1
    problems += [f"{label}: {problem}" for problem in mine]


def cut_at_boundaries(port, zcrecv, ledger, rng, out):
    """Streams that stall right after filling a file, then a stop whose shutdown_timeout cuts
    them; returns their ids once zcrecv has exited."""
    ready = threading.Barrier(5)

    def hold(connection):
        ready.wait(timeout=60)
        stop_sent.wait(timeout=60)
        return read_receipt(connection)

    stop_sent = threading.Event()
    before = full_files(out)
    ids = []
    answers = {}
    threads = []
    for n in range(4):
        size = FILE_SIZE * (n + 1)
        stream_id = ledger.new_stream(size, rng)
        ids.append(stream_id)

        def one(stream_id=stream_id, size=size):
            answers[stream_id] = send_stream(port, stream_id, size, random.Random(stream_id),
                                             stall_at=size, cut=hold)

        threads.append(threading.Thread(target=one))
        threads[-1].start()
    ready.wait(timeout=60)
    # Each stream's files up to its size are published: the stream now waits on a boundary.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and full_files(out) < before + 1 + 2 + 3 + 4:
        time.sleep(0.02)
    stop_sent.set()
    status = zcrecv.stop()
    for thread in threads:
        thread.join(timeout=60)
    return ids, answers, status


def full_files(out):
    return sum(1 for path in walk_files(out)
               if classify(os.path.basename(path)) == "published" and
               os.path.getsize(path) == FILE_SIZE)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zcrecv", required=True)
    parser.add_argument("--fs", choices=("ext4", "xfs"), default="ext4")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    preflight(args.fs)
    rng = random.Random(args.seed)
    started = time.monotonic()
    print(f"crash test on {args.fs}, seed {args.seed}", flush=True)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(
        TimeoutError(f"not done within {DEADLINE_S} s")))
    signal.alarm(DEADLINE_S)
    work = tempfile.mkdtemp(prefix="zcrecv-crash-")
    disk = Disk(work, args.fs)
    zcrecv = None
    problems = []
    stats = Stats()
    try:
        disk.up()
        out = os.path.join(disk.inner, "out")
        hook_ledger = os.path.join(work, "handoffs-live")
        config = os.path.join(work, "zcrecv.toml")
        write_config(config, out, hook_ledger, shutdown_timeout="1s")
        zcrecv = Zcrecv(args.zcrecv, config)
        ledger = Ledger()
        stop = threading.Event()
        senders = [threading.Thread(target=sender, args=(zcrecv.port, ledger, f"{args.seed}/sender {n}", stop))
                   for n in range(SENDERS)]
        for thread in senders:
            thread.start()
        images = take_images(disk, ledger, hook_ledger, out, args.images, rng)
        stop.set()
        for thread in senders:
            thread.join(timeout=120)
        cut_ids, answers, status = cut_at_boundaries(zcrecv.port, zcrecv, ledger, rng, out)
        if status != 0:
            problems.append(f"zcrecv exited {status} after the stop")
        for stream_id in cut_ids:
            if not answers.get(stream_id, "").startswith("ERR "):
                problems.append(f"stream {stream_id:x} cut by the stop got {answers.get(stream_id)!r}")
        with ledger.lock:
            acked = set(ledger.acked)
        path, hooked = disk.image("after-stop.img",
                                  lambda: relative_names(read_lines(hook_ledger), out))
        after_stop = Image(path, acked, hooked, "after a stop that cut")
        zcrecv = None
        problems += ledger.failures
        disk.unmount_inner()
        sizes = dict(ledger.sizes)
        for image in images:
            check_image(args, disk, image, sizes, stats, problems)
        check_image(args, disk, after_stop, sizes, stats, problems, cut_streams=cut_ids)
    finally:
        if zcrecv is not None:
            zcrecv.kill()
        disk.down()
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - started
    print(f"{args.fs}: {stats.images} crash images, {stats.acked_checked} acknowledged streams "
          f"checked, {stats.files_checked} files checked, {stats.parts} .part files recovered "
          f"({stats.parts_cut} cut at a hole, {stats.bytes_cut} bytes), "
          f"{stats.handoffs_pending} hand-offs verified after restart "
          f"({stats.handed_twice} twice), {stats.handoffs_done} done before the cut, "
          f"{stats.cut_markers} of 4 streams cut at a size boundary marked, "
          f"{seconds:.0f} s", flush=True)
    for problem in problems:
        print(f"FAILED: {problem}", flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
