"""Read the records of an offline ``.wandb`` file with wandb's own protobuf definitions.

The file is a LevelDB-style log (32 KiB blocks of chunked records) after a 7-byte ``:W&B``
header; each record is a ``wandb_internal_pb2.Record``. Test helper, no CRC checks.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from wandb.proto import wandb_internal_pb2

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _chunks(data: bytes) -> Iterator[bytes]:
    if data[:4] != b":W&B":
        raise ValueError("not a .wandb file")
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
            pending = b""
        elif length == 0:
            break


def read_records(path: str) -> list[wandb_internal_pb2.Record]:
    """Every record of an offline run file, in order."""
    with open(path, "rb") as f:
        data = f.read()
    records = []
    for raw in _chunks(data):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        records.append(record)
    return records
