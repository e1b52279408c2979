"""Genuine macro documents for the attachment tests, built from the specifications rather than copied.

A macro sample from the wild would be malware in the repository; a file that only looks like one proves
nothing. So this writes Compound File Binary files ([MS-CFB] version 3: 512-byte sectors, a FAT, a mini
stream for streams under 4096 bytes, directory entries in red-black sibling trees) and the VBA project
storage Office puts in them ([MS-OVBA]: a `VBA` storage with the compressed `dir` stream, `_VBA_PROJECT`
and one compressed module stream, beside the `PROJECT` and `PROJECTwm` streams). Left out: the
protection fields of PROJECT (CMG, DPB, GC), which are obfuscated state no reader needs, and the
performance cache, which the specification tells writers to omit.
"""

from __future__ import annotations

import struct

Tree = dict[str, "bytes | Tree"]  # a storage: names to streams (bytes) or storages (dicts)

SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
FREE, END_OF_CHAIN, FAT_SECTOR, NO_STREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
STORAGE, STREAM, ROOT = 1, 2, 5
RED, BLACK = 0, 1
CHUNK = 4096


class _Entry:
    def __init__(self, sid: int, name: str, kind: int, data: bytes = b"") -> None:
        if len(name) > 31 or any(c in name for c in "/\\:!"):
            raise ValueError(f"invalid compound file name {name!r}")
        self.sid, self.name, self.kind, self.data = sid, name, kind, data
        self.left = self.right = self.child = NO_STREAM
        self.color = BLACK
        self.start, self.size = END_OF_CHAIN, len(data)

    def pack(self) -> bytes:
        encoded = (self.name + "\0").encode("utf-16-le")
        return struct.pack(
            "<64sHBBIII16sIQQIQ",
            encoded,
            len(encoded) if self.name else 0,  # unused entries are all zeros but for their links
            self.kind,
            self.color,
            self.left,
            self.right,
            self.child,
            b"\0" * 16,
            0,
            0,
            0,
            self.start if self.kind != STORAGE else 0,
            self.size,
        )


def _sort_key(entry: _Entry) -> tuple[int, str]:
    """[MS-CFB] 2.6.4: siblings are ordered by name length first, then by upper-cased name."""
    return len(entry.name), entry.name.upper()


def _sibling_tree(entries: list[_Entry]) -> int:
    """Link siblings as a balanced binary search tree; red on the deepest level keeps black heights equal."""
    depths: dict[int, int] = {}

    def build(low: int, high: int, depth: int) -> int:
        if low >= high:
            return NO_STREAM
        middle = (low + high) // 2
        node = entries[middle]
        depths[middle] = depth
        node.left = build(low, middle, depth + 1)
        node.right = build(middle + 1, high, depth + 1)
        return node.sid

    entries.sort(key=_sort_key)
    root = build(0, len(entries), 0)
    deepest = max(depths.values(), default=0)
    for index, node in enumerate(entries):
        node.color = RED if deepest > 0 and depths[index] == deepest else BLACK
    return root


def _chain(fat: list[int], first: int, count: int) -> None:
    for sector in range(first, first + count):
        fat[sector] = sector + 1 if sector + 1 < first + count else END_OF_CHAIN


def _sectors(size: int, unit: int = SECTOR) -> int:
    return -(-size // unit)


def compound_file(tree: Tree) -> bytes:
    """A version 3 compound file holding `tree`; small streams go to the mini stream as the format requires."""
    root = _Entry(0, "Root Entry", ROOT)
    entries = [root]
    pending: list[tuple[_Entry, Tree]] = [(root, tree)]
    while pending:
        parent, storage = pending.pop(0)
        children = []
        for name, value in storage.items():
            sid = len(entries)
            child = _Entry(sid, name, STREAM, value) if isinstance(value, bytes) else _Entry(sid, name, STORAGE)
            entries.append(child)
            children.append(child)
            if isinstance(value, dict):
                pending.append((child, value))
        parent.child = _sibling_tree(children)

    streams = [e for e in entries if e.kind == STREAM and e.data]
    small = [e for e in streams if len(e.data) < MINI_CUTOFF]
    large = [e for e in streams if len(e.data) >= MINI_CUTOFF]
    mini_stream = bytearray()
    mini_fat: list[int] = []
    for entry in small:
        first, count = len(mini_fat), _sectors(len(entry.data), MINI_SECTOR)
        mini_fat += [0] * count
        _chain(mini_fat, first, count)
        entry.start = first
        mini_stream += entry.data.ljust(count * MINI_SECTOR, b"\0")

    directory_sectors = _sectors(len(entries) * 128)
    mini_fat_sectors = _sectors(len(mini_fat) * 4)
    mini_stream_sectors = _sectors(len(mini_stream))
    content = directory_sectors + mini_fat_sectors + mini_stream_sectors + sum(_sectors(e.size) for e in large)
    fat_sectors = 1
    while fat_sectors * SECTOR // 4 < fat_sectors + content:
        fat_sectors += 1
    if fat_sectors > 109:
        raise ValueError("compound file too large for a header-only DIFAT")

    fat = [FREE] * (fat_sectors * SECTOR // 4)
    fat[:fat_sectors] = [FAT_SECTOR] * fat_sectors
    next_sector = fat_sectors

    def place(count: int) -> int:
        nonlocal next_sector
        first = next_sector
        _chain(fat, first, count)
        next_sector += count
        return first

    first_directory = place(directory_sectors)
    first_mini_fat = place(mini_fat_sectors) if mini_fat_sectors else END_OF_CHAIN
    if mini_stream:
        root.start, root.size = place(mini_stream_sectors), len(mini_stream)
    for entry in large:
        entry.start = place(_sectors(entry.size))

    unused = _Entry(NO_STREAM, "", 0)
    unused.start, unused.color = 0, RED
    directory = b"".join(e.pack() for e in entries)
    directory += unused.pack() * (directory_sectors * SECTOR // 128 - len(entries))
    mini_fat_bytes = struct.pack(f"<{len(mini_fat)}I", *mini_fat).ljust(mini_fat_sectors * SECTOR, b"\xff")
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"\0" * 16,
        0x003E,  # minor version
        0x0003,  # major version 3: 512-byte sectors
        0xFFFE,  # little-endian
        9,  # sector shift: 512
        6,  # mini sector shift: 64
        b"\0" * 6,
        0,  # directory sector count: must be 0 in version 3
        fat_sectors,
        first_directory,
        0,  # transaction signature
        MINI_CUTOFF,
        first_mini_fat,
        mini_fat_sectors,
        END_OF_CHAIN,  # no DIFAT sectors beyond the header's 109 entries
        0,
    )
    header += struct.pack("<109I", *range(fat_sectors), *[FREE] * (109 - fat_sectors))
    body = [
        struct.pack(f"<{len(fat)}I", *fat),
        directory,
        mini_fat_bytes,
        bytes(mini_stream).ljust(mini_stream_sectors * SECTOR, b"\0"),
        *(e.data.ljust(_sectors(e.size) * SECTOR, b"\0") for e in large),
    ]
    return header + b"".join(body)


def _copy_token(block: bytes, current: int) -> tuple[int, int]:
    """The longest earlier match for block[current:] as (offset, length); length 0 when under 3 bytes.

    [MS-OVBA] 2.4.1.3.19: the further into the chunk, the more bits the offset takes from the length.
    A match may run into the bytes it produces, as the decompressor copies one byte at a time.
    """
    bits = max(4, (current - 1).bit_length())
    longest = min((0xFFFF >> bits) + 3, len(block) - current)
    length, offset = 0, 0
    while length < longest:
        found = block.rfind(block[current : current + length + 1], 0, current + length)
        if found < 0:
            break
        length, offset = length + 1, current - found
    return (offset, length) if length >= 3 else (0, 0)


def _compress_chunk(block: bytes) -> bytes:
    tokens = bytearray()
    current = 0
    while current < len(block):
        flags, sequence = 0, bytearray()
        for bit in range(8):
            if current >= len(block):
                break
            offset, length = _copy_token(block, current)
            if length:
                bits = max(4, (current - 1).bit_length())
                sequence += struct.pack("<H", (offset - 1) << (16 - bits) | (length - 3))
                flags |= 1 << bit
                current += length
            else:
                sequence.append(block[current])
                current += 1
        tokens += bytes([flags]) + sequence
    if len(tokens) > CHUNK:  # incompressible: a raw chunk, zero-padded to 4096 bytes as 2.4.1.3.10 says
        return struct.pack("<H", 0x3000 | (CHUNK - 1)) + block.ljust(CHUNK, b"\0")
    return struct.pack("<H", 0xB000 | (len(tokens) + 2 - 3)) + tokens


def compress(data: bytes) -> bytes:
    """An [MS-OVBA] 2.4.1 CompressedContainer, as Office writes the `dir` and module streams."""
    return b"\x01" + b"".join(_compress_chunk(data[i : i + CHUNK]) for i in range(0, len(data), CHUNK))


def _record(record_id: int, data: bytes) -> bytes:
    return struct.pack("<HI", record_id, len(data)) + data


def _dir_stream(project: str, module: str, codepage: int) -> bytes:
    """The decompressed `dir` stream ([MS-OVBA] 2.3.4.2) describing one procedural module."""
    name = project.encode("ascii")
    module_name, module_unicode = module.encode("ascii"), module.encode("utf-16-le")
    information = b"".join(
        [
            _record(0x0001, struct.pack("<I", 1)),  # PROJECTSYSKIND: 32-bit Windows
            _record(0x0002, struct.pack("<I", 0x409)),  # PROJECTLCID
            _record(0x0014, struct.pack("<I", 0x409)),  # PROJECTLCIDINVOKE
            _record(0x0003, struct.pack("<H", codepage)),  # PROJECTCODEPAGE
            _record(0x0004, name),  # PROJECTNAME
            _record(0x0005, b"") + _record(0x0040, b""),  # PROJECTDOCSTRING, then its Unicode form
            _record(0x0006, b"") + _record(0x003D, b""),  # PROJECTHELPFILEPATH, twice
            _record(0x0007, struct.pack("<I", 0)),  # PROJECTHELPCONTEXT
            _record(0x0008, struct.pack("<I", 0)),  # PROJECTLIBFLAGS
            struct.pack("<HIIH", 0x0009, 4, 1, 0),  # PROJECTVERSION: reserved size 4, major, minor
            _record(0x000C, b"") + _record(0x003C, b""),  # PROJECTCONSTANTS, then its Unicode form
        ]
    )
    modules = _record(0x000F, struct.pack("<H", 1)) + _record(0x0013, struct.pack("<H", 0xFFFF))
    modules += b"".join(
        [
            _record(0x0019, module_name),  # MODULENAME
            _record(0x0047, module_unicode),  # MODULENAMEUNICODE
            _record(0x001A, module_name) + _record(0x0032, module_unicode),  # MODULESTREAMNAME
            _record(0x001C, b"") + _record(0x0048, b""),  # MODULEDOCSTRING
            _record(0x0031, struct.pack("<I", 0)),  # MODULEOFFSET: source right at the start of the stream
            _record(0x001E, struct.pack("<I", 0)),  # MODULEHELPCONTEXT
            _record(0x002C, struct.pack("<H", 0xFFFF)),  # MODULECOOKIE
            struct.pack("<HI", 0x0021, 0),  # MODULETYPE: procedural module
            struct.pack("<HI", 0x002B, 0),  # module terminator
        ]
    )
    return information + modules + struct.pack("<HI", 0x0010, 0)  # dir terminator


def vba_storage(source: str, *, module: str = "Module1", project: str = "VBAProject", codepage: int = 1252) -> Tree:
    """The streams and storages of a VBA project holding one module with `source` (lines joined by CRLF)."""
    code = f'Attribute VB_Name = "{module}"\r\n' + "\r\n".join(source.splitlines()) + "\r\n"
    text = (
        'ID="{00000000-0000-0000-0000-000000000000}"\r\n'
        f"Module={module}\r\n"
        f'Name="{project}"\r\n'
        'HelpContextID="0"\r\n'
        'VersionCompatible32="393222000"\r\n'
        "\r\n"
        "[Host Extender Info]\r\n"
        "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000\r\n"
        "\r\n"
        "[Workspace]\r\n"
        f"{module}=0, 0, 0, 0, C\r\n"
    )
    return {
        "VBA": {
            "dir": compress(_dir_stream(project, module, codepage)),
            "_VBA_PROJECT": struct.pack("<HHBH", 0x61CC, 0xFFFF, 0, 0),  # no performance cache, as writers must
            module: compress(code.encode(f"cp{codepage}")),
        },
        "PROJECT": text.encode(f"cp{codepage}"),
        "PROJECTwm": module.encode(f"cp{codepage}") + b"\0" + module.encode("utf-16-le") + b"\0\0" + b"\0\0",
    }
