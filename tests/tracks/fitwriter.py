"""A minimal FIT encoder for tests: a header, one ``record`` definition, data records and
the CRC, enough for fitdecode to read what a watch writes."""

from __future__ import annotations

import struct

FIT_EPOCH = 631065600  # 1989-12-31T00:00:00Z in Unix seconds

_CRC_TABLE = (0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
              0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400)


def crc16(data: bytes, crc: int = 0) -> int:
    for byte in data:
        tmp = _CRC_TABLE[crc & 0xF]
        crc = (crc >> 4) & 0x0FFF
        crc = crc ^ tmp ^ _CRC_TABLE[byte & 0xF]
        tmp = _CRC_TABLE[crc & 0xF]
        crc = (crc >> 4) & 0x0FFF
        crc = crc ^ tmp ^ _CRC_TABLE[(byte >> 4) & 0xF]
    return crc


def fit_file(points: list[tuple[float, float | None, float | None, float | None]]) -> bytes:
    """``points``: (unix_ts, lat, lon, altitude); None lat/lon writes the invalid value."""
    # Definition of local message 0 = global 20 (record), little endian:
    # timestamp uint32, position_lat sint32, position_long sint32, altitude uint16.
    fields = [(253, 4, 0x86), (0, 4, 0x85), (1, 4, 0x85), (2, 2, 0x84)]
    body = bytes([0x40, 0, 0]) + struct.pack("<HB", 20, len(fields))
    for num, size, base in fields:
        body += bytes([num, size, base])
    for ts, lat, lon, alt in points:
        la = 0x7FFFFFFF if lat is None else round(lat / 180.0 * 2**31)
        lo = 0x7FFFFFFF if lon is None else round(lon / 180.0 * 2**31)
        al = 0xFFFF if alt is None else round((alt + 500) * 5)
        body += bytes([0]) + struct.pack("<IiiH", int(ts) - FIT_EPOCH, la, lo, al)
    header = struct.pack("<BBHI4s", 14, 0x10, 2093, len(body), b".FIT")
    header += struct.pack("<H", crc16(header))
    data = header + body
    return data + struct.pack("<H", crc16(data))
