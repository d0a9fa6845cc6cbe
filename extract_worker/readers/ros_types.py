"""Build one typestore for a ROS recording, topic by topic, so one bad type spares the rest.

rosbags' AnyReader registers every definition at once and fails the whole recording on the
first bad one; here an unknown type fails only its own topic, with the topic named, and the
other topics still extract. Definitions come from the recording; bags without them (older ROS 2
sqlite3 bags) fall back to the configured distro's typestore plus a folder of ``.msg`` files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rosbags.interfaces import MessageDefinitionFormat, Nodetype
from rosbags.typesys import Stores, TypesysError, get_types_from_idl, get_types_from_msg
from rosbags.typesys import get_typestore as rosbags_typestore

from extract_worker.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from rosbags.interfaces import Connection
    from rosbags.interfaces.typing import Typesdict
    from rosbags.typesys.store import Typestore

__all__ = ["build_typestore", "missing_dependency", "msg_folder_types", "service_type_names"]

_IDL_SEPARATOR = "=" * 80 + "\n"


def msg_folder_types(folder: Path) -> Typesdict:
    """Parse ``<folder>/<package>/msg/<Name>.msg`` files into a types dict."""
    types: Typesdict = {}
    for path in sorted(folder.rglob("*.msg")):
        name = f"{path.parent.parent.name}/msg/{path.stem}"
        try:
            types.update(get_types_from_msg(path.read_text(encoding="utf-8"), name))
        except TypesysError as err:
            raise ConfigError(f"cannot parse message definition: {err}", path=str(path)) from err
    return types


def _rename(detail: Any, names: dict[str, str]) -> Any:
    """A field description with the type names in ``names`` replaced (nested arrays too)."""
    nodetype, inner = detail
    if nodetype == Nodetype.NAME:
        return (nodetype, names.get(inner, inner))
    if nodetype in {Nodetype.ARRAY, Nodetype.SEQUENCE}:
        return (nodetype, (_rename(inner[0], names), inner[1]))
    return detail


def service_type_names(types: Typesdict) -> Typesdict:
    """Service types under the names recorders use (``pkg/srv/Type_Event``).

    rosbags' msg parser files every type under ``pkg/msg``-style names, so a ``.msg``-form
    definition of ``pkg/srv/Type_Event`` (Jazzy's service event topics) lands as
    ``pkg/srv/msg/Type_Event`` and the topic's type never resolves.
    """
    names = {name: name.replace("/srv/msg/", "/srv/") for name in types if "/srv/msg/" in name}
    if not names:
        return types
    return {
        names.get(name, name): (consts, [(f, _rename(d, names)) for f, d in fields])
        for name, (consts, fields) in types.items()
    }


def _definition_types(connection: Connection) -> Typesdict:
    """The types a connection's embedded definition declares (empty if it embeds none)."""
    msgdef = connection.msgdef
    if msgdef.format == MessageDefinitionFormat.MSG:
        return service_type_names(get_types_from_msg(msgdef.data, connection.msgtype))
    if msgdef.format == MessageDefinitionFormat.IDL:
        types: Typesdict = {}
        if msgdef.data.startswith(f"{_IDL_SEPARATOR}IDL: "):
            for part in msgdef.data.split(_IDL_SEPARATOR)[1:]:
                types.update(get_types_from_idl(part.split("\n", 1)[1]))
        else:
            types.update(get_types_from_idl(msgdef.data))
        return types
    return {}


def missing_dependency(typestore: Typestore, msgtype: str) -> str | None:
    """The first type ``msgtype`` needs that the store lacks, walking nested fields."""
    seen: set[str] = set()
    pending = [msgtype]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name not in typestore.fielddefs:
            return name
        for _, (nodetype, desc) in typestore.fielddefs[name][1]:
            detail: Any = desc
            if nodetype == Nodetype.NAME:
                pending.append(str(detail))
            elif nodetype in {Nodetype.ARRAY, Nodetype.SEQUENCE} and detail[0][0] == Nodetype.NAME:
                pending.append(str(detail[0][1]))
    return None


def build_typestore(
    connections: list[Connection], *, distro: str, msg_folder: Path | None
) -> tuple[Typestore, dict[str, str]]:
    """Register every resolvable type; return the store and ``{topic: reason}`` for the rest."""
    typestore = rosbags_typestore(Stores.EMPTY)
    fallback: Typesdict | None = None
    unknown: dict[str, str] = {}
    for connection in connections:
        try:
            types = _definition_types(connection)
        except TypesysError as err:
            unknown[connection.topic] = f"embedded definition does not parse: {err}"
            continue
        if not types:
            if fallback is None:
                fallback = _fallback_types(distro, msg_folder)
            types = fallback
        try:
            typestore.register(types)
        except TypesysError as err:
            unknown[connection.topic] = f"definition conflicts with another topic's: {err}"
            continue
        if missing := missing_dependency(typestore, connection.msgtype):
            where = "type" if missing == connection.msgtype else f"nested type {missing!r}"
            unknown[connection.topic] = (
                f"{where} not in the recording, the {distro} typestore or the msg folder"
            )
    return typestore, unknown


def _fallback_types(distro: str, msg_folder: Path | None) -> Typesdict:
    """The distro's builtin types plus the msg folder's, for recordings without definitions."""
    try:
        store = rosbags_typestore(Stores(distro))
    except ValueError as err:
        raise ConfigError(f"unknown ros_distro {distro!r}", field="ros_distro") from err
    types: Typesdict = dict(store.fielddefs)
    if msg_folder is not None:
        types.update(msg_folder_types(msg_folder))
    return types
