"""Bytes of an event stream to text whose lines all end in LF (sans-I/O).

The first stage of the parser (`sse_client.parser`), as httpx-sse's line
decoder: it knows the encoding and the three line ends, nothing of fields
or events. WHATWG HTML, section 9.2.6 "Interpreting an event stream".
"""

from __future__ import annotations

import codecs

__all__ = ["LineDecoder"]


class LineDecoder:
    """`decode(chunk)` -> the chunk's text with every line end as one LF.

    "Streams must be decoded using the UTF-8 decode algorithm": one leading
    byte order mark is stripped ("utf-8-sig"), invalid bytes become U+FFFD, and
    a code point split across chunks is held until it is complete.
    "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A LINE
    FEED (CRLF) character pair, a single U+000A LINE FEED (LF) character, or a
    single U+000D CARRIAGE RETURN (CR) character": CRLF and CR become LF, also
    when the CR ends one chunk and the LF starts the next (one line end).
    """

    __slots__ = ("_decoder", "_skip_lf")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._skip_lf = False  # the previous chunk ended in CR

    def decode(self, chunk: bytes) -> str:
        """The text of `chunk` (maybe "": a code point or a CRLF still open)."""
        text = self._decoder.decode(chunk)
        if not text:
            return text
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return text
        if "\r" in text:  # the usual LF-only chunk skips this
            self._skip_lf = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text

    def reset(self) -> None:
        """The stream ended: forget a held partial code point and CR."""
        self._decoder.reset()
        self._skip_lf = False
