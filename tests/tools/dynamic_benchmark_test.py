"""tools/dynamic_benchmark.py --stream_ids: the mapping alone over a stream of fresh ids."""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))

import dynamic_benchmark  # noqa: E402


def _args(**extra):
    value = dict(table_rows=100, admit_after=1, eviction="LFU", decay_every=0, batch_size=64,
                 fresh_fraction=0.5, zipf=1.15, id_space=10 ** 9, stream_ids=3200)
    value.update(extra)
    return argparse.Namespace(**value)


def test_stream_fills_the_table_evicts_and_keeps_one_row_per_id():
    report = dynamic_benchmark.stream(_args())
    assert report["steps"] == 100 and report["ids_pushed"] == 6400
    assert report["distinct_ids_at_least"] == 3200
    assert report["one_row_per_id"] and report["occupancy"] == 1.0
    # Every fresh id is admitted at once (admit_after 1): at least 3,200 admissions, and all
    # but the 99 rows in use were evicted again.
    assert report["admitted"] >= 3200 and report["admitted"] - report["evicted"] == 99
    assert len(report["rss_gib"]) == 10


def test_count_decay_keeps_a_small_sketch_from_admitting_every_fresh_id():
    """Fresh ids are seen once, but a sketch of 2 x 396 counters fed 3,200 fresh and 3,200 Zipf
    ids saturates: without decay admit_after 2 admits nearly as many ids as admit_after 1;
    halving the counts every step keeps admission to the ids seen twice (and a few
    overcounted ones)."""
    once = dynamic_benchmark.stream(_args(admit_after=1))
    plain = dynamic_benchmark.stream(_args(admit_after=2))
    decayed = dynamic_benchmark.stream(_args(admit_after=2, decay_every=1))
    assert plain["one_row_per_id"] and decayed["one_row_per_id"]
    assert plain["admitted"] > 0.8 * once["admitted"]
    assert decayed["admitted"] < plain["admitted"] / 10
