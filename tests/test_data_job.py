"""The Beam conversion job on tiny trees: every bad case is reported, counts add up, tf.data reads it."""
import gzip
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from beam_jobs.data_job import plan_shards, read_tfrecords, tfrecord_frame
from pipeline.build_data import convert_tree
from pipeline.camera import ICVL_INTRINSICS
from pipeline.cli import main
from pipeline.config import DataConfig
from pipeline.convert import FrameItem, plan_frames, tail_val_frames
from pipeline.datasets import ICVL
from pipeline.errors import SdnetError
from pipeline.icvl import read_label_file, write_depth_png
from pipeline.input import check_manifest, make_dataset, read_manifest
from tests.helpers import IN_PROCESS, write_tiny_icvl_tree

ICVL_J = ICVL.num_joints  # ICVL label files: 16 joints a line

K = 3


def _corrupt(root):
    """Break frames in every way the issue lists; returns {path suffix or label line: reason text}."""
    depth = root / "Training/Depth"
    seqs = sorted(p.name for p in depth.iterdir())
    (depth / seqs[0] / "image_0001.png").unlink()
    f = depth / seqs[0] / "image_0002.png"
    f.write_bytes(f.read_bytes()[:200])
    Image.fromarray(np.full((240, 320), 90, np.uint8)).save(depth / seqs[1] / "image_0000.png")
    write_depth_png(depth / seqs[1] / "image_0001.png", np.full((100, 100), 300, np.uint16))
    write_depth_png(depth / seqs[2] / "image_0000.png", np.full((240, 320), 32001, np.uint16))
    labels = root / "Training/labels.txt"
    lines = labels.read_text().splitlines()
    fields = lines[6].split()  # seqs[1]/image_0002.png
    fields[1] = "400.0"
    lines[6] = " ".join(fields)
    good = lines[0].split()
    lines.append("bad/image_0000.png 1 2 3")
    lines.append(" ".join(good[:5] + ["abc"] + good[6:]))
    lines.append(" ".join(good[:5] + ["nan"] + good[6:]))
    labels.write_text("\n".join(lines) + "\n")
    return {
        f"{seqs[0]}/image_0001.png": "not found",
        f"{seqs[0]}/image_0002.png": "unreadable PNG",
        f"{seqs[1]}/image_0000.png": "16-bit",
        f"{seqs[1]}/image_0001.png": "image is 100x100",
        f"{seqs[1]}/image_0002.png": "joints outside the 320x240 image",
        f"{seqs[2]}/image_0000.png": "no hand pixels",
        # bad label lines: (line number, image path of the line) -> reason
        (13, "bad/image_0000.png"): "expected 49 fields",
        (14, f"{seqs[0]}/image_0000.png"): "non-numeric value 'abc'",
        (15, f"{seqs[0]}/image_0000.png"): "NaN",
    }


def test_job_reports_every_bad_frame_and_counts_add_up(tmp_path):
    root = write_tiny_icvl_tree(tmp_path / "icvl", train_seqs=3, frames_per_seq=4, test_frames=(3, 2))
    expected = _corrupt(root)
    cfg = DataConfig(crop_size=32, rotations=K, val_fraction=0.3, max_reject_fraction=0.6)
    manifest = convert_tree(root, tmp_path / "data", cfg, ICVL_INTRINSICS, IN_PROCESS, progress=False)

    rejected = [json.loads(l) for l in (tmp_path / "data/rejected.jsonl").read_text().splitlines()]
    assert len(rejected) == len(expected) == manifest["rejected"]
    labels = str(root / "Training/labels.txt")
    for key, reason in expected.items():
        if isinstance(key, tuple):  # a bad label line: its file, line and the frame's image path
            line, image = key
            hits = [r for r in rejected if r["label_file"] == labels and r["line"] == line]
            assert len(hits) == 1, (key, rejected)
            assert hits[0]["path"] == str(root / "Training/Depth" / image), hits[0]
            assert hits[0]["split"] == "train"
        else:
            hits = [r for r in rejected if r["path"] == str(root / "Training/Depth" / key)]
            assert len(hits) == 1, (key, rejected)
        assert reason in hits[0]["reason"], (key, hits[0])

    bad_frames = {k for k in expected if not isinstance(k, tuple)}
    val = set(manifest["val_sequences"])
    train_ok = sum(1 for s in range(3) for i in range(4)) - len(bad_frames)
    val_ok = sum(1 for s in sorted(val) for i in range(4) if f"{s}/image_{i:04d}.png" not in bad_frames)
    assert manifest["frames"] == {"train": train_ok - val_ok, "val": val_ok, "test": 5}
    assert manifest["counts"] == {"train": K * (train_ok - val_ok), "val": val_ok, "test": 5}
    assert manifest["rotations_deg"] == [0.0, 120.0, 240.0]
    assert all(manifest["bytes"][s] > 0 for s in ("train", "val", "test"))

    check_manifest(read_manifest(tmp_path / "data"), crop_size=32)
    n = sum(int(x.shape[0]) for x, _ in make_dataset(tmp_path / "data", "train", 4, shuffle=True))
    assert n == manifest["counts"]["train"]
    image, joints, meta = next(iter(make_dataset(tmp_path / "data", "test", 16, with_meta=True)))
    assert image.shape == (5, 32, 32, 1) and joints.shape == (5, 48)
    assert float(image.numpy().min()) >= -1 and float(image.numpy().max()) <= 1
    order = [(s.decode(), int(f)) for s, f in zip(meta["sequence"].numpy(), meta["frame"].numpy())]
    assert order == sorted(order)  # test split in sequence, frame order
    gt, _ = read_label_file(root / "Testing/test_seq_1.txt", ICVL_J)
    np.testing.assert_allclose(meta["uvd"].numpy()[0], gt[0].uvd, atol=1e-3)


def test_job_fails_cleanly_on_too_many_rejections(tmp_path, capsys):
    root = write_tiny_icvl_tree(tmp_path / "icvl", train_seqs=3, frames_per_seq=4)
    _corrupt(root)
    with pytest.raises(SdnetError, match=r"9 of 20 frames rejected, more than the allowed 20%"):
        convert_tree(root, tmp_path / "data", DataConfig(crop_size=32, rotations=1),
                     ICVL_INTRINSICS, IN_PROCESS, progress=False)
    assert not (tmp_path / "data").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["icvl"]  # no temporary directory left
    # The command's error names the flag that sets the limit.
    def args(limit):
        return ["data", "--icvl-root", str(root), "--out", str(tmp_path / "data"), "--crop", "32",
                "--rotations", "1", "--max-reject", limit, "--quiet", *IN_PROCESS]

    assert main(args("0.25")) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith("sdnet data: error: 9 of 20 frames rejected") and "--max-reject 0.25" in err, err
    assert main(args("0.5")) == 0


def test_label_line_without_an_image_path_is_named_by_file_and_line(tmp_path):
    root = write_tiny_icvl_tree(tmp_path / "icvl", train_seqs=2, frames_per_seq=2, test_frames=())
    labels = root / "Training/labels.txt"
    labels.write_text(labels.read_text() + " ".join(["1.0"] * 48) + "\n")  # the path is missing
    (bad,) = plan_frames(root, DataConfig()).rejected
    assert bad == {"path": f"{labels}:5", "split": "train", "label_file": str(labels), "line": 5,
                   "reason": "expected 49 fields (path + 16x u v d), got 48"}


def test_cli_refuses_bad_roots_and_non_empty_out(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["data", "--icvl-root", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no ICVL label files" in capsys.readouterr().err
    root = write_tiny_icvl_tree(tmp_path / "icvl", train_seqs=1, frames_per_seq=1, test_frames=())
    (root / "Training/labels.txt").write_text("")
    assert main(["data", "--icvl-root", str(root), "--out", str(tmp_path / "o")]) == 2
    assert "label file is empty" in capsys.readouterr().err
    out = tmp_path / "full"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert main(["data", "--icvl-root", str(root), "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err and (out / "keep.txt").read_text() == "precious"


def test_cli_multiprocessing_default_runner_and_overwrite(tmp_path):
    root = write_tiny_icvl_tree(tmp_path / "icvl", train_seqs=2, frames_per_seq=3, test_frames=(2,))
    out = tmp_path / "data"
    out.mkdir()
    (out / "old.txt").write_text("old")
    args = ["data", "--icvl-root", str(root), "--out", str(out), "--crop", "32", "--rotations", "2",
            "--val-fraction", "0", "--overwrite", "--quiet", "--preview", str(tmp_path / "p.png")]
    assert main(args) == 0  # DirectRunner, multi_processing, one worker per core
    m = read_manifest(out)
    assert m["counts"] == {"train": 12, "val": 0, "test": 2} and not (out / "old.txt").exists()
    with Image.open(tmp_path / "p.png") as img:  # a montage of depth crops with coloured joints drawn on
        rgb = np.asarray(img.convert("RGB")).astype(int)
    spread = rgb.max(axis=-1) - rgb.min(axis=-1)
    grey = rgb[spread < 8][:, 0]
    assert len(np.unique(grey)) > 20, "no depth shading in the preview"
    assert (spread > 80).mean() > 0.002, "no coloured joints in the preview"


def test_shard_plan_mixes_sequences_keeps_order_and_puts_test_in_one_file():
    def item(split, seq, i):
        return FrameItem(f"/x/{seq}/image_{i:04d}.png", f"{seq}/image_{i:04d}.png", np.zeros((16, 3)),
                         split, seq, i)

    frames = [item("train", f"s{s}", i) for s in range(4) for i in range(50)]
    frames += [item("test", "test_seq_2", i) for i in range(5)] + [item("test", "test_seq_1", 1)]
    tasks = plan_shards(frames, {"train": 3})
    train = [t for t in tasks if t.split == "train"]
    assert [t.file_name for t in train] == [f"train-{i:05d}-of-00003.tfrecord.gz" for i in range(3)]
    assert sorted(f.rel_path for t in train for f in t.frames) == sorted(f.rel_path for f in frames[:200])
    for t in train:
        assert len({f.sequence for f in t.frames}) == 4  # sequences mixed across shards
        keys = [(f.sequence, f.frame) for f in t.frames]
        assert keys == sorted(keys)
    (test,) = [t for t in tasks if t.split == "test"]
    assert [(f.sequence, f.frame) for f in test.frames][:2] == [("test_seq_1", 1), ("test_seq_2", 0)]
    assert plan_shards(frames, {"train": 3}) == tasks  # deterministic


def test_single_training_sequence_holds_out_its_tail_as_val(tmp_path, capsys):
    root = write_tiny_icvl_tree(tmp_path / "icvl", train_seqs=1, frames_per_seq=12, test_frames=(2,))
    labels = root / "Training/labels.txt"
    lines = labels.read_text().splitlines()
    labels.write_text("\n".join(lines[::-1]) + "\n")  # the tail is by frame number, not by line order
    out = tmp_path / "data"
    assert main(["data", "--icvl-root", str(root), "--out", str(out), "--crop", "32", "--rotations", "2",
                 "--quiet", *IN_PROCESS]) == 0
    (seq,) = {line.split("/")[0] for line in lines}
    assert f"val: tail of {seq}: its last 2 of 12 frames, from frame 10" in capsys.readouterr().out
    m = read_manifest(out)
    assert m["val_sequences"] == [] and m["val_from"].startswith(f"tail of {seq}")
    assert m["frames"] == {"train": 10, "val": 2, "test": 2}

    def frames(split):
        found = set()
        for _, _, meta in make_dataset(out, split, 8, with_meta=True):
            found |= {(s.decode(), int(f)) for s, f in zip(meta["sequence"].numpy(), meta["frame"].numpy())}
        return found

    train, val = frames("train"), frames("val")
    assert val == {(seq, 10), (seq, 11)}  # a contiguous block at the end of the sequence
    assert train == {(seq, i) for i in range(10)} and not train & val


def test_tail_val_frames_share_and_bounds():
    def items(n):
        return [FrameItem(f"/x/s/image_{i:04d}.png", f"s/image_{i:04d}.png", np.zeros((16, 3)), "train", "s", i)
                for i in range(n)]

    assert [f.frame for f in tail_val_frames(items(64))] == [57, 58, 59, 60, 61, 62, 63]  # ceil(6.4)
    assert [f.frame for f in tail_val_frames(items(5))] == [4]  # at least one frame
    assert [f.frame for f in tail_val_frames(items(2))] == [1]  # at least one frame stays in train
    assert tail_val_frames(items(1)) == []


@pytest.mark.parametrize("sizes", [[0], [1, 300, 5], [70_000, 3]])
def test_tfrecord_framing_equals_tensorflows_writer_byte_for_byte(tmp_path, sizes):
    rng = np.random.default_rng(len(sizes))
    records = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]
    with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecord")) as w:
        for r in records:
            w.write(r)
    ours = b"".join(tfrecord_frame(r) for r in records)
    assert ours == (tmp_path / "tf.tfrecord").read_bytes()
    # TensorFlow's GZIP files read back with our reader, and TensorFlow reads ours.
    with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecord.gz"), options="GZIP") as w:
        for r in records:
            w.write(r)
    assert read_tfrecords(str(tmp_path / "tf.tfrecord.gz")) == records
    (tmp_path / "ours.tfrecord.gz").write_bytes(gzip.compress(ours))
    back = [bytes(x.numpy()) for x in tf.data.TFRecordDataset(str(tmp_path / "ours.tfrecord.gz"), "GZIP")]
    assert back == records
    corrupt = bytearray(ours)
    corrupt[-1] ^= 0xFF  # the data checksum of the last record
    (tmp_path / "bad.tfrecord").write_bytes(bytes(corrupt))
    with pytest.raises(ValueError, match="corrupt record"):
        read_tfrecords(str(tmp_path / "bad.tfrecord"))
