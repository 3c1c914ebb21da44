"""grasps.json's grasps in the formats robot stacks read: GraspNet ``GraspGroup`` arrays, ``isaac_grasp``
YAML, and ROS 2 messages (``geometry_msgs/PoseStamped`` as YAML and as a rosbag2, and
``moveit_msgs/Grasp``-shaped YAML).

Every writer takes a ``point2act.grasps/1`` document. Poses come from the robot base frame when the
document has it (``grasps[].base``, written by export with a frame file), else from the capture
frame with positions multiplied by ``metres_per_unit`` (metres, the capture's axes); lengths are
metres in every format.

point2act's gripper frame (grasps.json ``rotation`` columns): origin the TCP (midway between the
fingertips), **x** the closing axis (finger to finger), **z** the approach (from the gripper
towards the object), **y** = z x x. With ``R`` that rotation, ``a = R[:, 2]`` the approach and ``p``
the TCP:

============== ============================================ ==========================================
format         axes                                         origin
============== ============================================ ==========================================
GraspNet       x = approach, y = closing, z = x x y:        ``p - depth * a`` (the fingertips are
               ``R_gn = R[:, [2, 0, 1]]``                    ``depth`` ahead of it along x)
isaac_grasp    GraspGen's: x = closing, z = approach: ``R``  the gripper base link, ``p - d * a`` with
                                                            ``d`` = finger_length + palm_depth
PoseStamped    point2act's: ``R``                            the TCP ``p``
moveit Grasp   ``R @ inv(tcp_in_parent)[:3, :3]``            the end-effector's parent link:
                                                            ``T_tcp @ inv(tcp_in_parent)``
============== ============================================ ==========================================

Quaternions: ``isaac_grasp`` ``{w, xyz}``, ROS ``{x, y, z, w}``, all with w >= 0. Plain numpy (PyYAML
for YAML, ``rosbags`` for the bag).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

from point2act.errors import Point2ActError

__all__ = [
    "FORMATS",
    "check_format",
    "GRASPNET_ARRAY_LEN",
    "GraspPoses",
    "graspnet_to_tcp",
    "grasp_poses",
    "isaac_to_tcp",
    "quat_wxyz",
    "read_pose_bag",
    "to_graspnet",
    "to_isaac_grasp",
    "to_moveit_grasps",
    "to_pose_stamped",
    "write_format",
    "write_pose_bag",
]

FORMATS = ("json", "graspnet", "isaac", "ros2")
GRASPNET_ARRAY_LEN = 17
"""graspnetAPI's ``GRASP_ARRAY_LEN``: score, width, height, depth, rotation (9, row-major),
translation (3), object_id."""
GRASPNET_DEPTH = 0.02
"""Metres the fingertips reach beyond a GraspNet grasp's translation (its ``depth``): graspnetAPI's
depths are 0.01-0.04."""
ROS_TOPIC = "/point2act/grasps"


@dataclass
class GraspPoses:
    """The grasps of one document in one frame, metres."""

    frame: str
    """"base" (the robot base frame) or "capture" (the capture's axes, scaled to metres)."""
    position: np.ndarray
    """(N, 3) TCP."""
    rotation: np.ndarray
    """(N, 3, 3) point2act's axes (x closing, y = z x x, z approach)."""
    pregrasp: np.ndarray
    """(N, 3) the pre-grasp TCP."""
    width: np.ndarray
    """(N,) opening, metres."""
    score: np.ndarray
    """(N,) in [0, 1]."""
    gripper: Dict[str, Any]


def grasp_poses(doc: Dict[str, Any]) -> GraspPoses:
    """The document's grasps in the base frame (when ``grasps[].base`` is there) or the capture
    frame in metres. Raises Point2ActError on a document without ``grasps``."""
    if not isinstance(doc, dict) or not isinstance(doc.get("grasps"), list):
        raise Point2ActError("a point2act.grasps/1 document with a 'grasps' list is needed (export with grasps).")
    gs = doc["grasps"]
    base = bool(gs) and all(isinstance(g.get("base"), dict) for g in gs)
    mpu = 1.0 if base else float(doc.get("metres_per_unit", 1.0))
    src = [g["base"] if base else g for g in gs]
    n = len(gs)
    pos = np.asarray([s["position"] for s in src], dtype=np.float64).reshape(n, 3) * mpu
    rot = np.asarray([s["rotation"] for s in src], dtype=np.float64).reshape(n, 3, 3)
    if "pregrasp_position" in (src[0] if src else {}):
        pre = np.asarray([s["pregrasp_position"] for s in src], dtype=np.float64).reshape(n, 3) * mpu
    else:
        d = float((doc.get("gripper") or {}).get("pregrasp_distance", 0.10))
        pre = pos - d * rot[:, :, 2]
    width = np.asarray([g.get("width", 0.0) for g in gs], dtype=np.float64)
    score = np.asarray([g.get("score", 0.0) for g in gs], dtype=np.float64)
    return GraspPoses("base" if base else "capture", pos, rot, pre, width, score, dict(doc.get("gripper") or {}))


def quat_wxyz(r: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations -> (..., 4) unit quaternions [w, x, y, z], w >= 0."""
    from scipy.spatial.transform import Rotation

    r = np.asarray(r, dtype=np.float64)
    q = Rotation.from_matrix(r.reshape(-1, 3, 3)).as_quat()[:, [3, 0, 1, 2]]
    q[q[:, 0] < 0] *= -1
    return q.reshape(r.shape[:-2] + (4,))


def _rot_from_wxyz(q: Sequence[float]) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    w, x, y, z = q
    return Rotation.from_quat([x, y, z, w]).as_matrix()


def _hand_depth(gripper: Dict[str, Any]) -> float:
    """Metres from the gripper's base link (the palm's back, where it meets the flange) to the TCP."""
    return float(gripper.get("finger_length", 0.0462)) + float(gripper.get("palm_depth", 0.066))


# --------------------------------------------------------------------------- GraspNet


def to_graspnet(doc: Dict[str, Any], depth: float = GRASPNET_DEPTH, height: float | None = None,
                object_id: int = -1) -> np.ndarray:
    """graspnetAPI ``GraspGroup.grasp_group_array``: (N, 17) float64 rows ``[score, width, height,
    depth, R (9, row-major), t (3), object_id]``.

    graspnetAPI's gripper frame: x = approach, y = closing, z = x x y; the fingertips are ``depth``
    ahead of ``t`` along x (``plot_gripper_pro_max``). So ``R = R_p2a[:, [2, 0, 1]]`` and
    ``t = tcp - depth * approach``. ``height``: the fingers' extent along z (default the gripper's
    ``finger_width``)."""
    g = grasp_poses(doc)
    n = len(g.position)
    h = float(g.gripper.get("finger_width", 0.02)) if height is None else float(height)
    r_gn = g.rotation[:, :, [2, 0, 1]]
    t = g.position - depth * g.rotation[:, :, 2]
    out = np.zeros((n, GRASPNET_ARRAY_LEN), dtype=np.float64)
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = g.score, g.width, h, depth
    out[:, 4:13] = r_gn.reshape(n, 9)
    out[:, 13:16] = t
    out[:, 16] = object_id
    return out


def graspnet_to_tcp(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 17) GraspGroup array -> (TCP (N, 3), point2act rotation (N, 3, 3)): the inverse of
    :func:`to_graspnet`, from the documented layout alone."""
    a = np.asarray(arr, dtype=np.float64).reshape(-1, GRASPNET_ARRAY_LEN)
    r_gn = a[:, 4:13].reshape(-1, 3, 3)
    return a[:, 13:16] + a[:, 3:4] * r_gn[:, :, 0], r_gn[:, :, [1, 2, 0]]


# --------------------------------------------------------------------------- isaac_grasp


def to_isaac_grasp(doc: Dict[str, Any], hand_depth: float | None = None, joint: str | None = None) -> Dict[str, Any]:
    """An ``isaac_grasp`` document (format_version 1.0) with GraspGen's gripper convention: each
    grasp is the pose of the gripper's base link, z = approach, x = closing (point2act's axes),
    ``hand_depth`` (default finger_length + palm_depth) behind the TCP. ``cspace_position``: the
    finger joint at half the grasp's ``width``; ``pregrasp_cspace_position``: half the gripper's
    ``max_opening``."""
    g = grasp_poses(doc)
    d = _hand_depth(g.gripper) if hand_depth is None else float(hand_depth)
    name = str(g.gripper.get("name", "gripper"))
    joint = joint or ("panda_finger_joint1" if "panda" in name else "finger_joint")
    q = quat_wxyz(g.rotation)
    base = g.position - d * g.rotation[:, :, 2]
    max_open = float(g.gripper.get("max_opening", float(np.max(g.width)) if len(g.width) else 0.08))
    grasps = {}
    for i in range(len(base)):
        grasps[f"grasp_{i}"] = {
            "confidence": float(g.score[i]),
            "position": [float(v) for v in base[i]],
            "orientation": {"w": float(q[i, 0]), "xyz": [float(v) for v in q[i, 1:]]},
            "cspace_position": {joint: float(g.width[i] / 2)},
            "pregrasp_cspace_position": {joint: max_open / 2},
        }
    return {
        "format": "isaac_grasp",
        "format_version": 1.0,
        "created_with": "point2act",
        "object_frame": "robot base" if g.frame == "base" else "capture (metres)",
        "gripper_frame": f"{name} base link: z approach, x closing, {d:g} m behind the TCP (GraspGen convention)",
        "prompt": doc.get("prompt"),
        "grasps": grasps,
    }


def isaac_to_tcp(doc: Dict[str, Any], hand_depth: float) -> tuple[np.ndarray, np.ndarray]:
    """An ``isaac_grasp`` document -> (TCP (N, 3), rotation (N, 3, 3)), grasps in name order grasp_0, 1, ..."""
    items = sorted(doc["grasps"].items(), key=lambda kv: int(str(kv[0]).rsplit("_", 1)[-1]))
    rot = np.stack([_rot_from_wxyz([g["orientation"]["w"], *g["orientation"]["xyz"]]) for _, g in items])
    pos = np.asarray([g["position"] for _, g in items], dtype=np.float64)
    return pos + hand_depth * rot[:, :, 2], rot


# --------------------------------------------------------------------------- ROS 2


def _pose_msg(p: np.ndarray, q_wxyz: np.ndarray) -> Dict[str, Any]:
    return {"position": {"x": float(p[0]), "y": float(p[1]), "z": float(p[2])},
            "orientation": {"x": float(q_wxyz[1]), "y": float(q_wxyz[2]), "z": float(q_wxyz[3]), "w": float(q_wxyz[0])}}


def _stamp(ns: int) -> Dict[str, int]:
    return {"sec": int(ns // 1_000_000_000), "nanosec": int(ns % 1_000_000_000)}


def to_pose_stamped(doc: Dict[str, Any], frame_id: str | None = None, stamp_ns: int = 0) -> List[Dict[str, Any]]:
    """One ``geometry_msgs/PoseStamped`` (as a dict, ROS 2 YAML layout) per grasp: the TCP with
    point2act's axes (x closing, z approach). ``frame_id`` default: "base_link" in the base
    frame, "point2act_capture" otherwise."""
    g = grasp_poses(doc)
    fid = frame_id or ("base_link" if g.frame == "base" else "point2act_capture")
    q = quat_wxyz(g.rotation)
    return [{"header": {"stamp": _stamp(stamp_ns), "frame_id": fid}, "pose": _pose_msg(g.position[i], q[i])}
            for i in range(len(g.position))]


def to_moveit_grasps(doc: Dict[str, Any], frame_id: str | None = None, tcp_in_parent: np.ndarray | None = None,
                     parent_link: str | None = None, joint: str | None = None, stamp_ns: int = 0) -> List[Dict[str, Any]]:
    """``moveit_msgs/Grasp``-shaped dicts, one per grasp (ROS 2 YAML layout).

    ``grasp_pose`` is the end-effector's parent link: ``T_tcp @ inv(tcp_in_parent)``, with
    ``tcp_in_parent`` (4, 4) the TCP in that link's frame (default: no rotation, finger_length +
    palm_depth along z: a hand whose base link, with point2act's axes, is the parent; ``parent_link``
    names it in the direction headers, default "ee_parent_link"). ``pre_grasp_approach``: along the
    approach, expressed in the parent link's frame, ``desired_distance`` the gripper's
    ``pregrasp_distance``; ``post_grasp_retreat`` the way back. Postures: the finger joint at half
    the ``max_opening`` before, 0 (closed) for the grasp. ``grasp_quality``: the score."""
    g = grasp_poses(doc)
    fid = frame_id or ("base_link" if g.frame == "base" else "point2act_capture")
    name = str(g.gripper.get("name", "gripper"))
    joint = joint or ("panda_finger_joint1" if "panda" in name else "finger_joint")
    parent = parent_link or "ee_parent_link"
    if tcp_in_parent is None:
        tcp_in_parent = np.eye(4)
        tcp_in_parent[2, 3] = _hand_depth(g.gripper)
    tip = np.asarray(tcp_in_parent, dtype=np.float64)
    inv = np.linalg.inv(tip)
    approach_in_parent = tip[:3, :3] @ np.array([0.0, 0.0, 1.0])
    pre = float(g.gripper.get("pregrasp_distance", 0.10))
    max_open = float(g.gripper.get("max_opening", 0.08))

    def vec(v) -> Dict[str, float]:
        return {"x": float(v[0]), "y": float(v[1]), "z": float(v[2])}

    def translation(direction) -> Dict[str, Any]:
        return {"direction": {"header": {"stamp": _stamp(stamp_ns), "frame_id": parent}, "vector": vec(direction)},
                "desired_distance": pre, "min_distance": 0.5 * pre}

    def posture(pos: float, effort: bool) -> Dict[str, Any]:
        return {"header": {"stamp": _stamp(stamp_ns), "frame_id": fid}, "joint_names": [joint],
                "points": [{"positions": [pos], "velocities": [], "accelerations": [],
                            "effort": [0.0] if effort else [], "time_from_start": {"sec": 0, "nanosec": 0}}]}

    out = []
    for i in range(len(g.position)):
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = g.rotation[i], g.position[i]
        P = T @ inv
        out.append({
            "id": f"grasp_{i}",
            "pre_grasp_posture": posture(max_open / 2, False),
            "grasp_posture": posture(0.0, True),
            "grasp_pose": {"header": {"stamp": _stamp(stamp_ns), "frame_id": fid},
                           "pose": _pose_msg(P[:3, 3], quat_wxyz(P[:3, :3]))},
            "grasp_quality": float(g.score[i]),
            "pre_grasp_approach": translation(approach_in_parent),
            "post_grasp_retreat": translation(-approach_in_parent),
            "post_place_retreat": translation(-approach_in_parent),
            "max_contact_force": 0.0,
            "allowed_touch_objects": [],
        })
    return out


def write_pose_bag(path: os.PathLike | str, poses: List[Dict[str, Any]], topic: str = ROS_TOPIC,
                   start_ns: int = 0) -> Path:
    """The PoseStamped dicts (:func:`to_pose_stamped`) as a rosbag2 (sqlite3, format version 8),
    one message per grasp, best first, 1 ms apart from ``start_ns``; serialised with ``rosbags``'
    ROS 2 Humble typestore. ``path`` must not exist yet."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    path = Path(path)
    if path.exists():
        raise Point2ActError(f"{path}: already exists; a rosbag2 is written into a new folder.")
    ts = get_typestore(Stores.ROS2_HUMBLE)
    PoseStamped = ts.types["geometry_msgs/msg/PoseStamped"]
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    Pose, Point, Quaternion = (ts.types[f"geometry_msgs/msg/{n}"] for n in ("Pose", "Point", "Quaternion"))
    with Writer(path, version=8) as w:
        conn = w.add_connection(topic, PoseStamped.__msgtype__, typestore=ts)
        for i, m in enumerate(poses):
            t = start_ns + i * 1_000_000
            p, o = m["pose"]["position"], m["pose"]["orientation"]
            msg = PoseStamped(
                header=Header(stamp=Time(sec=m["header"]["stamp"]["sec"], nanosec=m["header"]["stamp"]["nanosec"]),
                              frame_id=m["header"]["frame_id"]),
                pose=Pose(position=Point(x=p["x"], y=p["y"], z=p["z"]),
                          orientation=Quaternion(x=o["x"], y=o["y"], z=o["z"], w=o["w"])))
            w.write(conn, t, ts.serialize_cdr(msg, PoseStamped.__msgtype__))
    return path


def read_pose_bag(path: os.PathLike | str, topic: str = ROS_TOPIC) -> List[tuple[str, np.ndarray, np.ndarray]]:
    """Read a bag written by :func:`write_pose_bag` back with ``rosbags``' reader:
    ``[(frame_id, position (3,), quaternion wxyz (4,))]`` in order."""
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    out = []
    with Reader(path) as r:
        conns = [c for c in r.connections if c.topic == topic]
        for conn, _t, raw in r.messages(connections=conns):
            m = ts.deserialize_cdr(raw, conn.msgtype)
            p, o = m.pose.position, m.pose.orientation
            out.append((m.header.frame_id, np.array([p.x, p.y, p.z]), np.array([o.w, o.x, o.y, o.z])))
    return out


# --------------------------------------------------------------------------- files


def check_format(fmt: str, grasps: bool = True) -> None:
    """Refuse (Point2ActError) an unknown ``--format``, or a robot format without grasps, before any work."""
    if fmt not in FORMATS:
        raise Point2ActError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    if fmt != "json" and not grasps:
        raise Point2ActError(f"--format {fmt} writes grasps: it cannot go with --no-grasps.")


def _write_yaml(path: Path, data: Any) -> None:
    import yaml

    from point2act.io import atomic_write

    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    atomic_write(path, lambda f: f.write(text))


def write_format(doc: Dict[str, Any], fmt: str, grasps_json: os.PathLike | str, frame_id: str | None = None,
                 stamp_ns: int = 0) -> List[Path]:
    """Write ``doc`` (already written as ``grasps_json``) in format ``fmt`` beside it:

    * ``graspnet``: ``STEM_graspnet.npy`` (:func:`to_graspnet`);
    * ``isaac``: ``STEM_isaac.yaml`` (:func:`to_isaac_grasp`);
    * ``ros2``: ``STEM_ros2/poses.yaml`` (PoseStamped list), ``STEM_ros2/moveit_grasps.yaml``
      (moveit_msgs/Grasp list) and the rosbag2 ``STEM_ros2/bag`` (topic ``/point2act/grasps``;
      an existing one is replaced);
    * ``json``: nothing more.

    Returns the paths written."""
    from point2act.io import atomic_write

    check_format(fmt)
    p = Path(grasps_json)
    stem = p.with_suffix("") if p.suffix == ".json" else p
    if fmt == "json":
        return []
    if fmt == "graspnet":
        out = Path(f"{stem}_graspnet.npy")
        arr = to_graspnet(doc)
        atomic_write(out, lambda f: np.save(f, arr), binary=True)
        return [out]
    if fmt == "isaac":
        out = Path(f"{stem}_isaac.yaml")
        _write_yaml(out, to_isaac_grasp(doc))
        return [out]
    folder = Path(f"{stem}_ros2")
    folder.mkdir(parents=True, exist_ok=True)
    poses = to_pose_stamped(doc, frame_id, stamp_ns)
    _write_yaml(folder / "poses.yaml", poses)
    _write_yaml(folder / "moveit_grasps.yaml", to_moveit_grasps(doc, frame_id, stamp_ns=stamp_ns))
    bag = folder / "bag"
    if bag.exists():
        import shutil

        shutil.rmtree(bag)
    write_pose_bag(bag, poses, start_ns=stamp_ns)
    return [folder / "poses.yaml", folder / "moveit_grasps.yaml", bag]
