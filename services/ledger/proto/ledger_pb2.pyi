from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListEntriesRequest(_message.Message):
    __slots__ = ("rep_id", "period")
    REP_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    rep_id: str
    period: str
    def __init__(self, rep_id: _Optional[str] = ..., period: _Optional[str] = ...) -> None: ...

class Entry(_message.Message):
    __slots__ = ("entry_id", "rep_id", "period", "corrects_period", "plan_id", "plan_version", "component_id", "kind", "amount", "currency", "snapshot_version", "explanation", "source_event_ids")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    REP_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    CORRECTS_PERIOD_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    entry_id: int
    rep_id: str
    period: str
    corrects_period: str
    plan_id: str
    plan_version: int
    component_id: str
    kind: str
    amount: str
    currency: str
    snapshot_version: int
    explanation: str
    source_event_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, entry_id: _Optional[int] = ..., rep_id: _Optional[str] = ..., period: _Optional[str] = ..., corrects_period: _Optional[str] = ..., plan_id: _Optional[str] = ..., plan_version: _Optional[int] = ..., component_id: _Optional[str] = ..., kind: _Optional[str] = ..., amount: _Optional[str] = ..., currency: _Optional[str] = ..., snapshot_version: _Optional[int] = ..., explanation: _Optional[str] = ..., source_event_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class EntryList(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    def __init__(self, entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ...) -> None: ...

class StatementRequest(_message.Message):
    __slots__ = ("rep_id", "period")
    REP_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    rep_id: str
    period: str
    def __init__(self, rep_id: _Optional[str] = ..., period: _Optional[str] = ...) -> None: ...

class StatementLine(_message.Message):
    __slots__ = ("entry_id", "kind", "component_id", "amount", "corrects_period", "explanation")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CORRECTS_PERIOD_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    entry_id: int
    kind: str
    component_id: str
    amount: str
    corrects_period: str
    explanation: str
    def __init__(self, entry_id: _Optional[int] = ..., kind: _Optional[str] = ..., component_id: _Optional[str] = ..., amount: _Optional[str] = ..., corrects_period: _Optional[str] = ..., explanation: _Optional[str] = ...) -> None: ...

class ComponentTotal(_message.Message):
    __slots__ = ("component_id", "total", "entries")
    COMPONENT_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    component_id: str
    total: str
    entries: _containers.RepeatedCompositeFieldContainer[StatementLine]
    def __init__(self, component_id: _Optional[str] = ..., total: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[StatementLine, _Mapping]]] = ...) -> None: ...

class CurrencySection(_message.Message):
    __slots__ = ("currency", "opening_balance", "components", "earned_total", "adjustments", "draws", "total_payable", "payments", "closing_balance", "draw_paid", "draw_recovered", "draw_balance")
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    OPENING_BALANCE_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    EARNED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENTS_FIELD_NUMBER: _ClassVar[int]
    DRAWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PAYABLE_FIELD_NUMBER: _ClassVar[int]
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    CLOSING_BALANCE_FIELD_NUMBER: _ClassVar[int]
    DRAW_PAID_FIELD_NUMBER: _ClassVar[int]
    DRAW_RECOVERED_FIELD_NUMBER: _ClassVar[int]
    DRAW_BALANCE_FIELD_NUMBER: _ClassVar[int]
    currency: str
    opening_balance: str
    components: _containers.RepeatedCompositeFieldContainer[ComponentTotal]
    earned_total: str
    adjustments: _containers.RepeatedCompositeFieldContainer[StatementLine]
    draws: _containers.RepeatedCompositeFieldContainer[StatementLine]
    total_payable: str
    payments: _containers.RepeatedCompositeFieldContainer[StatementLine]
    closing_balance: str
    draw_paid: str
    draw_recovered: str
    draw_balance: str
    def __init__(self, currency: _Optional[str] = ..., opening_balance: _Optional[str] = ..., components: _Optional[_Iterable[_Union[ComponentTotal, _Mapping]]] = ..., earned_total: _Optional[str] = ..., adjustments: _Optional[_Iterable[_Union[StatementLine, _Mapping]]] = ..., draws: _Optional[_Iterable[_Union[StatementLine, _Mapping]]] = ..., total_payable: _Optional[str] = ..., payments: _Optional[_Iterable[_Union[StatementLine, _Mapping]]] = ..., closing_balance: _Optional[str] = ..., draw_paid: _Optional[str] = ..., draw_recovered: _Optional[str] = ..., draw_balance: _Optional[str] = ...) -> None: ...

class Statement(_message.Message):
    __slots__ = ("rep_id", "period", "currencies")
    REP_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    CURRENCIES_FIELD_NUMBER: _ClassVar[int]
    rep_id: str
    period: str
    currencies: _containers.RepeatedCompositeFieldContainer[CurrencySection]
    def __init__(self, rep_id: _Optional[str] = ..., period: _Optional[str] = ..., currencies: _Optional[_Iterable[_Union[CurrencySection, _Mapping]]] = ...) -> None: ...

class ListPeriodsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PeriodStatus(_message.Message):
    __slots__ = ("scope", "period", "state", "next_step", "approval_round")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NEXT_STEP_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_ROUND_FIELD_NUMBER: _ClassVar[int]
    scope: str
    period: str
    state: str
    next_step: str
    approval_round: int
    def __init__(self, scope: _Optional[str] = ..., period: _Optional[str] = ..., state: _Optional[str] = ..., next_step: _Optional[str] = ..., approval_round: _Optional[int] = ...) -> None: ...

class PeriodList(_message.Message):
    __slots__ = ("periods",)
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    periods: _containers.RepeatedCompositeFieldContainer[PeriodStatus]
    def __init__(self, periods: _Optional[_Iterable[_Union[PeriodStatus, _Mapping]]] = ...) -> None: ...

class DecideRequest(_message.Message):
    __slots__ = ("scope", "period", "approve", "comment")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    scope: str
    period: str
    approve: bool
    comment: str
    def __init__(self, scope: _Optional[str] = ..., period: _Optional[str] = ..., approve: _Optional[bool] = ..., comment: _Optional[str] = ...) -> None: ...

class RaiseDisputeRequest(_message.Message):
    __slots__ = ("entry_id", "comment")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    entry_id: int
    comment: str
    def __init__(self, entry_id: _Optional[int] = ..., comment: _Optional[str] = ...) -> None: ...

class DisputeCreated(_message.Message):
    __slots__ = ("dispute_id",)
    DISPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    dispute_id: int
    def __init__(self, dispute_id: _Optional[int] = ...) -> None: ...
