"""The group commit's ``:named`` statements (billing due, mail continuity) in asyncpg's
``$n`` style: one number per name, casts left alone."""

from __future__ import annotations

from chatserver.backends.pg_direct import positional


def test_each_name_gets_one_number_in_order_of_first_use() -> None:
    sql, names = positional("SELECT :a, :b WHERE x = :a AND y = :c")
    assert sql == "SELECT $1, $2 WHERE x = $1 AND y = $3"
    assert names == ("a", "b", "c")


def test_casts_and_colons_inside_words_are_not_parameters() -> None:
    sql, names = positional("SELECT :when::bigint, 'a:b', x::text FROM t WHERE id = :id")
    assert sql == "SELECT $1::bigint, 'a:b', x::text FROM t WHERE id = $2"
    assert names == ("when", "id")
