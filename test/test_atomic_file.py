"""Atomic writes: a reader sees the old file or the whole new one, and nothing is left behind."""
import pytest

from depth_anything_ros.atomic_file import atomic_path, stale_temporaries


def test_ctrl_c_during_an_atomic_write_leaves_no_temporary_and_no_target(tmp_path):
    # Ctrl-C while a model or depth map is being written raises KeyboardInterrupt, which is not
    # an Exception: the half-written temporary must still go, and no target may appear.
    target = tmp_path / "model.safetensors"
    with pytest.raises(KeyboardInterrupt), atomic_path(target, durable=True) as tmp:
        tmp.write_bytes(b"half of a model")
        raise KeyboardInterrupt
    assert not target.exists()
    assert stale_temporaries(target) == [] and list(tmp_path.iterdir()) == []

    target.write_bytes(b"previous model")  # an interrupted overwrite keeps the previous file
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half of a new model")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"previous model"
    assert list(tmp_path.iterdir()) == [target]
