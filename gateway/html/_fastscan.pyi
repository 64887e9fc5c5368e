# Types of the C extension `_fastscan.c` (the native twins of two scanner regexes).

def skip(buf: bytes, pos: int, endpos: int, pass_start: bool, pass_end: bool, /) -> int: ...

class Stops:
    def __init__(
        self,
        start: tuple[bytes, ...] | None,
        end: tuple[bytes, ...] | None,
        relative: tuple[bytes, ...],
        url_attrs: tuple[bytes, ...],
        list_url_attrs: tuple[bytes, ...],
        attrs: tuple[bytes, ...],
        /,
    ) -> None: ...
    def find(self, lowered: bytes, pos: int, /) -> int: ...
