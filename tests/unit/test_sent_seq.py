"""A socket is handed each seq of a conversation once, whatever order a catch-up and live
frames bring them in."""

from __future__ import annotations

from typing import Any

from chatserver.live.connection import MAX_SENT_AHEAD, Connection


def bare_connection() -> Connection:
    conn = Connection.__new__(Connection)
    conn.sent_seq = {}
    conn.sent_ahead = {}
    return conn


def sends(conn: Connection, seqs: list[int], conv: str = "c1") -> list[Any]:
    return [seq for seq in seqs if conn.first_send(conv, seq)]


def test_in_order_frames_each_go_out_once() -> None:
    conn = bare_connection()
    conn.sent_seq["c1"] = 4  # the client knew up to 4 when it joined
    assert sends(conn, [5, 6, 6, 5, 7]) == [5, 6, 7]
    assert conn.sent_seq["c1"] == 7
    assert "c1" not in conn.sent_ahead


def test_a_live_frame_overtaking_a_catch_up_is_not_sent_again_and_the_gap_still_fills() -> None:
    conn = bare_connection()
    conn.sent_seq["c1"] = 7
    # Redis was down: 8 and 9 never came; 10 comes live, then the catch-up brings 8, 9, 10.
    assert sends(conn, [10]) == [10]
    assert sends(conn, [8, 9, 10]) == [8, 9]
    assert conn.sent_seq["c1"] == 10
    assert "c1" not in conn.sent_ahead
    # And a late live copy of something the catch-up brought goes nowhere.
    assert sends(conn, [9, 11]) == [11]


def test_a_gap_nothing_fills_is_given_up_instead_of_growing_without_bound() -> None:
    conn = bare_connection()
    conn.sent_seq["c1"] = 0
    sends(conn, list(range(2, MAX_SENT_AHEAD + 3)))
    assert "c1" not in conn.sent_ahead
    assert conn.sent_seq["c1"] == MAX_SENT_AHEAD + 2


def test_a_conversation_first_seen_live_starts_from_that_seq() -> None:
    conn = bare_connection()
    assert sends(conn, [3, 3, 4], conv="c2") == [3, 4]
    conn.forget_sent("c2")
    assert sends(conn, [3], conv="c2") == [3]
