"""A full packet's market depth: kept as bytes when parsed, decoded on its first read.

Nothing of that may show: a parsed packet equals, hashes, prints and pickles as one built with
its depth, whether or not its depth was read before, and its prices are exact whatever decimal
context reads them.
"""

from __future__ import annotations

import dataclasses
import decimal
import pickle
import random
from decimal import Decimal

import pytest

from brokers.zerodha.frames import Depth, DepthLevel, KitePacket, Mode, parse_frame
from tests.brokers.zerodha import frame, random_packet, raw, token


def parsed_full(seed: int) -> tuple[KitePacket, KitePacket]:
    """A random full packet as parsed (depth not yet read) and as the reference expects it."""
    packet = random_packet(random.Random(seed), "full")
    [parsed] = parse_frame(frame(packet.encode()))
    return parsed, packet.expected()


def test_the_depth_is_decoded_on_the_first_read_and_the_same_object_kept() -> None:
    parsed, expected = parsed_full(1)

    depth = parsed.depth

    assert depth == expected.depth and type(depth) is Depth
    assert parsed.depth is depth
    assert all(type(level) is DepthLevel for level in (*depth.buy, *depth.sell))


@pytest.mark.parametrize("seed", range(5))
def test_an_unread_depth_counts_in_equality_hash_repr_pickle_and_replace(seed: int) -> None:
    _, expected = parsed_full(seed)

    assert parsed_full(seed)[0] == expected
    assert hash(parsed_full(seed)[0]) == hash(expected)
    read, _ = parsed_full(seed)
    _ = read.depth
    assert repr(parsed_full(seed)[0]) == repr(read) and "DepthLevel(" in repr(read)
    assert pickle.loads(pickle.dumps(parsed_full(seed)[0])) == expected
    assert dataclasses.replace(parsed_full(seed)[0], oi=1).depth == expected.depth


def test_depth_prices_are_exact_whatever_context_reads_them() -> None:
    cds = token(7, 3)  # prices divided by 10^7
    levels = ((1, 4_294_967_295, 2),) * 5 + ((3, 1, 4),) * 5
    body = raw("full", cds, *([0] * 15), depth=levels).encode()
    [packet] = parse_frame(frame(body))

    with decimal.localcontext(decimal.Context(prec=3)) as caller:
        depth = packet.depth
        assert decimal.getcontext() is caller

    assert depth is not None
    assert depth.buy[0] == DepthLevel(1, Decimal("429.4967295"), 2)
    assert depth.sell[4] == DepthLevel(3, Decimal("1E-7"), 4)
    assert not any(caller.flags.values())


def test_an_unread_depth_cannot_be_assigned() -> None:
    parsed, _ = parsed_full(2)

    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.depth = None  # type: ignore[misc]
    assert parsed.depth is not None


def test_a_packet_built_by_hand_keeps_the_depth_it_was_given() -> None:
    level = DepthLevel(10, Decimal("99.5"), 1)
    depth = Depth(buy=(level,), sell=())

    packet = KitePacket(1, 1, True, Mode.FULL, Decimal(100), depth=depth)

    assert packet.depth is depth
    assert KitePacket(1, 1, True, Mode.LTP, Decimal(100)).depth is None
