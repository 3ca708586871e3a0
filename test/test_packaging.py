"""What gets installed: only names under our own package, so a colcon workspace cannot clash."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_built_wheel_installs_only_names_under_depth_anything_ros(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=240, cwd=tmp_path)
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/", 1)[0] for name in names}
    python_roots = {t for t in top_level if not t.endswith((".dist-info", ".data"))}
    assert python_roots == {"depth_anything_ros"}, python_roots
    # the training package and its configs travel inside it
    assert "depth_anything_ros/training/__main__.py" in names
    assert "depth_anything_ros/training/configs/tiny.yaml" in names
    assert not any(n.startswith("training/") for n in names)
    # the Fast DDS profile the README tells users to export is installed beside the YAML
    assert any(n.endswith(".data/data/share/depth_anything_ros/config/fastdds_large_shm.xml")
               for n in names)


def test_training_runs_as_a_cli_subcommand_and_from_a_checkout():
    installed = subprocess.run([sys.executable, "-m", "depth_anything_ros.cli", "train", "--help"],
                               capture_output=True, text=True, timeout=120)
    assert installed.returncode == 0, installed.stderr
    assert "pipeline" in installed.stdout and "evaluate" in installed.stdout
    checkout = subprocess.run([sys.executable, "-m", "training", "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    assert checkout.returncode == 0, checkout.stderr
    assert "pipeline" in checkout.stdout
