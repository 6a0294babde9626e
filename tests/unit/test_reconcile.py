"""Ledger deltas: posting the deltas of any sequence of snapshots leaves the last snapshot."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from attain.core.reconcile import deltas

amounts = st.decimals(-10_000, 10_000, places=2)
snapshot = st.dictionaries(st.sampled_from(["commission", "spiff", "bonus"]), amounts, max_size=3)


@given(st.lists(snapshot, min_size=1, max_size=10))
def test_posted_sum_equals_the_latest_snapshot_after_any_sequence(snapshots):
    posted: dict[str, Decimal] = {}
    for current in snapshots:
        for component, delta in deltas(current, posted).items():
            posted[component] = posted.get(component, Decimal(0)) + delta
    latest = snapshots[-1]
    for component in set(posted) | set(latest):
        assert posted.get(component, Decimal(0)) == latest.get(component, Decimal(0))


@given(snapshot)
def test_applying_the_same_snapshot_again_posts_nothing(current):
    assert deltas(current, current) == {}
