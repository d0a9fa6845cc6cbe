"""Decoders for MCAP channels of any encoding, and their field plans for the flattener.

One :class:`ChannelCodec` per schema: a ``decode(bytes) -> message`` function and the
rosbags-style field definitions (``fielddefs``) the :class:`~extract_worker.flatten.Flattener`
compiles its column plan from, so every encoding lands in the same Parquet writers:

- ``ros2msg``/``ros2idl`` + ``cdr`` and ``ros1msg`` + ``ros1``: the rosbags typestore built from
  the schema text (the same typestore and message objects as ROS bags).
- ``protobuf`` + ``protobuf``: the mcap-protobuf-support decoder; the field plan is read from
  the message descriptor (repeated -> list, message -> struct, enum -> int32, bytes -> binary).
- ``jsonschema`` + ``json``: ``json.loads`` shaped by the schema into attribute objects (missing
  keys are None, untyped values are kept as JSON text); schemaless JSON is one ``json`` column.

Anything else raises :class:`UndecodableError` with the reason, which the reader reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, TypesysError, get_types_from_idl, get_types_from_msg
from rosbags.typesys import get_typestore as rosbags_typestore

from extract_worker.readers.ros_types import missing_dependency, service_type_names

if TYPE_CHECKING:
    from collections.abc import Callable

    from mcap.records import Schema

__all__ = [
    "ChannelCodec",
    "JsonObject",
    "UndecodableError",
    "make_codec",
    "normalize_msgtype",
]

_IDL_SEPARATOR = "=" * 80 + "\n"
_ROS_MSG = "ros2msg"
Fielddefs = list[tuple[str, Any]]


class UndecodableError(ValueError):
    """A channel whose messages cannot be decoded here; the text says why."""


@dataclass
class ChannelCodec:
    """How to decode one channel and the field definitions of its (nested) types."""

    msgtype: str
    decode: Callable[[bytes], Any]
    fielddefs: dict[str, Fielddefs]


def normalize_msgtype(name: str, schema_encoding: str) -> str:
    """ROS type names in their ROS 2 form (``pkg/msg/Type``); other names unchanged."""
    if schema_encoding in {"ros1msg", _ROS_MSG, "ros2idl"} and name.count("/") == 1:
        package, typ = name.split("/")
        return f"{package}/msg/{typ}"
    return name


def make_codec(message_encoding: str, schema: Schema | None) -> ChannelCodec:
    """The codec of a channel; UndecodableError names what is missing."""
    schema_encoding = schema.encoding if schema is not None else ""
    if message_encoding == "cdr" and schema_encoding in {_ROS_MSG, "ros2idl"}:
        assert schema is not None
        return _ros_codec(schema, ros1=False)
    if message_encoding == "ros1" and schema_encoding == "ros1msg":
        assert schema is not None
        return _ros_codec(schema, ros1=True)
    if message_encoding == "protobuf" and schema_encoding == "protobuf":
        assert schema is not None
        return _protobuf_codec(schema)
    if message_encoding == "json":
        if schema is None or schema_encoding == "":
            return _schemaless_json_codec()
        if schema_encoding == "jsonschema":
            return _json_codec(schema)
    if message_encoding == "flatbuffer":
        raise UndecodableError("flatbuffer messages are not decoded (no reflection decoder)")
    raise UndecodableError(
        f"no decoder for message encoding {message_encoding!r} "
        f"with schema encoding {schema_encoding or 'none'!r}"
    )


def _ros_codec(schema: Schema, *, ros1: bool) -> ChannelCodec:
    msgtype = normalize_msgtype(schema.name, schema.encoding)
    text = schema.data.decode("utf-8", "replace")
    try:
        if schema.encoding == "ros2idl":
            types: dict[str, Any] = {}
            parts = text.split(_IDL_SEPARATOR)[1:] if text.startswith(_IDL_SEPARATOR) else [text]
            for part in parts:
                body = part.split("\n", 1)[1] if part.startswith("IDL: ") else part
                types.update(get_types_from_idl(body))
        else:
            types = dict(service_type_names(get_types_from_msg(text, msgtype)))
        store = rosbags_typestore(Stores.EMPTY)
        store.register(types)
    # rosbags compiles code from the definition: a damaged field name is a SyntaxError.
    except (TypesysError, ValueError, KeyError, SyntaxError) as err:
        raise UndecodableError(f"schema {schema.name!r} does not parse: {err}") from err
    if missing := missing_dependency(store, msgtype):
        raise UndecodableError(f"schema {schema.name!r} does not define {missing!r}")
    deserialize = store.deserialize_ros1 if ros1 else store.deserialize_cdr

    def decode(raw: bytes) -> Any:
        return deserialize(raw, msgtype)

    defs = {name: list(fields) for name, (_, fields) in store.fielddefs.items()}
    return ChannelCodec(msgtype, decode, defs)


# protobuf FieldDescriptor.type -> the flattener's primitive names
_PROTO_TYPES = {
    1: "float64",  # double
    2: "float32",  # float
    3: "int64",
    4: "uint64",
    5: "int32",
    6: "uint64",  # fixed64
    7: "uint32",  # fixed32
    8: "bool",
    9: "string",
    12: "bytes",
    13: "uint32",
    14: "int32",  # enum: its number
    15: "int32",  # sfixed32
    16: "int64",  # sfixed64
    17: "int32",  # sint32
    18: "int64",  # sint64
}
_PROTO_MESSAGE = 11


def _protobuf_codec(schema: Schema) -> ChannelCodec:
    from mcap_protobuf.decoder import DecoderFactory

    try:
        decode = DecoderFactory().decoder_for("protobuf", schema)
    # The FileDescriptorSet is untrusted input: protobuf's DecodeError, descriptor pool
    # conflicts (TypeError), McapError and more all mean the same: no usable decoder.
    except Exception as err:
        raise UndecodableError(f"protobuf schema {schema.name!r} does not load: {err}") from err
    if decode is None:
        raise UndecodableError(f"protobuf schema {schema.name!r} defines no message")
    try:
        descriptor = decode(b"").DESCRIPTOR
    except Exception as err:  # any failure on empty input: the class is unusable
        raise UndecodableError(f"protobuf schema {schema.name!r}: {err}") from err
    defs: dict[str, Fielddefs] = {}
    _proto_fields(descriptor, defs, ())
    return ChannelCodec(schema.name, decode, defs)


def _proto_fields(descriptor: Any, defs: dict[str, Fielddefs], stack: tuple[str, ...]) -> None:
    name = str(descriptor.full_name)
    if name in stack:
        raise UndecodableError(f"protobuf message {name!r} is recursive (no fixed columns)")
    if name in defs:
        return
    fields: Fielddefs = []
    for field in descriptor.fields:
        if field.type == _PROTO_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                raise UndecodableError(
                    f"protobuf field {name}.{field.name} is a map (no fixed columns)"
                )
            _proto_fields(field.message_type, defs, (*stack, name))
            desc: Any = (Nodetype.NAME, str(field.message_type.full_name))
        else:
            desc = (Nodetype.BASE, (_PROTO_TYPES.get(field.type, "string"), 0))
        if _is_repeated(field):
            desc = (Nodetype.SEQUENCE, (desc, 0))
        fields.append((str(field.name), desc))
    defs[name] = fields


def _is_repeated(field: Any) -> bool:
    """Repeated in any protobuf runtime (``label`` is deprecated in newer ones)."""
    flag = getattr(field, "is_repeated", None)
    if isinstance(flag, bool):
        return flag
    return bool(field.label == 3)


class JsonObject:
    """A decoded JSON object with attribute access (the flattener reads fields by name)."""

    __slots__ = ("__dict__",)

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"JsonObject({self.__dict__!r})"


_JSON_PRIMITIVES = {"integer": "int64", "number": "float64", "boolean": "bool", "string": "string"}
_SCHEMALESS = "json"


def _schemaless_json_codec() -> ChannelCodec:
    """JSON without a schema: one column holding each message's JSON text."""

    def decode(raw: bytes) -> Any:
        text = raw.decode("utf-8")
        json.loads(text)  # a message that is no JSON is bad input, not a string
        return JsonObject({"json": text})

    defs = {_SCHEMALESS: [("json", (Nodetype.BASE, ("string", 0)))]}
    return ChannelCodec(_SCHEMALESS, decode, defs)


def _json_codec(schema: Schema) -> ChannelCodec:
    try:
        root = json.loads(schema.data)
    except ValueError as err:
        raise UndecodableError(f"JSON schema {schema.name!r} does not parse: {err}") from err
    if not isinstance(root, dict) or _json_kind(root) != "object":
        raise UndecodableError(f"JSON schema {schema.name!r} does not describe an object")
    name = schema.name or "json"
    defs: dict[str, Fielddefs] = {}
    shape = _json_plan(root, name, defs, depth=0)

    def decode(raw: bytes) -> Any:
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise TypeError(f"a {name} message must be a JSON object")
        return _shape(value, shape)

    return ChannelCodec(name, decode, defs)


def _json_kind(node: dict[str, Any]) -> str:
    kind = node.get("type")
    if isinstance(kind, list):  # ["number", "null"]: nullable
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if kind is None and "properties" in node:
        return "object"
    return str(kind) if kind else ""


# A shape says how to turn a JSON value into what the flattener reads:
# ("scalar", caster) | ("object", {field: shape}) | ("list", shape) | ("text",)
Shape = tuple[Any, ...]


def _json_plan(node: dict[str, Any], name: str, defs: dict[str, Fielddefs], depth: int) -> Shape:
    """Register ``name``'s fields from an object schema node and return its shape."""
    if depth > 16:
        raise UndecodableError(f"JSON schema {name!r} nests deeper than 16 objects")
    fields: Fielddefs = []
    shapes: dict[str, Shape] = {}
    properties = node.get("properties") or {}
    for key, sub in properties.items():
        desc, shape = _json_field(
            sub if isinstance(sub, dict) else {}, f"{name}.{key}", defs, depth
        )
        fields.append((str(key), desc))
        shapes[str(key)] = shape
    defs[name] = fields
    return ("object", shapes)


def _json_field(
    node: dict[str, Any], name: str, defs: dict[str, Fielddefs], depth: int
) -> tuple[Any, Shape]:
    kind = _json_kind(node)
    if kind in _JSON_PRIMITIVES:
        return (Nodetype.BASE, (_JSON_PRIMITIVES[kind], 0)), ("scalar", kind)
    if kind == "object" and node.get("properties"):
        shape = _json_plan(node, name, defs, depth + 1)
        return (Nodetype.NAME, name), shape
    if kind == "array" and isinstance(node.get("items"), dict):
        item_desc, item_shape = _json_field(node["items"], name, defs, depth + 1)
        return (Nodetype.SEQUENCE, (item_desc, 0)), ("list", item_shape)
    # Untyped, free-form or alternative-typed values: kept as their JSON text.
    return (Nodetype.BASE, ("string", 0)), ("text",)


def _int64(value: Any) -> int:
    number = int(value)
    if not -(1 << 63) <= number < (1 << 63):
        raise ValueError(f"integer {number} does not fit in 64 bits")
    return number


_CASTS: dict[str, Callable[[Any], Any]] = {
    "integer": _int64,
    "number": float,
    "boolean": bool,
    "string": str,
}


def _shape(value: Any, shape: Shape) -> Any:
    kind = shape[0]
    if kind == "scalar":
        return None if value is None else _CASTS[shape[1]](value)
    if kind == "object":
        fields: dict[str, Shape] = shape[1]
        source = value if isinstance(value, dict) else {}
        return JsonObject({k: _shape(source.get(k), s) for k, s in fields.items()})
    if kind == "list":
        return [_shape(v, shape[1]) for v in value] if isinstance(value, list) else []
    return None if value is None else json.dumps(value, separators=(",", ":"))
