"""Weights downloads against a server on the loopback address: good, corrupted and truncated files, the mirror
variable, offline mode, first-use hash records, and `bench weights list | fetch | verify`."""
from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from bench import weights as W
from bench.cli import main
from bench.errors import WeightsError

GOOD = b"inpaint-bench test weights " * 4096  # ~110 KB
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, tuple[bytes, int | None]] = {}  # path -> (body, Content-Length to announce: None, its own; -1 none)
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        if self.path not in self.files:
            self.send_error(404)
            return
        body, length = self.files[self.path]
        self.send_response(200)
        if length != -1:  # -1: no length announced (the connection's end is the file's end)
            self.send_header("Content-Length", str(length if length is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A loopback HTTP server as the mirror; KNOWN holds test files with known hashes; caches in tmp."""
    _Handler.files = {}
    _Handler.hits = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    monkeypatch.setenv(W.MIRROR_VAR, f"http://127.0.0.1:{httpd.server_address[1]}")
    monkeypatch.delenv("INPAINT_BENCH_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv(W.ENV_VAR, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    import torch.hub

    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.setattr(W, "FALLBACK_DIRS", {})
    known = {
        "good.bin": W.WeightFile("good.bin", "https://origin.example/models/good.bin", "test file", sha256=GOOD_SHA),
        f"pref-{GOOD_SHA[:8]}.pth": W.WeightFile(f"pref-{GOOD_SHA[:8]}.pth",
                                                 f"https://origin.example/hub/pref-{GOOD_SHA[:8]}.pth", "torch hub style",
                                                 sha256_prefix=GOOD_SHA[:8]),
        "unpinned.pt": W.WeightFile("unpinned.pt", "https://origin.example/m/unpinned.pt", "no published hash"),
    }
    monkeypatch.setattr(W, "KNOWN", known)
    yield _Handler
    httpd.shutdown()


def test_a_good_file_is_fetched_from_the_mirror_verified_and_used(server):
    server.files["/models/good.bin"] = (GOOD, None)
    p = W.resolve("good.bin")  # not found anywhere: downloaded on first use
    assert p == W.hub_dir() / "good.bin" and p.read_bytes() == GOOD
    assert server.hits == ["/models/good.bin"]  # the mirror replaced the origin's host, the path is kept
    assert W.resolve("good.bin") == p and server.hits == ["/models/good.bin"]  # found, not fetched again
    assert not list(W.hub_dir().glob(".*part"))  # no temporary file left behind


def test_corrupted_and_truncated_downloads_are_rejected_and_removed(server):
    bad = GOOD[:-10] + b"0123456789"
    server.files["/models/good.bin"] = (bad, None)
    with pytest.raises(WeightsError) as e:
        W.resolve("good.bin")
    msg = str(e.value)
    assert hashlib.sha256(bad).hexdigest() in msg and GOOD_SHA in msg and "not used" in msg
    assert not (W.hub_dir() / "good.bin").exists() and not list(W.hub_dir().glob(".*"))
    server.files["/models/good.bin"] = (GOOD[:5000], len(GOOD))  # the connection ends early
    with pytest.raises(WeightsError, match="truncated|failed"):
        W.resolve("good.bin")
    assert not (W.hub_dir() / "good.bin").exists() and not list(W.hub_dir().glob(".*"))
    # a torch-hub style name promises a hash prefix
    server.files[f"/hub/pref-{GOOD_SHA[:8]}.pth"] = (bad, None)
    with pytest.raises(WeightsError, match=f"does not start with {GOOD_SHA[:8]}"):
        W.resolve(f"pref-{GOOD_SHA[:8]}.pth")
    server.files[f"/hub/pref-{GOOD_SHA[:8]}.pth"] = (GOOD, None)
    assert W.resolve(f"pref-{GOOD_SHA[:8]}.pth").read_bytes() == GOOD


def test_a_damaged_file_in_the_download_cache_is_replaced_but_one_in_your_folder_is_an_error(server, tmp_path):
    server.files["/models/good.bin"] = (GOOD, None)
    cached = W.hub_dir() / "good.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"damaged")
    assert W.resolve("good.bin").read_bytes() == GOOD  # deleted and fetched again
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "good.bin").write_bytes(b"damaged")
    with pytest.raises(WeightsError, match="does not match"):
        W.resolve("good.bin", mine)
    assert (mine / "good.bin").read_bytes() == b"damaged"  # never deleted


def test_offline_never_touches_the_network(server, monkeypatch):
    server.files["/models/good.bin"] = (GOOD, None)
    for var in ("INPAINT_BENCH_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(var, "1")
        with pytest.raises(WeightsError, match="offline"):
            W.resolve("good.bin")
        monkeypatch.delenv(var)
    assert server.hits == []


def test_a_file_without_a_published_hash_is_pinned_at_first_download(server):
    server.files["/m/unpinned.pt"] = (GOOD, None)
    p = W.resolve("unpinned.pt")
    assert W._tofu()["unpinned.pt"] == GOOD_SHA
    p.write_bytes(b"swapped later")
    with pytest.raises(WeightsError, match=GOOD_SHA):
        W.verify(p, "unpinned.pt")


def test_a_download_cut_short_without_a_length_is_not_pinned_when_its_format_says_so(server):
    """A server that announces no length and closes early: a file without a published hash was accepted and its
    hash recorded, so every later whole download of it failed. Zip (torch.save), safetensors and JSON files are
    now checked for their own end first; a format that says nothing (a legacy pickle) is still accepted."""
    import io
    import json

    import torch
    from safetensors.torch import save as st_save

    buf = io.BytesIO()
    torch.save({"w": torch.arange(4096.0)}, buf)
    for ext in ("safetensors", "json", "bin"):
        W.KNOWN[f"unpinned.{ext}"] = W.WeightFile(f"unpinned.{ext}", f"https://origin.example/m/unpinned.{ext}", "")
    whole = {"pt": buf.getvalue(), "safetensors": st_save({"w": torch.arange(4096.0)}),
             "json": json.dumps({"hidden_size": 8, "names": ["a"] * 500}).encode()}
    for ext, body in whole.items():
        server.files[f"/m/unpinned.{ext}"] = (body[: len(body) * 2 // 3], -1)
        with pytest.raises(WeightsError, match="not whole"):
            W.resolve(f"unpinned.{ext}")
        assert f"unpinned.{ext}" not in W._tofu() and not list(W.hub_dir().glob(f"*unpinned.{ext}*"))
        server.files[f"/m/unpinned.{ext}"] = (body, -1)
        assert W.resolve(f"unpinned.{ext}").read_bytes() == body
        assert W._tofu()[f"unpinned.{ext}"] == hashlib.sha256(body).hexdigest()
    assert torch.load(W.resolve("unpinned.pt"))["w"].shape == (4096,)
    server.files["/m/unpinned.bin"] = (GOOD[:5000], -1)  # no format to judge by
    assert W.resolve("unpinned.bin").read_bytes() == GOOD[:5000]


def test_a_cache_folder_that_cannot_be_written_is_a_weights_error_naming_it(server, tmp_path, monkeypatch, capsys):
    """A download cache that cannot be written (read-only, a file in its way) is the WeightsError naming the file,
    the folder and what to do, not an OSError: a run's `optional: true` metric is then left out with one line."""
    server.files["/models/good.bin"] = (GOOD, None)
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "blocked" / "torch_home"))
    with pytest.raises(WeightsError) as e:
        W.resolve("good.bin")
    assert "cannot save good.bin in" in str(e.value) and str(W.hub_dir()) in str(e.value)
    assert "TORCH_HOME" in str(e.value) and W.ENV_VAR in str(e.value)
    assert e.value.brief.startswith("good.bin could not be saved in")
    assert server.hits == []  # (nothing downloaded to be thrown away)


def test_a_download_killed_earlier_leaves_no_part_file_for_ever(server):
    """A process killed mid-download leaves its temporary file (as large as what it got): the next download of
    that file removes it; one another process is writing now (recent) is kept."""
    import os
    import time

    server.files["/models/good.bin"] = (GOOD, None)
    W.hub_dir().mkdir(parents=True)
    stale, live = W.hub_dir() / ".good.bin.k1ll3d.part", W.hub_dir() / ".good.bin.l1v3.part"
    for p in (stale, live):
        p.write_bytes(GOOD[:1000])
    old = time.time() - 86400  # a day ago
    os.utime(stale, (old, old))
    assert W.resolve("good.bin").read_bytes() == GOOD
    assert not stale.exists() and live.exists()


def test_bench_weights_list_fetch_verify(server, tmp_path, capsys):
    server.files["/models/good.bin"] = (GOOD, None)
    server.files[f"/hub/pref-{GOOD_SHA[:8]}.pth"] = (GOOD, None)
    server.files["/m/unpinned.pt"] = (GOOD, None)
    assert main(["weights", "list"]) == 0
    assert "good.bin" in capsys.readouterr().out
    dest = tmp_path / "for-cluster"
    assert main(["weights", "fetch", "--to", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == sorted(W.KNOWN)
    assert main(["weights", "verify", "--dir", str(dest)]) == 0
    (dest / "good.bin").write_bytes(b"x")
    assert main(["weights", "verify", "--dir", str(dest)]) == 1
    assert "good.bin: BAD" in capsys.readouterr().out
    assert main(["weights", "fetch", "nope.bin"]) == 2


def _offline_suite(tmp_path, monkeypatch, metrics: list) -> tuple[dict, Path]:
    """A tiny suite with ``metrics``, written to ``tmp_path/q.yaml``, on a machine with no weights anywhere (the
    torch hub folder empty, no fallback folders; conftest keeps it offline): (the suite, its path)."""
    import torch.hub
    import yaml

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.setattr(W, "FALLBACK_DIRS", {})
    d = {"name": "q", "output_dir": str(tmp_path / "res"), "device": "cpu", "resolution": 32,
         "backends": ["identity"], "datasets": [{"type": "synthetic", "n": 2}], "masks": ["box"], "metrics": metrics}
    p = tmp_path / "q.yaml"
    p.write_text(yaml.safe_dump(d))
    return d, p


def test_left_out_line_names_a_missing_file_once_for_the_scorers_that_share_it(tmp_path, monkeypatch, capsys):
    _, p = _offline_suite(tmp_path, monkeypatch, ["psnr", {"type": "lpips", "optional": True, "crop": False,
                                                           "regions": ["in", "full"]},
                                                  {"type": "lpips", "name": "lpips_crop", "crop": True,
                                                   "regions": ["out"], "optional": True, "net": "alex"}])
    assert main(["run", str(p), "--no-progress"]) == 0
    out = capsys.readouterr().out
    said = " ".join(out[out.index("left out"):out.index("then run again")].split())  # (the console wraps it)
    assert said.startswith("left out lpips, lpips_crop: weights not here")
    assert said.count("alexnet-owt-7be5be79.pth") == 1  # both need AlexNet: it is named once


def test_optional_metrics_without_weights_are_left_out_with_one_line(tmp_path, monkeypatch, capsys):
    import json

    import yaml

    d, p = _offline_suite(tmp_path, monkeypatch, ["psnr", {"type": "lpips", "optional": True},
                                                  {"type": "fid", "optional": True}])
    assert main(["run", str(p), "--no-progress"]) == 0  # offline (conftest): the weights cannot come
    out = capsys.readouterr().out
    assert "left out lpips, fid: weights not here" in out and "bench weights fetch" in out
    man = json.loads((tmp_path / "res" / "q" / "manifest.json").read_text())
    assert set(man["left_out"]) == {"lpips", "fid"} and [s["label"] for s in man["scorers"]] == ["psnr"]
    assert "lpips_in" not in out and "psnr_in" in out
    # with `weights: random` nothing is missing (the LPIPS heads ship with the package): both are computed
    d["weights"] = "random"
    d["cache_dir"] = str(tmp_path / "cache")
    p.write_text(yaml.safe_dump(d))
    assert main(["run", str(p), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "left out" not in out and "lpips_in" in out
    with pytest.raises(Exception, match="only metrics and detectors can be optional"):
        from bench.config import parse_suite

        parse_suite({**d, "backends": [{"type": "identity", "optional": True}]})


def test_a_failed_download_says_so_briefly(server):
    """The one line a run prints for an optional metric it leaves out uses this short form."""
    with pytest.raises(WeightsError) as e:  # the mirror has no such file: HTTP 404
        W.resolve("good.bin")
    assert "downloading good.bin from http://127.0.0.1" in str(e.value) and W.MIRROR_VAR in str(e.value)
    assert e.value.brief.startswith("good.bin could not be downloaded (") and "404" in e.value.brief


def test_fetch_to_a_folder_copies_what_a_package_ships(tmp_path, capsys):
    """`bench weights fetch --to DIR` (a folder for an offline cluster) copies the LPIPS heads from the installed
    `lpips` package, verified, instead of downloading them (it used to try, and fail offline)."""
    pytest.importorskip("lpips")
    from bench.fsio import file_sha256

    dest = tmp_path / "for-cluster"
    assert main(["weights", "fetch", "--to", str(dest), "lpips-v0.1-alex.pth"]) == 0
    assert "copied from the lpips package" in capsys.readouterr().out
    shipped = W._package_file(W.KNOWN["lpips-v0.1-alex.pth"])
    assert file_sha256(dest / "lpips-v0.1-alex.pth") == file_sha256(shipped)
    assert main(["weights", "fetch", "--to", str(dest), "lpips-v0.1-alex.pth"]) == 0
    assert "already in" in capsys.readouterr().out


def test_hashes_recorded_by_processes_at_once_are_all_kept(server):
    """The record file was read, changed and written back without a lock: of two processes that downloaded
    different unpinned files at once, one lost its record. Eight processes, a file each: every record kept."""
    import multiprocessing

    W.hub_dir().mkdir(parents=True)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_record_many, args=(i,)) for i in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert W._tofu() == {f"f{i}-{j}": f"{i:02d}{j:062d}" for i in range(8) for j in range(20)}


def _record_many(i: int) -> None:
    for j in range(20):
        W._tofu_record(f"f{i}-{j}", f"{i:02d}{j:062d}")
