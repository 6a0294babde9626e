from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubscribeRequest(_message.Message):
    __slots__ = ("rep_id",)
    REP_ID_FIELD_NUMBER: _ClassVar[int]
    rep_id: str
    def __init__(self, rep_id: _Optional[str] = ...) -> None: ...

class ComponentProgress(_message.Message):
    __slots__ = ("component_id", "credited_value", "quota", "attainment_ratio", "earned_amount")
    COMPONENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREDITED_VALUE_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    ATTAINMENT_RATIO_FIELD_NUMBER: _ClassVar[int]
    EARNED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    component_id: str
    credited_value: str
    quota: str
    attainment_ratio: str
    earned_amount: str
    def __init__(self, component_id: _Optional[str] = ..., credited_value: _Optional[str] = ..., quota: _Optional[str] = ..., attainment_ratio: _Optional[str] = ..., earned_amount: _Optional[str] = ...) -> None: ...

class EarningsUpdate(_message.Message):
    __slots__ = ("rep_id", "period", "plan_id", "currency", "snapshot_version", "total_earned", "components", "computed_at_ms", "trigger_ingested_at_ms")
    REP_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EARNED_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_INGESTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    rep_id: str
    period: str
    plan_id: str
    currency: str
    snapshot_version: int
    total_earned: str
    components: _containers.RepeatedCompositeFieldContainer[ComponentProgress]
    computed_at_ms: int
    trigger_ingested_at_ms: int
    def __init__(self, rep_id: _Optional[str] = ..., period: _Optional[str] = ..., plan_id: _Optional[str] = ..., currency: _Optional[str] = ..., snapshot_version: _Optional[int] = ..., total_earned: _Optional[str] = ..., components: _Optional[_Iterable[_Union[ComponentProgress, _Mapping]]] = ..., computed_at_ms: _Optional[int] = ..., trigger_ingested_at_ms: _Optional[int] = ...) -> None: ...

class MilestoneNotification(_message.Message):
    __slots__ = ("key", "kind", "rep_id", "period", "sentence", "fields", "recorded_at_ms")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REP_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    key: str
    kind: str
    rep_id: str
    period: str
    sentence: str
    fields: _containers.ScalarMap[str, str]
    recorded_at_ms: int
    def __init__(self, key: _Optional[str] = ..., kind: _Optional[str] = ..., rep_id: _Optional[str] = ..., period: _Optional[str] = ..., sentence: _Optional[str] = ..., fields: _Optional[_Mapping[str, str]] = ..., recorded_at_ms: _Optional[int] = ...) -> None: ...
