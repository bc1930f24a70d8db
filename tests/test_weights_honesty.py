"""What the weights files are checked against is said exactly (README, `bench weights list`), and `bench weights
fetch` tries every file, reports each failure and never deletes a file it finds (issue 27). Against the loopback
server of tests/test_weights_download.py."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from bench import weights as W
from bench.cli import main
from tests.test_weights_download import GOOD, GOOD_SHA, server  # noqa: F401  (the fixture)

README = Path(__file__).resolve().parents[1] / "README.md"
METRICS_DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"


def _expected_check(spec: W.WeightFile) -> str:
    # independent of WeightFile.check: what kind of hash the spec carries
    return ("SHA-256" if spec.sha256 and len(spec.sha256) == 64 else
            "hash prefix (torch hub)" if spec.sha256_prefix and spec.sha256_prefix in spec.name else
            "recorded on first download")


def test_the_real_files_are_described_by_what_is_really_checked():
    checks = {n: s.check for n, s in W.KNOWN.items()}
    assert checks["alexnet-owt-7be5be79.pth"] == "hash prefix (torch hub)"
    assert checks["vgg16-397923af.pth"] == "hash prefix (torch hub)"
    assert checks["pt_inception-2015-12-05-6726825d.pth"] == "hash prefix (torch hub)"
    assert checks["inception-2015-12-05.pt"] == "recorded on first download"
    assert checks["lpips-v0.1-alex.pth"] == checks["lpips-v0.1-vgg.pth"] == "SHA-256"
    assert all(c == _expected_check(W.KNOWN[n]) for n, c in checks.items())


def test_readme_and_metrics_doc_say_per_file_what_is_checked():
    readme = README.read_text()
    assert "SHA-256 checked" not in readme  # the claim that was true of two files out of six
    for doc in (readme, METRICS_DOC.read_text()):
        for name, spec in W.KNOWN.items():
            rows = [r for r in doc.splitlines() if r.startswith("|") and f"`{name}`" in r.split("|")[1]]
            assert rows, f"no table row names {name}"
            assert all(spec.check in r for r in rows), (name, rows)


def test_bench_weights_list_shows_the_check_of_each_file(server, capsys):  # noqa: F811
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    blocks = dict(re.findall(r"^(\S+)\n((?:  .*\n)+)", out, re.M))
    assert set(blocks) == set(W.KNOWN)
    for name, spec in W.KNOWN.items():
        check = re.search(r"^  check (.*)$", blocks[name], re.M).group(1)
        assert check.startswith(_expected_check(spec)), (name, check)
    assert "nothing recorded yet" in blocks["unpinned.pt"]
    assert GOOD_SHA[:8] in blocks[f"pref-{GOOD_SHA[:8]}.pth"]


def test_fetch_tries_every_file_and_reports_each_failure(server, tmp_path, capsys):  # noqa: F811
    server.files["/models/good.bin"] = (GOOD[:-3] + b"xyz", None)  # corrupted on the mirror
    # pref-*.pth is missing on the mirror (404); unpinned.pt, listed last, is fine
    server.files["/m/unpinned.pt"] = (GOOD, None)
    dest = tmp_path / "for-cluster"
    assert main(["weights", "fetch", "--to", str(dest)]) == 1
    got = capsys.readouterr()
    out = got.err  # (failures on stderr: stdout lists only the paths fetched)
    assert "FAILED" not in got.out and str(dest / "unpinned.pt") in got.out
    assert re.search(r"^good\.bin: FAILED: .*does not match", out, re.M)
    assert re.search(rf"^pref-{GOOD_SHA[:8]}\.pth: FAILED: .*HTTP 404", out, re.M)
    assert "2 of 3 weights files failed: good.bin, pref-" in out
    assert (dest / "unpinned.pt").read_bytes() == GOOD  # tried after the failures
    assert sorted(server.hits) == sorted(["/models/good.bin", f"/hub/pref-{GOOD_SHA[:8]}.pth", "/m/unpinned.pt"])
    assert not list(dest.glob(".*part"))


def test_fetch_to_a_folder_moves_a_mismatching_file_aside_never_deletes_it(server, tmp_path, capsys):  # noqa: F811
    server.files["/models/good.bin"] = (GOOD, None)
    dest = tmp_path / "mine"
    dest.mkdir()
    mine = b"my own retrained weights"
    (dest / "good.bin").write_bytes(mine)
    assert main(["weights", "fetch", "--to", str(dest), "good.bin"]) == 0
    aside = dest / f"good.bin.mismatch-{hashlib.sha256(mine).hexdigest()[:8]}"
    assert aside.read_bytes() == mine and (dest / "good.bin").read_bytes() == GOOD
    assert f"moved aside to {aside.name}" in capsys.readouterr().out
    # the download fails too: the user's file is still kept, and the failure says where it went
    (dest / "good.bin").write_bytes(mine + b"!")
    server.files.pop("/models/good.bin")
    assert main(["weights", "fetch", "--to", str(dest), "good.bin"]) == 1
    aside2 = dest / f"good.bin.mismatch-{hashlib.sha256(mine + b'!').hexdigest()[:8]}"
    out = capsys.readouterr().err
    assert aside2.read_bytes() == mine + b"!" and aside.read_bytes() == mine
    assert "FAILED" in out and f"moved aside to {aside2.name}" in out
