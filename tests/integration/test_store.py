"""The payload store: content addressing, verification, limits, and crash safety.

The crash tests kill real writer processes with SIGKILL and look at what a
fresh store sees afterwards: never a partial file under a content key.
"""
from __future__ import annotations

import errno
import hashlib
import io
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gateway.store import PayloadCorrupt, PayloadNotFound, PayloadRef, PayloadStore, PayloadTooLarge
from gateway.store.payloads import TMP_DIR

REPO = Path(__file__).resolve().parents[2]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def temp_files(root: Path) -> list[Path]:
    return sorted((root / TMP_DIR).iterdir())


def visible_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("??/??/*"))


@pytest.fixture
def store(tmp_path: Path) -> PayloadStore:
    return PayloadStore(tmp_path / "payloads")


# --- the basics ---------------------------------------------------------------------------

@pytest.mark.parametrize("make_source", [
    lambda d: d,                                   # bytes
    lambda d: bytearray(d),
    lambda d: io.BytesIO(d),                       # a binary stream
    lambda d: iter([d[:1000], b"", d[1000:]]),     # chunks (e.g. a WSGI input)
], ids=["bytes", "bytearray", "stream", "chunks"])
def test_put_get_round_trip(store: PayloadStore, make_source) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)        # several chunks, not a multiple of one
    ref = store.put(make_source(data))
    assert ref == PayloadRef(sha(data), len(data))
    assert store.exists(ref.key)
    assert store.get(ref.key) == data
    with store.open(ref.key) as f:
        assert f.read() == data
    assert store.size(ref.key) == len(data)
    path = store.path(ref.key)
    assert path == store.root / ref.key[:2] / ref.key[2:4] / ref.key
    assert not path.stat().st_mode & 0o222, "payloads are written read-only"
    assert list(store.keys()) == [ref.key]
    assert temp_files(store.root) == []


def test_empty_payload(store: PayloadStore) -> None:
    ref = store.put(b"")
    assert ref == PayloadRef(sha(b""), 0)
    assert store.get(ref.key) == b""


def test_put_is_idempotent_and_does_not_rewrite(store: PayloadStore) -> None:
    data = b"<Invoice/>" * 1000
    first = store.put(data)
    st = store.path(first.key).stat()
    second = store.put(io.BytesIO(data))
    assert second == first
    st2 = store.path(first.key).stat()
    assert (st2.st_ino, st2.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), "same content must not be rewritten"
    assert list(store.keys()) == [first.key]
    assert temp_files(store.root) == []
    other = store.put(data + b"!")
    assert other.key != first.key and sorted(store.keys()) == sorted([first.key, other.key])


def test_text_is_refused_and_leaves_nothing(store: PayloadStore) -> None:
    with pytest.raises(TypeError):
        store.put("not bytes")                      # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.put(io.StringIO("text stream"))      # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.put([b"ok", "not ok"])                # type: ignore[list-item]
    assert temp_files(store.root) == [] and visible_files(store.root) == []


def test_keys_are_checked(store: PayloadStore) -> None:
    for bad in ("../../etc/passwd", "A" * 64, "ab", sha(b"x")[:-1] + "/"):
        with pytest.raises(ValueError):
            store.path(bad)
    missing = sha(b"never stored")
    assert not store.exists(missing)
    with pytest.raises(PayloadNotFound):
        store.get(missing)
    with pytest.raises(PayloadNotFound):
        store.size(missing)


# --- verification ------------------------------------------------------------------------

def corrupt(store: PayloadStore, key: str, offset: int = 10) -> None:
    path = store.path(key)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))         # one bit flipped, size unchanged


def test_corruption_is_detected_on_read(store: PayloadStore) -> None:
    data = os.urandom(2 * 1024 * 1024)
    ref = store.put(data)
    store.verify(ref.key)                          # intact: no error
    corrupt(store, ref.key, offset=1_500_000)
    with pytest.raises(PayloadCorrupt):
        store.get(ref.key)
    with pytest.raises(PayloadCorrupt):
        store.verify(ref.key)
    with pytest.raises(PayloadCorrupt):
        with store.open(ref.key, verify=True) as f:
            while f.read(64 * 1024):
                pass
    damaged = store.get(ref.key, verify=False)     # still readable on purpose, for forensics
    assert len(damaged) == len(data) and damaged != data


def test_verifying_reader_passes_intact_content_in_any_read_size(store: PayloadStore) -> None:
    data = os.urandom(300_001)
    ref = store.put(data)
    with store.open(ref.key, verify=True) as f:
        parts = []
        while chunk := f.read(7_777):
            parts.append(chunk)
    assert b"".join(parts) == data


def test_put_repairs_a_damaged_copy(store: PayloadStore) -> None:
    data = b"x" * 100_000
    ref = store.put(data)
    corrupt(store, ref.key)
    assert store.put(data) == ref
    assert store.get(ref.key) == data


# --- limits and errors -----------------------------------------------------------------

def test_size_limit_is_enforced_while_streaming(tmp_path: Path) -> None:
    store = PayloadStore(tmp_path / "p", max_size=5 * 1024 * 1024)
    consumed = 0

    def endless():
        nonlocal consumed
        block = b"\0" * 65536
        while True:
            consumed += len(block)
            if consumed > 64 * 1024 * 1024:        # fail rather than stream forever
                raise AssertionError("the size limit was not enforced while streaming")
            yield block

    with pytest.raises(PayloadTooLarge) as exc:
        store.put(endless())                       # must stop, not read forever
    assert exc.value.limit == 5 * 1024 * 1024
    assert consumed <= 5 * 1024 * 1024 + 65536, "the limit stops reading at the first chunk over it"
    assert temp_files(store.root) == [] and visible_files(store.root) == []
    # exactly at the limit is fine; a per-call limit overrides the store's
    assert store.put(b"a" * (5 * 1024 * 1024)).size == 5 * 1024 * 1024
    with pytest.raises(PayloadTooLarge):
        store.put(b"abc", max_size=2)
    assert store.put(b"ab", max_size=2).size == 2
    assert len(visible_files(store.root)) == 2 and temp_files(store.root) == []


def test_a_failing_source_leaves_nothing(store: PayloadStore) -> None:
    def broken():
        yield b"a" * 1_000_000
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put(broken())
    assert temp_files(store.root) == [] and visible_files(store.root) == []


# --- crash safety (real processes, SIGKILL) -------------------------------------------------

WRITER = textwrap.dedent("""
    import os, sys
    from gateway.store import PayloadStore
    root, mib, pause_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = PayloadStore(root)
    block = bytes(range(256)) * 4096                      # 1 MiB, same in every writer
    def chunks():
        for i in range(mib):
            if i == pause_at:
                print("paused", flush=True)
                sys.stdin.readline()                      # wait for the test to say go (or to kill us)
            yield block[:-8] + i.to_bytes(8, "big")
    print("started", flush=True)
    ref = store.put(chunks())
    print(ref.key, ref.size, flush=True)
""")


def expected_content(mib: int) -> bytes:
    block = bytes(range(256)) * 4096
    return b"".join(block[:-8] + i.to_bytes(8, "big") for i in range(mib))


def writer(root: Path, mib: int, pause_at: int = -1) -> subprocess.Popen:
    """A process putting ``mib`` MiB into the store at ``root``, pausing before chunk ``pause_at``."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(mib), str(pause_at)],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    return proc


def test_sigkill_mid_write_leaves_no_payload_and_the_next_start_sweeps(tmp_path: Path) -> None:
    root = tmp_path / "payloads"
    proc = writer(root, mib=256, pause_at=48)      # killed with 48 MiB of a 256 MiB payload written
    assert proc.stdout.readline().strip() == "paused"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    leftovers = temp_files(root)
    assert len(leftovers) == 1 and leftovers[0].stat().st_size >= 40 * 1024 * 1024, \
        "the killed writer's temporary file is there, under .tmp only"
    assert visible_files(root) == []

    store = PayloadStore(root)                     # the next start
    assert temp_files(root) == [], "the stale temporary file is swept at start"
    assert list(store.keys()) == []


def test_sigkill_at_random_moments_never_exposes_a_partial_payload(tmp_path: Path) -> None:
    root = tmp_path / "payloads"
    content = expected_content(32)
    rng = random.Random(4)
    killed_mid_write = 0
    for _ in range(8):
        proc = writer(root, mib=32)                # ~0.2 s to generate, hash, write and fsync here
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        killed_mid_write += bool(temp_files(root))
        store = PayloadStore(root)                 # restart: sweep
        keys = list(store.keys())
        for key in keys:
            store.verify(key)                      # anything visible is complete and intact
        assert keys in ([], [sha(content)])
        assert temp_files(root) == []
    assert killed_mid_write >= 2, "the kills should land during writes (timing of this machine?)"


def test_sweep_leaves_a_live_writers_temp_file_alone(tmp_path: Path) -> None:
    root = tmp_path / "payloads"
    proc = writer(root, mib=16, pause_at=8)
    try:
        assert proc.stdout.readline().strip() == "paused"
        PayloadStore(root)                         # another process starts (sweep) meanwhile
        assert len(temp_files(root)) == 1, "a temporary file being written is not stale"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        key, size = proc.stdout.readline().split()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    content = expected_content(16)
    assert (key, int(size)) == (sha(content), len(content))
    assert PayloadStore(root).get(key) == content


def test_sweep_of_other_hosts_temp_files_goes_by_age(tmp_path: Path) -> None:
    root = tmp_path / "payloads"
    store = PayloadStore(root, stale_after=600)
    fresh = root / TMP_DIR / "put-123-abcdef@another-host.tmp"
    old = root / TMP_DIR / "put-456-abcdef@another-host.tmp"
    stray = root / TMP_DIR / "something-else"
    for p in (fresh, old, stray):
        p.write_bytes(b"partial")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    os.utime(stray, (hour_ago, hour_ago))
    assert store.sweep() == 2
    assert temp_files(root) == [fresh]


def test_concurrent_puts_of_the_same_content_from_two_processes(tmp_path: Path) -> None:
    root = tmp_path / "payloads"
    PayloadStore(root)
    procs = [writer(root, mib=32, pause_at=16) for _ in range(2)]
    try:
        for p in procs:                            # both half-way through the same payload
            assert p.stdout.readline().strip() == "paused"
        assert len(temp_files(root)) == 2
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [tuple(p.stdout.readline().split()) for p in procs]
        assert [p.wait(timeout=30) for p in procs] == [0, 0]
    finally:
        for p in procs:
            p.kill()
    content = expected_content(32)
    assert results[0] == results[1] == (sha(content), str(len(content)))
    store = PayloadStore(root)
    assert list(store.keys()) == [sha(content)]
    assert len(visible_files(root)) == 1 and temp_files(root) == []
    assert store.get(sha(content)) == content


# --- put_file: a durable file stored by a second name -----------------------------------------

def _durable_file(path: Path, data: bytes) -> Path:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o440)                          # as the SFTP server leaves a counted upload
    return path


def test_put_file_links_the_file_under_its_key(store: PayloadStore, tmp_path: Path) -> None:
    data = os.urandom(70_000)
    upload = _durable_file(tmp_path / "INV-1.xml", data)
    ref = store.put_file(upload)
    assert ref == PayloadRef(sha(data), len(data))
    assert os.path.samefile(store.path(ref.key), upload)        # no copy: the same file
    assert temp_files(store.root) == []
    upload.unlink()                                             # the partner's copy goes; ours stays
    assert store.get(ref.key) == data
    assert os.stat(store.path(ref.key)).st_nlink == 1


def test_put_file_of_stored_content_keeps_the_stored_copy(store: PayloadStore, tmp_path: Path) -> None:
    data = b"<Invoice>same</Invoice>"
    first = store.put(data)
    again = store.put_file(_durable_file(tmp_path / "again.xml", data))
    assert again == first
    assert not os.path.samefile(store.path(first.key), tmp_path / "again.xml")
    assert visible_files(store.root) == [store.path(first.key)]


def test_put_file_repairs_a_damaged_copy(store: PayloadStore, tmp_path: Path) -> None:
    data = b"<Invoice>intact</Invoice>"
    ref = store.put(data)
    path = store.path(ref.key)
    os.chmod(path, 0o644)
    path.write_bytes(b"<Invoice>rotten</Invoice>")
    assert store.put_file(_durable_file(tmp_path / "f.xml", data)) == ref
    assert store.get(ref.key) == data


def test_put_file_copies_where_it_cannot_link(store: PayloadStore, tmp_path: Path, monkeypatch) -> None:
    data = os.urandom(5000)
    upload = _durable_file(tmp_path / "other-fs.xml", data)

    def cross_device(*args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")
    monkeypatch.setattr(os, "link", cross_device)
    ref = store.put_file(upload)
    assert store.get(ref.key) == data
    assert not os.path.samefile(store.path(ref.key), upload)
    assert stat.S_IMODE(os.stat(store.path(ref.key)).st_mode) == 0o444
    assert temp_files(store.root) == []


def test_put_file_enforces_the_size_limit(tmp_path: Path) -> None:
    store = PayloadStore(tmp_path / "payloads", max_size=1000)
    with pytest.raises(PayloadTooLarge):
        store.put_file(_durable_file(tmp_path / "big.xml", b"x" * 1001))
    assert visible_files(store.root) == [] and temp_files(store.root) == []
