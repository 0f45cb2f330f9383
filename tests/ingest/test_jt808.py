"""JT/T 808 codec against frames published by public implementations: the decoder tests of Traccar
(`HuabaoProtocolDecoderTest`, JT/T 808 is "Huabao" there), of the emqx JT/T 808 gateway
(`emqx_jt808_parser_SUITE`) and the 2019-header samples of xtream-codec. Only the hex frames are taken."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from ingest import jt808 as j


def h(s: str) -> bytes:
    return bytes.fromhex(s)


def decode(frame: bytes) -> j.Message:
    frames = j.FrameSplitter().feed(frame)
    assert len(frames) == 1
    return j.decode_frame(frames[0])


def utc(*a: int) -> int:
    return int(datetime(*a, tzinfo=UTC).timestamp())


# traccar HuabaoProtocolDecoderTest
TRACCAR_REGISTER = h(
    "7E0100002D013511221122000500000000373031303748422D52303347424400000000000000000000003233363631"
    "303402CBD5424136383630387E"
)
TRACCAR_AUTH = h("7E0102000E013511221122000661757468656E7469636174696F6E3F7E")
TRACCAR_HEARTBEAT = h("7e0002000004304832546500b7ca7e")
TRACCAR_MILEAGE = h(
    "7E0200002A013833501744001900000000000000C201597FA806CC01580080000000081508180721210104000002F5"
    "02020000030200009F7E"
)
TRACCAR_SOUTH = h(
    "7e0200002e202000129707001c0000000000001c0601a2f0a8091f0bf00000000000ed201103031733000000000000"
    "000000780000000018000000267e"
)
TRACCAR_ACC = h(
    "7e0200002c00160128561400030000000000040007005de13c065c6cdb00160000000017011710054201040000a900"
    "2a02000030011b310104e47e"
)
TRACCAR_BATCH = h(
    "7E0704014301356777777707F5000801002600000000000000030159741206CBFD5001720000000116052709062401"
    "040000001D03020000002600000000000000030159746606CBFD50016B0000000116052709065301040000001D0302"
    "000000260000000000000003015975E406CBFE58013F0000000116052709072701040000001D030200000026000000"
    "0000000003015976DE06CBFF10012E0000000116052709075601040000001D0302000000260000000000000003015976"
    "BC06CBFED0012D0000000116052709083001040000001D0302000000260000000000000003015976FE06CBFEC00108"
    "0000000116052709090001040000001D0302000000260000000000000003015976FE06CBFE7800FC00000001160527"
    "09093301040000001D0302000000260000000000000003015977A606CBFF3001080000000116052709100201040000"
    "001D030200001F7E"
)
# Traccar's own test data carries this frame with a checksum that does not match (its decoder does not
# check): a real-world bad checksum.
TRACCAR_BAD_CHECKSUM = h(
    "7E02000032013511221122000700000000000C000301578CC006CA3A5C00470000000014072317201501040000000030"
    "011631010BD07E"
)

# emqx_jt808_parser_SUITE (given there as decimal bytes, here in hex)
EMQX_LOCATION = h(
    "7e0200003c01887663897200e5000000000004000001317a6706936851000e00000027171019193538010400003fb203"
    "0200002504000000002a0200002b040000000030011f310100ab7e"
)
EMQX_BATCH = h(
    "7e0704013901887663897200e7000501003c00000000000400030131732b0691d351001f00a600ab1708311049330104"
    "00003c55030200002504000000002a0200002b040000000030010031010c003c00000000000400030131724a0691d402"
    "001d00de007d02170831104938010400003c55030200002504000000002a0200002b040000000030010031010c003c00"
    "0000000004000301316dde0691e150002501a9006d170831105011010400003c59030200002504000000002a0200002b"
    "040000000030010031010c003c000000000004000301315aeb06920018002b02880072170831105111010400003c6303"
    "0200002504000000002a0200002b040000000030010031010c003c000000000004000301315b7806922b15002b02f700"
    "53170831105214010400003c6f030200002504000000002a0200002b040000000030010031010c847e"
)

# xtream-codec (2019 headers: version byte, 10-byte BCD terminal)
XTREAM_2019_LOCATION = h(
    "7e02004026010000000001391234432900000000006f0000001601dc9a0707456246007b004200032501292233440202"
    "006401040000000c417e"
)
XTREAM_2019_BATCH = h(
    "7e0704403f01000000000139123443290000000200001c000000010000000101d907f2073d336c029a00210059241029"
    "213903001c000000010000000101d907f3073d336d03090043005a241029213903f87e"
)
XTREAM_2019_REGISTER_ACK = h("7e8100400d01000000000139123443290000006f006f6b2e2e6f6b2e2e6f6bd27e")
XTREAM_2019_ACK = h("7e8001400501000000000139123443290000006f020000dc7e")


def test_registration_2013() -> None:
    msg = decode(TRACCAR_REGISTER)
    assert msg.header == j.Header(j.REGISTER, "013511221122", 5)
    reg = j.decode_registration(msg.body, msg.header.version)
    assert (reg.maker, reg.model, reg.terminal_model_id, reg.plate_color) == (
        "70107",
        "HB-R03GBD",
        "2366104",
        2,
    )
    assert reg.plate == "苏BA6860"  # GBK


def test_authentication_2013() -> None:
    msg = decode(TRACCAR_AUTH)
    assert msg.header.msg_id == j.AUTHENTICATE and msg.header.terminal == "013511221122"
    assert j.decode_auth_code(msg.body, None) == "authentication"


def test_heartbeat() -> None:
    msg = decode(TRACCAR_HEARTBEAT)
    assert msg.header == j.Header(j.HEARTBEAT, "043048325465", 0xB7)
    assert msg.body == b""


def test_location_mileage_and_china_time() -> None:
    msg = decode(TRACCAR_MILEAGE)
    loc = j.decode_location(msg.body)
    assert msg.header.terminal == "013833501744"
    assert (loc.lat, loc.lon) == (22.6426, 114.032984)
    assert loc.valid and not loc.acc  # status 0xC2: bit 1 set, bit 0 clear
    assert loc.odometer_m == 75_700  # TLV 0x01 = 0x2F5 tenths of a km
    assert loc.fix_ts == utc(2015, 8, 17, 23, 21, 21)  # 150818 072121 GMT+8
    assert (loc.speed_kmh, loc.course, loc.altitude_m) == (0.0, 8, 128)


def test_location_acc_on() -> None:
    loc = j.decode_location(decode(TRACCAR_ACC).body)
    assert loc.acc and loc.valid  # status 0x00040007: ACC, fixed, south
    assert (loc.lat, loc.lon, loc.altitude_m) == (-6.152508, 106.720475, 22)
    assert loc.odometer_m == 0xA900 * 100


def test_location_south() -> None:
    loc = j.decode_location(decode(TRACCAR_SOUTH).body)
    assert loc.lat == -27.455656 and loc.lon == 153.029616  # status bit 2: south
    assert loc.fix_ts == utc(2020, 11, 2, 19, 17, 33)


def test_emqx_location() -> None:
    msg = decode(EMQX_LOCATION)
    assert (msg.header.terminal, msg.header.serial) == ("018876638972", 229)
    loc = j.decode_location(msg.body)
    assert (loc.lat, loc.lon) == (20.019815, 110.323793)
    assert (loc.altitude_m, loc.course, loc.speed_kmh) == (14, 39, 0.0)
    assert loc.status == 262144 and not loc.valid
    assert loc.odometer_m == 16306 * 100
    assert loc.fix_ts == utc(2017, 10, 19, 11, 35, 38)


def test_emqx_batch_with_an_escaped_7e() -> None:
    msg = decode(EMQX_BATCH)  # the second item's direction is 0x7E, sent as 7D 02
    kind, items = j.decode_location_batch(msg.body)
    assert kind == 1 and len(items) == 5
    assert [i.course for i in items] == [171, 126, 109, 114, 83]
    assert [i.speed_kmh for i in items] == [16.6, 22.2, 42.5, 64.8, 75.9]
    assert items[0].lat == 20.017963 and items[0].lon == 110.220113
    assert items[-1].fix_ts == utc(2017, 8, 31, 2, 52, 14)


def test_traccar_blind_area_batch() -> None:
    msg = decode(TRACCAR_BATCH)
    kind, items = j.decode_location_batch(msg.body)
    assert (msg.header.terminal, kind, len(items)) == ("013567777777", 1, 8)
    assert all(i.valid and i.acc for i in items)
    assert [i.fix_ts for i in items] == sorted(i.fix_ts for i in items)
    assert items[0].odometer_m == 2_900


def test_2019_location() -> None:
    msg = decode(XTREAM_2019_LOCATION)
    assert msg.header.version == 1 and msg.header.terminal == "00000000013912344329"
    loc = j.decode_location(msg.body)
    assert loc.alarm == 111 and loc.status == 22
    assert loc.lat == -31.234567 and loc.lon == 121.987654  # status 22 has bit 2 (south)
    assert (loc.altitude_m, loc.speed_kmh, loc.course) == (123, 6.6, 3)
    assert loc.fix_ts == utc(2025, 1, 29, 14, 33, 44)
    assert loc.odometer_m == 1_200 and loc.extras == {2: b"\x00\x64"}


def test_2019_batch() -> None:
    msg = decode(XTREAM_2019_BATCH)
    kind, items = j.decode_location_batch(msg.body)
    assert msg.header.version == 1 and kind == 0 and len(items) == 2
    assert (items[1].lat, items[1].lon, items[1].altitude_m) == (31.000563, 121.451373, 777)


def test_replies_match_published_2019_frames() -> None:
    header = j.Header(j.REGISTER, "00000000013912344329", 0x6F, version=1)
    assert j.register_ack(header, 0, j.REG_OK, "ok..ok..ok") == XTREAM_2019_REGISTER_ACK
    loc_header = j.Header(j.LOCATION, "00000000013912344329", 0x6F, version=1)
    assert j.platform_ack(loc_header, 0, j.ACK_OK) == XTREAM_2019_ACK


def test_escape_roundtrip_and_traccar_frame_decoder_sample() -> None:
    # HuabaoFrameDecoderTest: 7e 30 7d02 08 7d01 55 7e → 30 7e 08 7d 55
    assert j.unescape(h("307d02087d0155")) == h("307e087d55")
    assert j.escape(h("307e087d55")) == h("307d02087d0155")
    data = bytes(range(256)) * 3
    assert j.unescape(j.escape(data)) == data


def test_encoder_roundtrip_2013_and_2019() -> None:
    loc = j.Location(
        0, j.STATUS_ACC | j.STATUS_FIXED, 37.87, -112.55, 800, 63.5, 359, utc(2024, 6, 1, 0, 0, 5)
    )
    loc.odometer_m = 123_400
    for version in (None, 1):
        frame = j.encode_frame(j.LOCATION, "13900001234", 7, j.encode_location(loc), version=version)
        msg = decode(frame)
        assert msg.header.terminal.lstrip("0") == "13900001234" and msg.header.version == version
        back = j.decode_location(msg.body)
        assert (back.lat, back.lon, back.speed_kmh, back.course, back.fix_ts, back.odometer_m) == (
            37.87,
            -112.55,
            63.5,
            359,
            loc.fix_ts,
            123_400,
        )
        assert back.acc and back.valid


@pytest.mark.parametrize(
    ("segment", "reason"),
    [
        (TRACCAR_BAD_CHECKSUM[1:-1], "checksum"),
        (h("0200"), "short"),
        (h("7d0301020304050607080910111213"), "escape"),
    ],
)
def test_bad_frames(segment: bytes, reason: str) -> None:
    with pytest.raises(j.FrameError) as err:
        j.decode_frame(segment)
    assert err.value.reason == reason


def test_length_mismatch() -> None:
    data = bytearray(j.unescape(TRACCAR_MILEAGE[1:-1]))
    data[3] += 1  # the header claims one more body byte
    data[-1] = j.checksum(bytes(data[:-1]))
    with pytest.raises(j.FrameError) as err:
        j.decode_frame(bytes(data))
    assert err.value.reason == "length"


def test_splitter_garbage_halves_and_back_to_back_frames() -> None:
    sp = j.FrameSplitter()
    stream = b"\x00\x01garbage" + TRACCAR_HEARTBEAT + TRACCAR_MILEAGE + b"noise" + TRACCAR_AUTH
    out: list[bytes] = []
    for i in range(0, len(stream), 7):  # arrives in small pieces
        out += sp.feed(stream[i : i + 7])
    messages = []
    for seg in out:
        try:
            messages.append(j.decode_frame(seg).header.msg_id)
        except j.FrameError:
            messages.append(-1)
    # "noise" sits between two markers, so it is a candidate frame that fails to decode
    assert messages == [j.HEARTBEAT, j.LOCATION, -1, j.AUTHENTICATE]
    assert sp.pending == 0


def test_splitter_memory_is_bounded() -> None:
    sp = j.FrameSplitter(max_frame=4096)
    chunk = b"\x01" * 65536
    for _ in range(160):  # 10 MiB without a marker
        assert sp.feed(chunk) == []
        assert sp.pending == 0
    assert sp.garbage == 160 * 65536
    # a start marker and then no end: cut at max_frame, then in sync again at the next marker
    sp.feed(b"\x7e" + b"\x02" * 10_000)
    assert sp.pending == 0 and sp.overflows == 1
    assert [j.decode_frame(f).header.msg_id for f in sp.feed(TRACCAR_HEARTBEAT)] == [j.HEARTBEAT]


def test_splitter_random_bytes_never_raise() -> None:
    rng = random.Random(808)
    sp = j.FrameSplitter()
    for _ in range(300):
        for seg in sp.feed(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 400)))):
            try:
                msg = j.decode_frame(seg)
                if msg.header.msg_id == j.LOCATION:
                    j.decode_location(msg.body)
            except j.FrameError:
                pass
        assert sp.pending <= sp.max_frame


def test_bcd_time_rejects_nonsense() -> None:
    body = bytearray(decode(TRACCAR_MILEAGE).body)
    for bad in ("991399250000", "240230120000", "2406011260ab"):  # month 13, 30 February, not BCD
        body[22:28] = h(bad)
        with pytest.raises(j.FrameError):
            j.decode_location(bytes(body))


def test_a_broken_frame_under_a_readable_header_keeps_the_header_to_answer() -> None:
    """A wrong checksum or body length: refused, but with what the 0x8001 'message error' needs."""
    frame = j.encode_frame(j.HEARTBEAT, "13912345678", 7)
    data = bytearray(j.unescape(frame[1:-1]))
    data[-1] ^= 0x01  # the checksum
    with pytest.raises(j.FrameError) as bad:
        j.decode_frame(j.escape(bytes(data)))
    assert bad.value.reason == "checksum" and bad.value.header is not None
    assert (bad.value.header.serial, bad.value.header.msg_id) == (7, j.HEARTBEAT)
    long = bytearray(j.unescape(j.encode_frame(j.HEARTBEAT, "13912345678", 8, b"\x01\x02")[1:-1]))
    long[3] = 5  # the header claims 5 body bytes, there are 2
    long[-1] = j.checksum(bytes(long[:-1]))
    with pytest.raises(j.FrameError) as short:
        j.decode_frame(j.escape(bytes(long)))
    assert short.value.reason == "length" and short.value.header is not None
    ack = j.decode_frame(j.platform_ack(short.value.header, 1, j.ACK_BAD_MESSAGE)[1:-1])
    assert ack.header.msg_id == j.PLATFORM_ACK and ack.body[4] == j.ACK_BAD_MESSAGE
