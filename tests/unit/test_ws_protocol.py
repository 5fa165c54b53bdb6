"""web.ws_protocol: the frames the hub writes itself parse as the RFC says, at every
length boundary, with websockets' own parser."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from chatserver.web.ws_protocol import FIN_BINARY, FIN_TEXT, frame_header


def parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("frame incomplete")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize(
    ("first", "opcode"), [(FIN_BINARY, Opcode.BINARY), (FIN_TEXT, Opcode.TEXT)]
)
def test_a_written_frame_parses_back_to_its_payload(size: int, first: int, opcode: Opcode) -> None:
    payload = bytes(i % 251 for i in range(size))
    frame = parse(frame_header(first, size) + payload)
    assert (frame.opcode, frame.fin, bytes(frame.data)) == (opcode, True, payload)
