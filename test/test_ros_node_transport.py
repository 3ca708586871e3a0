"""Transport of real-size frames from a camera in another process, with default parameters:
`input_reliability: auto` must keep a reliable VGA camera's frames; a best-effort one is measured.
"""
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from depth_anything_ros.demo.node_process import depth_node_command, stop_depth_node

from ros_helpers import (  # noqa: F401 — fixtures
    harness_factory, make_image, random_rgb, ros_context, tiny_weights)

SECONDS, RATE = 8.0, 10.0


def run_camera(topic, *, reliability, width=640, height=480, rate=RATE, seconds=SECONDS):
    """A camera in its own process (own participant and shared-memory segment, as a driver);
    returns the stamps it sent."""
    done = subprocess.run(
        [sys.executable, "-m", "depth_anything_ros.demo.camera_process", "--topic", topic,
         "--width", str(width), "--height", str(height), "--rate", str(rate),
         "--seconds", str(seconds), "--reliability", reliability],
        env=dict(os.environ), capture_output=True, text=True, timeout=90 + seconds)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["sent"]


def depth_fraction(harness_factory, reliability, capsys, what):
    """A VGA camera of that QoS in its own process into the node (default parameters, its
    probe publishing with the same QoS): the fraction of frames that got depth, printed."""
    qos = (QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
           if reliability == "reliable" else qos_profile_sensor_data)
    h = harness_factory(image_qos=qos, subscribe=("depth",))
    sent = run_camera(h.image_pub.topic_name, reliability=reliability)
    assert h.node.image_input.reliability == reliability  # what `auto` chose
    time.sleep(1.5)  # the last frames finish
    out = {m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in h.received["depth"]}
    fraction = len(out & set(sent)) / len(sent)
    with capsys.disabled():
        print(f"\n{reliability} 640x480 rgb8 camera at {RATE:g} Hz, {what}: depth for "
              f"{fraction:.2f} of {len(sent)} frames")
    return fraction


def test_a_reliable_vga_camera_at_10_hz_gets_depth_for_nearly_every_frame(harness_factory,
                                                                           capsys):
    fraction = depth_fraction(harness_factory, "reliable", capsys, "default parameters")
    assert fraction >= 0.85


def test_a_best_effort_vga_camera_is_measured(harness_factory, capsys):
    profile = os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE", "unset")
    fraction = depth_fraction(harness_factory, "best_effort", capsys,
                              f"FASTRTPS_DEFAULT_PROFILES_FILE={profile}")
    assert fraction > 0  # the figure itself is the result; the README explains the fix


def test_auto_follows_the_publishers_as_they_come_and_go(harness_factory):
    h = harness_factory(subscribe=("depth",))
    assert h.node.image_input.reliability == "reliable"  # the probe publishes reliable
    topic = h.image_pub.topic_name
    sensor = h.probe.create_publisher(type(make_image(random_rgb())), topic,
                                      qos_profile_sensor_data)

    def wait_for(reliability, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if h.node.image_input.reliability == reliability and h.node.image_input.settled:
                return
            time.sleep(0.05)
        raise AssertionError(f"input stayed {h.node.image_input.describe()} (executor error: "
                             f"{h.spin_error!r})")

    wait_for("best_effort")  # one best-effort publisher: only best-effort reaches both
    for index in range(3):  # frames flow from both publishers after the switch
        sensor.publish(make_image(random_rgb(), stamp=(30, index)))
        h.wait_stamp("depth", (30, index))
    h.on_spin_thread(lambda: h.probe.destroy_publisher(sensor))
    wait_for("reliable")
    # The reader has matched; the camera's writer may learn of it a moment later on a loaded
    # machine (DDS discovery is asynchronous), so a camera-like stream, not one lone frame.
    deadline, index = time.monotonic() + 10.0, 0
    while not any(m.header.stamp.sec == 31 for m in h.received["depth"]):
        assert time.monotonic() < deadline, "no depth from the reliable camera after the switch"
        h.image_pub.publish(make_image(random_rgb(), stamp=(31, index)))
        index += 1
        time.sleep(0.2)
    for index in range(3):  # once flowing, every frame of the reliable camera arrives
        h.image_pub.publish(make_image(random_rgb(), stamp=(32, index)))
        h.wait_stamp("depth", (32, index))


CONFIG = Path(__file__).resolve().parents[1] / "config"
# what depth.launch.py gives the node where DDS stays on the machine, as in every test here
PROFILE = CONFIG / "fastdds_large_shm_localhost.xml"


def udp_sockets(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every IPv4 UDP socket process `pid` holds (/proc, no tools needed)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    bound = set()
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes:
            address, port = fields[1].split(":")
            octets = bytes.fromhex(address)[::-1]  # little-endian on x86 and arm
            bound.add((".".join(map(str, octets)), int(port, 16)))
    return bound


PARTICIPANT = """
import time, rclpy
from std_msgs.msg import String
rclpy.init()
node = rclpy.create_node("loopback_probe")
node.create_publisher(String, "loopback_probe", 10)
print("ready", flush=True)
time.sleep(30)
"""


@pytest.mark.parametrize("profile, loopback_only", [
    ("fastdds_large_shm_localhost.xml", True),
    ("fastdds_large_shm.xml", False),  # the plain profile listens on every interface
])
def test_the_localhost_profile_keeps_dds_on_the_loopback_interface(profile, loopback_only):
    """Every socket on this domain's DDS ports (7400 + 250·domain … +249) is bound to
    127.0.0.1 with the _localhost profile: nothing from another host can reach the node, which
    on Humble the plain profile beside ROS_LOCALHOST_ONLY would not ensure."""
    env = dict(os.environ, FASTRTPS_DEFAULT_PROFILES_FILE=str(CONFIG / profile),
               FASTDDS_DEFAULT_PROFILES_FILE=str(CONFIG / profile),
               RMW_FASTRTPS_USE_QOS_FROM_XML="0")
    process = subprocess.Popen([sys.executable, "-c", PARTICIPANT], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert process.stdout.readline().strip() == "ready"
        first = 7400 + 250 * int(os.environ["ROS_DOMAIN_ID"])
        dds = {(address, port) for address, port in udp_sockets(process.pid)
               if first <= port < first + 250}
    finally:
        process.kill()
        process.wait(10)
    assert dds, "no socket on the domain's DDS ports"
    assert ({address for address, _ in dds} == {"127.0.0.1"}) == loopback_only, dds


def test_the_shipped_fast_dds_profile_delivers_a_best_effort_vga_camera(tmp_path, tiny_weights,
                                                                       ros_context, capsys):
    """config/fastdds_large_shm_localhost.xml in both processes (camera and depth_node): every
    frame of a best-effort 640×480 camera at 30 Hz reaches the node (stock transports: 0.40 in
    bench/camera_transport.py)."""
    env = dict(os.environ, FASTRTPS_DEFAULT_PROFILES_FILE=str(PROFILE),
               FASTDDS_DEFAULT_PROFILES_FILE=str(PROFILE), RMW_FASTRTPS_USE_QOS_FROM_XML="0")
    argv = depth_node_command({"weights": str(tiny_weights), "diagnostics_period": 0.5})
    with open(tmp_path / "node.log", "wb") as log:
        node = subprocess.Popen(argv + ["-r", "__ns:=/xml_profile"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    probe = rclpy.create_node("xml_profile_probe", context=ros_context)
    received = []
    probe.create_subscription(DiagnosticArray, "/diagnostics", lambda m: received.extend(
        {kv.key: kv.value for kv in s.values} for s in m.status if "xml_profile" in s.name), 10)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(probe)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        camera = subprocess.run(
            [sys.executable, "-m", "depth_anything_ros.demo.camera_process", "--topic",
             "/xml_profile/image", "--rate", "30", "--seconds", "6", "--reliability",
             "best_effort", "--wait", "60"],
            env=env, capture_output=True, text=True, timeout=120, check=True)
        sent = json.loads(camera.stdout.strip().splitlines()[-1])["sent"]
        time.sleep(1.5)
        frames_in = int(received[-1]["frames_received"])
    finally:
        stop_depth_node(node)
        executor.shutdown(timeout_sec=2.0)
        probe.destroy_node()
    with capsys.disabled():
        print(f"\nbest-effort 640x480 camera at 30 Hz with config/{PROFILE.name}: the node "
              f"received {frames_in} of {len(sent)} frames")
    assert frames_in >= 0.95 * len(sent), (frames_in, len(sent))


def test_camera_process_sends_each_images_camera_info_beside_it_with_its_stamp(ros_context):
    """Like a driver, the camera process publishes `<ns>/camera_info` next to `<ns>/image_raw`
    with each image's header: that is where the node looks for it, and require_exact_stamp
    matches the two by stamp."""
    from sensor_msgs.msg import CameraInfo, Image

    from ros_helpers import unique_namespace

    namespace = unique_namespace("camera_process")
    probe = rclpy.create_node("camera_process_probe", context=ros_context)
    infos, images = [], []
    qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    probe.create_subscription(CameraInfo, f"{namespace}/camera_info", infos.append, qos)
    probe.create_subscription(Image, f"{namespace}/image_raw", images.append, qos)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(probe)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        sent = run_camera(f"{namespace}/image_raw", reliability="reliable", width=64, height=48,
                          rate=10.0, seconds=1.0)
        time.sleep(0.5)
    finally:
        executor.shutdown(timeout_sec=2.0)
        probe.destroy_node()

    def stamps(messages):
        return [m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec for m in messages]

    assert len(sent) >= 8 and len(infos) >= 0.8 * len(sent), (len(sent), len(infos))
    assert set(stamps(infos)) <= set(sent) and set(stamps(images)) <= set(sent)
    assert set(stamps(infos)) & set(stamps(images))
    info = infos[-1]
    assert (info.width, info.height, info.header.frame_id) == (64, 48, "camera_optical_frame")
    assert list(info.k) == pytest.approx([51.2, 0.0, 31.5, 0.0, 51.2, 23.5, 0.0, 0.0, 1.0])
