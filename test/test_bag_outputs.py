"""What a bag job leaves on disk: the output appears whole or not at all (strict mode, an
interrupt, a failure), the input is never touched, and --overwrite replaces only an earlier
output of ours, never the current folder, a folder of other things or the input."""
import pytest

from bag_helpers import (  # noqa: F401 — weights, estimator: fixtures
    estimator, read_bag, tree_digest, weights, write_camera_bag)
from depth_anything_ros.bag.errors import BagError, BagFrameError
from depth_anything_ros.bag.process import BagJobOptions, process_bag

CAM = "/cam/image_raw"


def test_strict_fails_on_a_corrupt_frame_leaving_no_output_and_the_input_untouched(tmp_path, estimator):
    src, out = tmp_path / "in", tmp_path / "out"
    write_camera_bag(src, frames=5, corrupt={3: "short_data"}, storage="mcap")
    before = tree_digest(src)
    with pytest.raises(BagFrameError, match=r"/cam/image_raw message 3 .*shorter"):
        process_bag(src, out, estimator, BagJobOptions(CAM, batch_size=1, strict=True,
                                                       export_dir=tmp_path / "export"))
    assert not out.exists() and not (tmp_path / "export").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no staged leftovers either
    assert tree_digest(src) == before


@pytest.mark.parametrize("storage, failure", [
    ("sqlite3", KeyboardInterrupt), ("mcap", KeyboardInterrupt), ("sqlite3", OSError),
])
def test_an_interrupt_mid_run_leaves_no_output_and_the_input_byte_identical(
        tmp_path, estimator, storage, failure):
    src, out = tmp_path / "in", tmp_path / "out"
    write_camera_bag(src, frames=6, storage=storage)
    before = tree_digest(src)
    written = []

    def interrupt_after_two(frames_written):
        written.append(frames_written)
        if frames_written == 2:
            raise failure("injected after frame 2")

    with pytest.raises(failure, match="injected"):
        process_bag(src, out, estimator, BagJobOptions(CAM, batch_size=1), on_frame=interrupt_after_two)
    assert written == [1, 2]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    assert tree_digest(src) == before


def test_an_existing_output_is_refused_unless_overwrite(tmp_path, estimator):
    src, out = tmp_path / "in", tmp_path / "out"
    write_camera_bag(src, frames=2)
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(BagError, match=r"out already exists \(pass --overwrite"):
        process_bag(src, out, estimator, BagJobOptions(CAM))
    # --overwrite replaces only an earlier output: a folder of other things is never deleted
    with pytest.raises(BagError, match=r"out exists and is not a bag folder \(no metadata.yaml\)"):
        process_bag(src, out, estimator, BagJobOptions(CAM, overwrite=True))
    assert (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    out.rmdir()
    process_bag(src, out, estimator, BagJobOptions(CAM, batch_size=1))
    process_bag(src, out, estimator, BagJobOptions(CAM, overwrite=True))
    assert len(read_bag(out)["/cam/depth/image"]) == 2


def test_overwrite_writes_into_an_empty_output_folder(tmp_path, estimator):
    """`mkdir out` before the run: an empty folder holds nothing to lose, so --overwrite
    writes the bag there (without it, it is still refused as existing)."""
    src, out = tmp_path / "in", tmp_path / "out"
    write_camera_bag(src, frames=2)
    out.mkdir()
    with pytest.raises(BagError, match=r"out already exists \(pass --overwrite"):
        process_bag(src, out, estimator, BagJobOptions(CAM))
    process_bag(src, out, estimator, BagJobOptions(CAM, overwrite=True))
    assert len(read_bag(out)["/cam/depth/image"]) == 2


def test_overwrite_never_replaces_the_current_folder_or_a_foreign_export_folder(
        tmp_path, estimator, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    write_camera_bag(src, frames=1)
    process_bag(src, out, estimator, BagJobOptions(CAM))
    monkeypatch.chdir(out)  # `bag ../in . --overwrite` from inside an earlier output
    with pytest.raises(BagError, match="is the current folder or holds it"):
        process_bag(src, ".", estimator, BagJobOptions(CAM, overwrite=True))
    assert (out / "metadata.yaml").is_file()
    monkeypatch.chdir(tmp_path)
    export = tmp_path / "export"
    export.mkdir()
    (export / "notes.txt").write_text("mine")
    with pytest.raises(BagError, match="holds notes.txt besides an export's rgb, depth"):
        process_bag(src, tmp_path / "out2", estimator,
                    BagJobOptions(CAM, export_dir=str(export), overwrite=True))
    assert (export / "notes.txt").read_text() == "mine" and not (tmp_path / "out2").exists()
    # "--export-dir ." is the current folder: refused with a reason, nothing left behind
    monkeypatch.chdir(export)
    with pytest.raises(BagError, match="is the current folder or holds it"):
        process_bag(src, tmp_path / "out3", estimator,
                    BagJobOptions(CAM, export_dir=".", overwrite=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "in", "out"]


def test_output_inside_the_input_is_refused(tmp_path, estimator):
    src = tmp_path / "in"
    write_camera_bag(src, frames=1)
    before = tree_digest(src)
    with pytest.raises(BagError, match="overlaps the input bag"):
        process_bag(src, src / "out", estimator, BagJobOptions(CAM))
    assert tree_digest(src) == before


def test_an_mcap_cut_short_is_refused_with_the_way_to_repair_it(tmp_path, estimator):
    src = tmp_path / "in"
    write_camera_bag(src, frames=3, storage="mcap")
    data = next(src.glob("*.mcap"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])  # a killed recorder
    with pytest.raises(BagError, match=r"cannot open bag: .*mcap recover IN -o OUT"):
        process_bag(data, tmp_path / "out", estimator, BagJobOptions(CAM))
    assert not (tmp_path / "out").exists()


def test_a_ros1_bag_and_an_unsupported_storage_are_refused_saying_what_to_do(tmp_path, estimator):
    """A ROS 1 `.bag` gets the conversion command; a bag folder recorded with a storage plugin
    this tool cannot read names that plugin and the ones it can. Neither writes anything."""
    ros1 = tmp_path / "drive.bag"
    ros1.write_bytes(b"#ROSBAG V2.0\n" + bytes(4096))
    with pytest.raises(BagError, match=r"drive.bag: ROS 1 bags are not supported; convert it "
                                       r"with `rosbags-convert`"):
        process_bag(ros1, tmp_path / "out", estimator, BagJobOptions(CAM))
    src = tmp_path / "in"
    write_camera_bag(src, frames=1)
    meta = src / "metadata.yaml"
    meta.write_text(meta.read_text().replace("storage_identifier: sqlite3",
                                             "storage_identifier: custom_store"))
    with pytest.raises(BagError, match=r"in: storage 'custom_store' is not supported "
                                       r"\(only sqlite3, mcap\)"):
        process_bag(src, tmp_path / "out", estimator, BagJobOptions(CAM))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drive.bag", "in"]


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_ros2_bag_folder_named_like_a_ros1_bag_is_read(tmp_path, estimator, storage):
    """`ros2 bag record -o drive.bag` makes a ROS 2 bag *folder* named drive.bag: it is
    processed (rosbags alone would take the name for a ROS 1 bag file), and a fleet finds it."""
    from depth_anything_ros.bag.fleet import find_bags

    src = tmp_path / "fleet" / "drive.bag"
    write_camera_bag(src, frames=2, storage=storage)
    summary = process_bag(src, tmp_path / "out", estimator, BagJobOptions(CAM))
    assert summary.frames_out == 2 and len(read_bag(tmp_path / "out")["/cam/depth/image"]) == 2
    assert [bag.input for bag in find_bags(tmp_path / "fleet")] == [src]


def test_an_export_folder_holding_the_output_bag_is_refused(tmp_path, estimator):
    # `--export-dir export --overwrite` with the output bag written inside an earlier export:
    # replacing the export folder at the end would delete the bag the run just wrote.
    src, export = tmp_path / "in", tmp_path / "export"
    write_camera_bag(src, frames=1)
    process_bag(src, tmp_path / "first", estimator, BagJobOptions(CAM, export_dir=str(export)))
    out = export / "depth" / "run2"
    with pytest.raises(BagError, match=r"export folder .*export overlaps the output bag"):
        process_bag(src, out, estimator,
                    BagJobOptions(CAM, export_dir=str(export), overwrite=True))
    assert not out.exists() and (export / "depth").is_dir()


def test_overwrite_never_replaces_a_folder_that_holds_the_current_folder(
        tmp_path, estimator, monkeypatch):
    # A shell left inside an earlier output's subfolder (`cd out/notes`): `bag ../../in ..
    # --overwrite` would delete the folder the user is standing in, and their files with it.
    src, out = tmp_path / "in", tmp_path / "out"
    write_camera_bag(src, frames=1)
    process_bag(src, out, estimator, BagJobOptions(CAM))
    (out / "notes").mkdir()
    (out / "notes" / "todo.txt").write_text("mine")
    monkeypatch.chdir(out / "notes")
    with pytest.raises(BagError, match="is the current folder or holds it"):
        process_bag(src, "..", estimator, BagJobOptions(CAM, overwrite=True))
    assert (out / "notes" / "todo.txt").read_text() == "mine"
    assert (out / "metadata.yaml").is_file()
