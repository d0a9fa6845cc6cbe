"""An MCAP file's channels and schemas: topics, message types and each channel's codec."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from extract_worker.errors import BadInputError, UnknownTypeError
from extract_worker.readers.mcap_decode import (
    ChannelCodec,
    UndecodableError,
    make_codec,
    normalize_msgtype,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from mcap.records import Channel, Schema

__all__ = ["McapChannels"]


class McapChannels:
    """Channels and schemas by id (filled by the reader as it finds them) and their codecs."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.schemas: dict[int, Schema] = {}
        self.channels: dict[int, Channel] = {}
        self._codecs: dict[int, ChannelCodec | str] = {}

    def topics(self) -> dict[str, list[int]]:
        """Topic -> its channel ids."""
        out: dict[str, list[int]] = {}
        for cid in sorted(self.channels):
            out.setdefault(self.channels[cid].topic, []).append(cid)
        return out

    def schema_of(self, cid: int) -> Schema | None:
        return self.schemas.get(self.channels[cid].schema_id)

    def msgtype_of(self, topic: str) -> str:
        """The schema name (ROS names in ``pkg/msg/Type`` form); the encoding if schemaless."""
        cid = self.topics()[topic][0]
        schema = self.schema_of(cid)
        if schema is None:
            return self.channels[cid].message_encoding
        return normalize_msgtype(schema.name, schema.encoding)

    def codec(self, cid: int) -> ChannelCodec | str:
        """The channel's codec, or the reason it has none."""
        if cid not in self._codecs:
            channel = self.channels[cid]
            try:
                self._codecs[cid] = make_codec(channel.message_encoding, self.schema_of(cid))
            except UndecodableError as err:
                self._codecs[cid] = str(err)
        return self._codecs[cid]

    def topic_codec(self, topic: str) -> ChannelCodec | str:
        ids = self.topics()[topic]
        schema_ids = {self.channels[c].schema_id for c in ids}
        encodings = {self.channels[c].message_encoding for c in ids}
        if len(schema_ids) > 1 or len(encodings) > 1:
            return f"channels {ids} of the topic carry different schemas or encodings"
        return self.codec(ids[0])

    def unknown_types(self) -> dict[str, str]:
        """Topics whose messages cannot be decoded, with the reason."""
        out = {}
        for topic in self.topics():
            codec = self.topic_codec(topic)
            if isinstance(codec, str):
                out[topic] = codec
        return out

    def decoder(self, topic: str) -> Callable[[bytes], Any]:
        """Decoder of ``topic``; UnknownTypeError names the topic and why it has none."""
        if topic not in self.topics():
            raise BadInputError(f"no topic {topic!r} in the recording", path=self.path)
        codec = self.topic_codec(topic)
        msgtype = self.msgtype_of(topic)
        if isinstance(codec, str):
            raise UnknownTypeError(path=self.path, topic=topic, msgtype=msgtype, detail=codec)
        decode = codec.decode
        path = self.path

        def checked(raw: bytes) -> Any:
            try:
                return decode(raw)
            except Exception as err:
                raise BadInputError(
                    f"message of type {msgtype!r} does not decode: {type(err).__name__}: {err}",
                    path=path,
                    field=topic,
                ) from err

        return checked

    def type_fields(self, msgtype: str) -> list[tuple[str, Any]]:
        """Field definitions of ``msgtype`` (or a nested type) from the decodable channels."""
        for cid in sorted(self.channels):
            codec = self.codec(cid)
            if not isinstance(codec, str) and msgtype in codec.fielddefs:
                return list(codec.fielddefs[msgtype])
        raise KeyError(msgtype)
