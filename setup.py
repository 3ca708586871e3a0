"""ament_python package: installs with `colcon build` in a ROS 2 workspace and with `pip install -e .`."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "depth_anything_ros"

# ROS 2 Jazzy as PyPI wheels: for a plain venv (tests, CI, demo). A real ROS 2 install
# provides these through rosdep/apt instead, so they are never hard requirements.
ROS_WHEELS = [
    "ros-jazzy-rclpy[fastrtps]",
    "ros-jazzy-sensor-msgs",
    "ros-jazzy-std-msgs",
    "ros-jazzy-geometry-msgs",
    "ros-jazzy-diagnostic-msgs",
    "ros-jazzy-visualization-msgs",
]

setup(
    name=PACKAGE,
    version="0.1.0",
    # The repo's training/ folder is installed as depth_anything_ros.training (through the
    # symlink depth_anything_ros/training), never as a generic top-level `training` that
    # could shadow, or be shadowed by, another package in a colcon workspace.
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={f"{PACKAGE}.training": ["configs/*.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config",
         glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
        (f"share/{PACKAGE}/models",
         glob("models/*.safetensors") + glob("models/*.md") + glob("models/*.json")),
    ],
    python_requires=">=3.10",
    # Floors = Ubuntu 22.04's apt versions (ROS 2 Humble), which the suite passes on: colcon
    # does not install these, so a Humble robot runs with exactly those. Raising a floor above
    # them claims Humble unsupported; and where pip does honour them, it replaces apt's numpy
    # with a 2.x that apt's cv2/cv_bridge (built for NumPy 1.x) cannot import.
    install_requires=[
        "numpy>=1.21.5",
        "opencv-python-headless>=4.5.4",
        "torch>=2.1",
        "safetensors>=0.4",
        "pyyaml>=5.4.1",
        "tqdm>=4.57",
        "rosbags>=0.10.9",
        "matplotlib>=3.5",  # training/figures.py: Figure(layout="constrained") is 3.5.0+
    ],
    extras_require={
        "ros": ROS_WHEELS,
        # Optional inference backends (depth_anything_ros/inference/backends.py); exporting
        # needs onnx + onnxscript (torch's dynamo ONNX exporter) for both.
        "onnx": ["onnx>=1.16", "onnxscript>=0.3", "onnxruntime>=1.18"],
        "openvino": ["openvino>=2024.4", "onnx>=1.16", "onnxscript>=0.3"],
        "test": ROS_WHEELS + ["pytest>=7", "pytest-timeout>=2", "transformers>=4.45",
                 "vermin>=1.6", "colcon-core>=0.15", "colcon-ros>=0.4"],
    },
    zip_safe=True,
    maintainer="depth_anything_ros maintainers",
    description="Metric monocular depth for ROS 2 with Depth Anything.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "depth-anything-ros = depth_anything_ros.cli:main",
            "depth_node = depth_anything_ros.ros.executable:main",
        ],
    },
)
