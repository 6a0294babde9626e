"""Record state is a last-writer-wins merge: order and duplicates never matter."""

from hypothesis import given
from hypothesis import strategies as st

from attain.core.records import (
    ChangeVersion,
    CrmChange,
    apply_change,
    state_from_json,
    state_to_json,
)


def change(event_id, ts, change_type="UPDATE", **fields):
    return CrmChange(event_id, "006A", "Opportunity", change_type, ChangeVersion(ts, 0, 0, event_id),
                     {k: v for k, v in fields.items()})


def fold(changes):
    state = None
    for item in changes:
        state = apply_change(state, item)
    return state


def test_newest_value_of_each_field_wins_whatever_the_arrival_order():
    first = change("e1", 1, "CREATE", amount="100", stage='"prospecting"')
    second = change("e2", 2, stage='"closed_won"')
    third = change("e3", 3, amount="250")
    for order in ([first, second, third], [third, second, first], [second, third, first]):
        state = fold(order)
        assert state.value("amount") == 250
        assert state.value("stage") == "closed_won"


def test_delete_then_undelete_follows_the_newest_of_the_two():
    created = change("e1", 1, "CREATE", amount="5")
    deleted = change("e2", 2, "DELETE")
    undeleted = change("e3", 3, "UNDELETE")
    assert fold([created, deleted]).is_deleted
    assert not fold([undeleted, created, deleted]).is_deleted


def test_state_round_trips_through_json():
    state = fold([change("e1", 1, "CREATE", amount="5", won="true"), change("e2", 2, "DELETE")])
    assert state_from_json(state_to_json(state)) == state


field_names = st.sampled_from(["amount", "stage", "owner_id", "is_won"])
changes_strategy = st.lists(
    st.builds(
        lambda i, ts, kind, fields: CrmChange(
            f"e{i}", "006A", "Opportunity", kind, ChangeVersion(ts, 0, 0, f"e{i}"), fields
        ),
        st.integers(0, 10_000),
        st.integers(0, 50),
        st.sampled_from(["CREATE", "UPDATE", "DELETE", "UNDELETE"]),
        st.dictionaries(field_names, st.integers(0, 999).map(str), max_size=3),
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda c: c.event_id,
)


@given(changes_strategy, st.randoms(use_true_random=False))
def test_any_order_and_any_duplication_give_the_same_state(changes, rnd):
    shuffled = changes + rnd.sample(changes, k=len(changes) // 2)
    rnd.shuffle(shuffled)
    assert fold(shuffled) == fold(changes)
