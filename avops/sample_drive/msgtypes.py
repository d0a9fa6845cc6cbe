"""Message types the default rosbags typestores lack: CAN frames and 2D detections.

The definitions are the public ROS interface texts (can_msgs, vision_msgs 4.x), registered from text
so that the bags embed them and any reader can decode them without the packages installed.
"""

from __future__ import annotations

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

__all__ = [
    "CAN_FRAME",
    "CAN_FRAME_DEFINITION",
    "DETECTION_ARRAY",
    "ros1_typestore",
    "ros2_typestore",
]

CAN_FRAME = "can_msgs/msg/Frame"
DETECTION_ARRAY = "vision_msgs/msg/Detection2DArray"

# can_msgs/Frame; the extract worker's tests build their CAN recordings from it too.
CAN_FRAME_DEFINITION = """
std_msgs/Header header
uint32 id
bool is_rtr
bool is_extended
bool is_error
uint8 dlc
uint8[8] data
"""

_DEFINITIONS = {
    CAN_FRAME: CAN_FRAME_DEFINITION,
    "vision_msgs/msg/Point2D": """
float64 x
float64 y
""",
    "vision_msgs/msg/Pose2D": """
vision_msgs/Point2D position
float64 theta
""",
    "vision_msgs/msg/BoundingBox2D": """
vision_msgs/Pose2D center
float64 size_x
float64 size_y
""",
    "vision_msgs/msg/ObjectHypothesis": """
string class_id
float64 score
""",
    "vision_msgs/msg/ObjectHypothesisWithPose": """
vision_msgs/ObjectHypothesis hypothesis
geometry_msgs/PoseWithCovariance pose
""",
    "vision_msgs/msg/Detection2D": """
std_msgs/Header header
vision_msgs/ObjectHypothesisWithPose[] results
vision_msgs/BoundingBox2D bbox
string id
""",
    DETECTION_ARRAY: """
std_msgs/Header header
vision_msgs/Detection2D[] detections
""",
}


def _with_custom(store: Stores) -> Typestore:
    typestore = get_typestore(store)
    types = {}
    for name, text in _DEFINITIONS.items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore


def ros2_typestore() -> Typestore:
    """ROS 2 Humble types plus the CAN and vision definitions."""
    return _with_custom(Stores.ROS2_HUMBLE)


def ros1_typestore() -> Typestore:
    """ROS 1 Noetic types (the ROS 1 bag uses standard types only)."""
    return get_typestore(Stores.ROS1_NOETIC)
