"""datasets/ downloads, against a real HTTP server on 127.0.0.1 (never the internet).

The server serves the shared MNIST files under /<behaviour>/<file name>, where
the behaviour (good, missing, forbidden, bad, trunc, slow, drip, trickle) decides how.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import closed_port
from datasets import DatasetError, load_fashion_mnist, load_mnist
from datasets import download as download_mod
from datasets import mnist as mnist_mod
from datasets.download import DownloadError, fetch_files

GZ = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
      "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, files: dict[str, bytes]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.requests: list[str] = []
        self.release = threading.Event()  # lets "slow" handlers finish at teardown

    def url(self, behaviour: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{behaviour}/"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        _, behaviour, name = self.path.split("/", 2)
        data = self.server.files.get(name)
        if data is None or behaviour == "missing":
            return self.send_error(404)
        if behaviour == "forbidden":
            return self.send_error(403)
        if behaviour == "slow":
            self.server.release.wait(10)
            return self.send_error(503)
        if behaviour == "bad":
            data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if behaviour == "trunc":
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
        elif behaviour == "trickle":  # a byte at a time, each well within the per-read timeout
            for i in range(len(data)):
                if self.server.release.is_set():
                    break
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(0.02)
        elif behaviour == "drip":  # slow enough that concurrent downloads overlap
            for i in range(0, len(data), 1 << 18):
                self.wfile.write(data[i:i + (1 << 18)])
                time.sleep(0.005)
        else:
            self.wfile.write(data)


@pytest.fixture(scope="module")
def shared_bytes(mnist_dir) -> dict[str, bytes]:
    return {name: (mnist_dir / name).read_bytes() for name in GZ}


@pytest.fixture(scope="module")
def server(shared_bytes):
    srv = _Server(shared_bytes)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch, server, shared_bytes):
    """Fresh cache per test; checksums that accept the shared re-pack; no internet."""
    monkeypatch.setenv("NN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NN_DATA_DIR", raising=False)
    monkeypatch.setattr(mnist_mod, "MNIST_MIRRORS", [])
    monkeypatch.setattr(mnist_mod, "FASHION_MNIST_MIRRORS", [])
    # The train files are a 22,699-sample re-pack: let their MD5s count as official.
    md5 = {name: hashlib.md5(data).hexdigest() for name, data in shared_bytes.items()}
    monkeypatch.setattr(mnist_mod, "MNIST_MD5", md5)
    server.requests.clear()


def _closed_port_url() -> str:
    return f"http://127.0.0.1:{closed_port()}/mnist/"


def _assert_only_final_files(folder: Path, expected: list[str]) -> None:
    if not expected and not folder.exists():  # a download that failed removes the folder it made
        return
    assert sorted(os.listdir(folder)) == sorted(expected), "temp or partial files left behind"


def test_t10k_files_match_the_official_checksums(shared_bytes):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        from datasets import MNIST_MD5  # the real table, not the patched one
        assert hashlib.md5(shared_bytes[name]).hexdigest() == MNIST_MD5[name]


def test_download_from_a_good_mirror(server, tmp_path, mnist_dir, monkeypatch, capsys):
    monkeypatch.setattr(mnist_mod, "MNIST_MIRRORS", [server.url("good")])
    target = tmp_path / "dl"
    (x, t), (xt, tt) = load_mnist(data_dir=target)
    _assert_only_final_files(target, GZ)
    for name in GZ:
        assert (target / name).read_bytes() == (mnist_dir / name).read_bytes()
    assert x.shape == (22699, 784) and tt[:5].tolist() == [7, 2, 1, 0, 4]
    err = capsys.readouterr().err
    assert err.count("Downloaded ") == 4 and "%" not in err  # one line per file off a TTY
    load_mnist(data_dir=target)  # second call: no network at all
    assert len(server.requests) == 4


@pytest.mark.parametrize("first, reason", [("missing", "HTTP 404"), ("forbidden", "HTTP 403"),
                                           ("bad", "checksum mismatch"), ("trunc", "truncated")])
def test_a_failing_mirror_is_skipped_for_the_next(server, tmp_path, monkeypatch, capsys,
                                                   first, reason):
    monkeypatch.setattr(mnist_mod, "MNIST_MIRRORS", [server.url(first), server.url("good")])
    target = tmp_path / "dl"
    (x, _), _ = load_mnist(data_dir=target)
    assert x.shape == (22699, 784)
    _assert_only_final_files(target, GZ)
    err = capsys.readouterr().err
    assert err.count(reason) == 4 and err.count("Downloaded ") == 4
    assert [p.split("/")[1] for p in server.requests] == [first, "good"] * 4


def test_all_mirrors_failing_explains_and_leaves_nothing(server, tmp_path, monkeypatch):
    refused = _closed_port_url()
    mirrors = [server.url("missing"), server.url("forbidden"), server.url("bad"),
               server.url("trunc"), refused]
    monkeypatch.setattr(mnist_mod, "MNIST_MIRRORS", mirrors)
    target = tmp_path / "dl"
    with pytest.raises(DatasetError) as info:
        load_mnist(data_dir=target)
    msg = str(info.value)
    first = GZ[0]
    for mirror, reason in zip(mirrors, ["HTTP 404", "HTTP 403", "checksum mismatch",
                                        "truncated: received", "connection failed"]):
        assert f"{mirror}{first}: {reason}" in msg
    assert f"place them in {target}" in msg
    assert "NN_DATA_DIR" in msg and "data_dir=" in msg
    for name in GZ:
        assert name in msg
    assert not target.exists()  # the folder the download created is gone again


def test_a_failed_download_is_one_summary_line_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mnist_mod, "MNIST_MIRRORS", [_closed_port_url(), _closed_port_url()])
    with pytest.raises(DatasetError) as info:
        load_mnist()  # downloads into <cache root>/mnist
    summary = info.value.summary
    assert "\n" not in summary
    assert summary.startswith(f"MNIST not found in {tmp_path / 'cache' / 'mnist'}, and the download "
                              "failed (2 mirrors tried, the last: connection failed")
    assert "--data-dir" in summary and "NN_DATA_DIR" in summary
    assert capsys.readouterr().err == ""  # the error says it all: no per-mirror lines
    assert not (tmp_path / "cache").exists()  # nor an empty cache folder


def test_a_failed_download_keeps_a_folder_that_was_there(tmp_path, monkeypatch):
    target = tmp_path / "mine"
    target.mkdir()
    monkeypatch.setattr(mnist_mod, "MNIST_MIRRORS", [_closed_port_url()])
    with pytest.raises(DatasetError):
        load_mnist(data_dir=target / "a" / "b")
    assert target.is_dir() and list(target.iterdir()) == []


def test_download_false_summary_is_one_line(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_mnist(data_dir=tmp_path / "dl", download=False)
    assert info.value.summary.startswith(f"MNIST not found in {tmp_path / 'dl'}, "
                                         f"{tmp_path / 'dl' / 'mnist'}, ")
    assert "and downloading was turned off" in info.value.summary
    assert "\n" not in info.value.summary and "\n" in str(info.value)


def test_timeout_moves_on_and_skips_the_dead_mirror(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(download_mod, "DOWNLOAD_TIMEOUT", 0.3)
    monkeypatch.setattr(mnist_mod, "MNIST_MIRRORS", [server.url("slow"), server.url("good")])
    start = time.monotonic()
    load_mnist(data_dir=tmp_path / "dl")
    assert time.monotonic() - start < 5
    err = capsys.readouterr().err
    assert err.count("timed out") == 1  # not retried for the other three files
    assert sum(p.startswith("/slow/") for p in server.requests) == 1


def test_a_trickling_mirror_is_given_up_at_the_deadline(server, tmp_path, capsys):
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        fetch_files(GZ[3:], [server.url("trickle")], {}, tmp_path / "dl", timeout=5, deadline=0.5)
    took = time.monotonic() - started
    url, reason = info.value.tries[0]
    assert url.endswith("/trickle/t10k-labels-idx1-ubyte.gz")
    assert reason.startswith("too slow: ") and "after the 0.5 s deadline" in reason
    assert took < 4  # the deadline, not the file's 10,008 bytes at 50 per second (200 s)
    _assert_only_final_files(tmp_path / "dl", [])
    assert capsys.readouterr().err == ""  # every mirror failed: the DownloadError alone says so


def test_a_trickling_mirror_gives_way_to_the_next(server, tmp_path, shared_bytes):
    got = fetch_files(GZ[3:], [server.url("trickle"), server.url("good")], {}, tmp_path / "dl",
                      deadline=0.5)
    assert got[GZ[3]].read_bytes() == shared_bytes[GZ[3]]


def test_default_target_is_the_cache_folder(server, tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_mod, "MNIST_MIRRORS", [server.url("good")])
    load_mnist()
    _assert_only_final_files(tmp_path / "cache" / "mnist", GZ)


def test_only_missing_files_are_downloaded(server, tmp_path, monkeypatch, mnist_dir):
    target = tmp_path / "dl"
    target.mkdir()
    for name in GZ[:2]:
        (target / name).write_bytes((mnist_dir / name).read_bytes())
    monkeypatch.setattr(mnist_mod, "MNIST_MIRRORS", [server.url("good")])
    load_mnist(data_dir=target)
    assert sorted(server.requests) == sorted(f"/good/{n}" for n in GZ[2:])


def test_download_false_never_contacts_a_mirror(server, tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_mod, "MNIST_MIRRORS", [server.url("good")])
    with pytest.raises(DatasetError, match="download=False"):
        load_mnist(data_dir=tmp_path / "dl", download=False)
    assert server.requests == []


def test_interrupted_download_leaves_no_file(server, tmp_path, monkeypatch):
    def interrupt(self, received):
        raise KeyboardInterrupt
    monkeypatch.setattr(download_mod._Progress, "update", interrupt)
    target = tmp_path / "dl"
    with pytest.raises(KeyboardInterrupt):
        fetch_files(GZ[:1], [server.url("good")], {}, target)
    _assert_only_final_files(target, [])


def test_concurrent_downloads_do_not_corrupt(server, tmp_path, shared_bytes):
    target = tmp_path / "dl"
    md5 = {n: hashlib.md5(b).hexdigest() for n, b in shared_bytes.items()}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait()
            fetch_files(GZ, [server.url("drip")], md5, target)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors
    assert len(server.requests) == 8  # both really downloaded every file
    _assert_only_final_files(target, GZ)
    for name in GZ:
        assert (target / name).read_bytes() == shared_bytes[name]


def test_progress_line_on_a_tty(server, tmp_path, monkeypatch):
    class FakeTTY(io.StringIO):
        def isatty(self):
            return True
    fake = FakeTTY()
    monkeypatch.setattr("sys.stderr", fake)
    fetch_files(GZ[:1], [server.url("drip")], {}, tmp_path / "dl")
    out = fake.getvalue()
    assert "\r" in out and "%" in out and "Downloaded train-images" in out


def test_a_failed_mirror_passes_by_on_a_tty_and_stays_once_another_answers(server, tmp_path,
                                                                         monkeypatch):
    class FakeTTY(io.StringIO):
        def isatty(self):
            return True
    fake = FakeTTY()
    monkeypatch.setattr("sys.stderr", fake)
    fetch_files(GZ[:1], [server.url("missing"), server.url("good")], {}, tmp_path / "dl")
    line = f"  {server.url('missing')}{GZ[0]}: HTTP 404 Not Found; trying the next mirror"
    out = fake.getvalue()
    assert out.startswith(f"\r\033[K{line}\r\033[K{line}\n")  # live, cleared, then kept
    assert out.count("HTTP 404") == 2
    assert out.index(f"Downloaded {GZ[0]}") > out.index(f"{line}\n")


def test_no_checksum_known_still_validates_structure(server, tmp_path):
    server.files["junk.gz"] = b"definitely not an IDX file"
    try:
        with pytest.raises(DownloadError) as info:
            fetch_files(["junk.gz"], [server.url("good")], {"junk.gz": None}, tmp_path / "dl")
    finally:
        del server.files["junk.gz"]
    assert "not a valid IDX file" in info.value.tries[0][1]
    assert not (tmp_path / "dl").exists()


def test_fashion_mnist_downloads_into_its_own_cache_folder(server, tmp_path, monkeypatch,
                                                           shared_bytes):
    monkeypatch.setattr(mnist_mod, "FASHION_MNIST_SYSTEM_DIRS", [])
    monkeypatch.setattr(mnist_mod, "FASHION_MNIST_MIRRORS", [server.url("good")])
    monkeypatch.setattr(mnist_mod, "FASHION_MNIST_MD5",
                        {n: hashlib.md5(b).hexdigest() for n, b in shared_bytes.items()})
    (x, _), _ = load_fashion_mnist()
    assert x.shape == (22699, 784)
    _assert_only_final_files(tmp_path / "cache" / "fashion-mnist", GZ)


def test_unwritable_target_is_a_clear_error(server, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(mnist_mod, "MNIST_MIRRORS", [server.url("good")])
    with pytest.raises(DatasetError, match="cannot create download folder"):
        load_mnist(data_dir=blocker / "dl")
    assert server.requests == []


def test_temporaries_of_a_killed_download_are_removed(server, tmp_path):
    from datasets.files import StagedFile
    target = tmp_path / "dl"
    target.mkdir()
    name = GZ[0]
    dead = target / f".{name}.0123456789abcdef.part"   # what a SIGKILLed download leaves
    live = StagedFile(target / name, ".part")           # another download, still writing
    others = [target / f".{name}.abc123.part", target / ".unrelated.part", target / f"{name}.part"]
    for path in (dead, *others):
        path.write_bytes(b"partial")
    two_seconds_ago = time.time() - 2
    for path in (dead, live.path, *others):
        os.utime(path, (two_seconds_ago, two_seconds_ago))
    try:
        fetch_files([name], [server.url("good")], {}, target)
        assert not dead.exists()
        assert live.path.exists()  # its writer holds it
        assert all(path.exists() for path in others)  # not names a download writes
        assert (target / name).is_file()
    finally:
        os.close(live.fd)
        live.discard()


def test_staged_file_appears_whole_or_not_at_all(tmp_path):
    from datasets.files import StagedFile
    target = tmp_path / "file.bin"
    staged = StagedFile(target, ".part")
    with os.fdopen(staged.fd, "wb") as fh:
        fh.write(b"complete")
    assert not target.exists() and staged.path.name.startswith(".file.bin.")
    assert staged.commit() == target
    assert target.read_bytes() == b"complete"
    staged.discard()  # after commit: nothing to do
    assert target.exists() and list(tmp_path.iterdir()) == [target]
    with pytest.raises(RuntimeError, match="already committed or discarded"):
        staged.commit()

    abandoned = StagedFile(tmp_path / "other.bin", ".part")
    os.close(abandoned.fd)
    abandoned.discard()
    assert list(tmp_path.iterdir()) == [target]
