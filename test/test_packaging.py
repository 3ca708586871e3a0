"""What gets installed: only names under our own package, so a colcon workspace cannot clash."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked_copy(target: Path) -> Path:
    """The repository's tracked files (symlinks kept) in `target`, so a build leaves no build/
    or egg-info in the checkout."""
    import shutil

    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source, copy = ROOT / name, target / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            copy.symlink_to(source.readlink())
        else:
            shutil.copy2(source, copy)
    return target


def test_built_wheel_installs_only_names_under_depth_anything_ros(tmp_path):
    source = _tracked_copy(tmp_path / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True, timeout=240, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
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


def test_colcon_build_installs_what_ros2_run_and_launch_find(tmp_path):
    """A ROS user's path: `colcon build` in a workspace (colcon from PyPI; no ROS install
    needed for an ament_python package). The scripts go where `ros2 run` looks, the launch,
    config, profiles and shipped model into the share, and the installed CLI finds the shipped
    model through the ament index, not through this checkout."""
    import os

    _tracked_copy(tmp_path / "src" / "depth_anything_ros")
    env = dict(os.environ, COLCON_HOME=str(tmp_path / "colcon_home"))
    pytest.importorskip("colcon_core", reason="colcon is not installed (`pip install "
                        "colcon-core colcon-ros`; CI has it)")
    colcon = [sys.executable, "-c", "import sys; from colcon_core.command import main; "
              "sys.exit(main())"]
    build = subprocess.run(
        [*colcon, "--log-base", str(tmp_path / "log"),
         "build", "--base-paths", "src", "--event-handlers", "console_direct-"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    prefix = tmp_path / "install" / "depth_anything_ros"
    share = prefix / "share" / "depth_anything_ros"
    for name in ("lib/depth_anything_ros/depth_node", "lib/depth_anything_ros/depth-anything-ros",
                 "share/ament_index/resource_index/packages/depth_anything_ros"):
        assert (prefix / name).is_file(), name
    for name in ("package.xml", "launch/depth.launch.py", "config/depth.yaml",
                 "config/fastdds_large_shm.xml", "config/fastdds_large_shm_localhost.xml",
                 "models/default.safetensors"):
        assert (share / name).is_file(), name
    (site,) = prefix.glob("lib/python3*/site-packages")
    assert (site / "depth_anything_ros" / "training" / "__main__.py").is_file()
    installed = dict(env, PYTHONPATH=str(site), AMENT_PREFIX_PATH=str(prefix))
    info = subprocess.run([str(prefix / "lib/depth_anything_ros/depth-anything-ros"), "info"],
                          cwd=tmp_path, env=installed, capture_output=True, text=True,
                          timeout=120)
    assert info.returncode == 0, info.stderr
    assert f"weights:     {share / 'models' / 'default.safetensors'}" in info.stdout, info.stdout


def test_training_runs_as_a_cli_subcommand_and_from_a_checkout():
    installed = subprocess.run([sys.executable, "-m", "depth_anything_ros.cli", "train", "--help"],
                               capture_output=True, text=True, timeout=120)
    assert installed.returncode == 0, installed.stderr
    assert "pipeline" in installed.stdout and "evaluate" in installed.stdout
    checkout = subprocess.run([sys.executable, "-m", "training", "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    assert checkout.returncode == 0, checkout.stderr
    assert "pipeline" in checkout.stdout


def _collected(*args: str, env_suite: str | None = None) -> set[str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "DAR_TESTS"}
    if env_suite is not None:
        env["DAR_TESTS"] = env_suite
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                          "-p", "no:cacheprovider", *args,
                          "test/test_training_losses.py", "test/test_metrics.py"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    return {line.split("::")[0] for line in run.stdout.splitlines() if "::" in line}


def test_colcon_test_runs_the_default_subset_and_dar_tests_all_runs_everything():
    colcon = ("--junit-prefix=depth_anything_ros",)  # what colcon's pytest step always passes
    assert _collected(*colcon) == {"test/test_metrics.py"}
    assert _collected(*colcon, env_suite="all") == {"test/test_metrics.py",
                                                    "test/test_training_losses.py"}
    assert _collected() == {"test/test_metrics.py", "test/test_training_losses.py"}


# ROS packages (not pip/apt Python modules) the code may import, by import name = package name.
ROS_PACKAGES = ("rclpy", "rcl_interfaces", "ament_index_python", "sensor_msgs", "std_msgs",
                "diagnostic_msgs", "geometry_msgs", "builtin_interfaces", "launch", "launch_ros")


def test_package_xml_declares_every_ros_package_imported_and_no_pip_rosdep_key():
    import re

    package_xml = (ROOT / "package.xml").read_text(encoding="utf-8")
    depends = set(re.findall(r"<(?:exec_|build_)?depend>([^<]+)</", package_xml))
    assert not [d for d in depends if d.endswith("-pip")], "pip keys break rosdep on 24.04"
    sources = list((ROOT / "depth_anything_ros").rglob("*.py")) + [ROOT / "launch" /
                                                                    "depth.launch.py"]
    imported = set()
    for source in sources:
        for match in re.finditer(r"^\s*(?:from|import) (\w+)", source.read_text(), re.M):
            if match.group(1) in ROS_PACKAGES:
                imported.add(match.group(1))
    assert {"rclpy", "rcl_interfaces", "ament_index_python", "launch_ros"} <= imported
    assert imported <= depends, f"package.xml lacks <exec_depend> for {imported - depends}"


def test_every_tracked_python_file_runs_on_humbles_python_3_10(tmp_path):
    """CI runs Python 3.11 with Jazzy wheels, but Humble users run Python 3.10: a 3.11-only
    module or syntax (tomllib, ExceptionGroup, typing.Self, except*) would pass here and fail
    on their robot. vermin reads the sources, so this needs no second interpreter."""
    listed = subprocess.run(["git", "ls-files", "-z", "*.py"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    files = [ROOT / name for name in listed if name and not (ROOT / name).is_symlink()]
    assert len(files) > 100  # the whole package, training, launch, bench and tests
    pytest.importorskip("vermin", reason="vermin is not installed (`pip install vermin`; CI "
                        "has it)")
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from vermin import main; sys.exit(main())",
         "--no-tips", "--violations", "--eval-annotations", "--target=3.10-", *map(str, files)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
