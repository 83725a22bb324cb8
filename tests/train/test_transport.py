"""A training's files cross machines as bytes; both ends treat them as hostile input."""

from __future__ import annotations

import os

from eureka.train.transport import DRIVER_FILES, Limits, pack_dir, safe_relpath, unpack_files


def test_pack_sends_regular_files_only_within_limits(tmp_path):
    src = tmp_path / "out"
    (src / "tb" / "PPO_1").mkdir(parents=True)
    (src / "policy.zip").write_bytes(b"p" * 100)
    (src / "tb" / "PPO_1" / "events.out.tfevents.1.vm").write_bytes(b"e")
    (src / "huge.bin").write_bytes(b"x" * 5000)
    (src / "reward.py").write_text("planted")
    secret = tmp_path / "secret.txt"
    secret.write_text("driver secret")
    os.symlink(secret, src / "link.txt")
    os.symlink(tmp_path, src / "dirlink")
    os.mkfifo(src / "fifo")
    (src / ".hidden").write_text("x")
    packed = pack_dir(src, Limits(max_file_bytes=1000, max_total_bytes=10_000, max_files=10), exclude=DRIVER_FILES)
    assert sorted(packed.files) == ["policy.zip", "tb/PPO_1/events.out.tfevents.1.vm"]
    reasons = " ".join(packed.skipped)
    for name in ("huge.bin", "reward.py", "link.txt", "dirlink", "fifo", ".hidden"):
        assert name in reasons, (name, packed.skipped)
    assert b"driver secret" not in b"".join(packed.files.values())


def test_pack_leaves_out_unchanged_inputs(tmp_path):
    (tmp_path / "a").write_bytes(b"1")
    (tmp_path / "b").write_bytes(b"2")
    assert sorted(pack_dir(tmp_path, Limits(), unchanged={"a": b"1", "b": b"old"}).files) == ["b"]


def test_unpack_refuses_escapes_links_and_driver_files(tmp_path):
    dest = tmp_path / "cand"
    dest.mkdir()
    (dest / "reward.py").write_text("the real reward")
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, dest / "tb")  # planted: a link where the training's sub-directory would go
    target = tmp_path / "target.txt"
    target.write_text("keep")
    os.symlink(target, dest / "metrics.jsonl")
    files = {"policy.zip": b"weights", "../escape.txt": b"x", "/etc/passwd": b"x", "reward.py": b"evil",
             "tb/PPO_1/ev": b"e", "metrics.jsonl": b"{}", "a/b/c/d/e": b"deep", "ok/nested.txt": b"n",
             "big.bin": b"x" * 2000, 7: b"x", "str.txt": "not bytes"}
    refused = unpack_files(files, dest, Limits(max_file_bytes=1000, max_total_bytes=10_000, max_files=100))
    assert (dest / "policy.zip").read_bytes() == b"weights"
    assert (dest / "ok" / "nested.txt").read_bytes() == b"n"
    assert (dest / "reward.py").read_text() == "the real reward"
    assert not (tmp_path / "escape.txt").exists() and not any(outside.iterdir()), "nothing written through the link"
    assert target.read_text() == "keep" and not (dest / "metrics.jsonl").is_symlink()  # the link was replaced
    assert (dest / "metrics.jsonl").read_bytes() == b"{}"
    assert len(refused) == 8, refused
    assert unpack_files(["not", "a", "dict"], dest, Limits()) == ["the training sent no file table"]


def test_safe_relpath():
    assert safe_relpath("policy.zip") and safe_relpath("tb/PPO_1/events.out.tfevents.17.vm.1.0")
    for bad in ("", "..", "a/../b", "/abs", ".hidden", "a//b", "a/b/c/d/e", "sp ace", "x" * 200):
        assert not safe_relpath(bad), bad
