"""The notifier's ``attain`` commands.

    attain watch REP_ID        # live earnings notifications of one rep (gRPC)
    attain watch REP_ID --milestones   # their milestones instead (docs/notifications.md)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from rich.console import Console

from attain import cli_support

console = Console()


def register(commands: Any) -> None:
    """Add ``watch`` to the CLI's subcommands."""
    watch = commands.add_parser("watch", help="stream one rep's earnings updates")
    watch.add_argument("rep_id")
    watch.add_argument("--target", default="127.0.0.1:50051", help="notifier gRPC address")
    watch.add_argument("--token", default=os.environ.get("ATTAIN_TOKEN"),
                       help="bearer token of the person watching (default: $ATTAIN_TOKEN)")
    watch.add_argument("--format", choices=("text", "json"), default="text",
                       help="json: one JSON object per update (JSON lines), amounts as decimal text")
    watch.add_argument("--milestones", action="store_true",
                       help="stream the rep's milestones (recorded ones first) instead of every earnings update")



def dispatch(args: argparse.Namespace) -> int | None:
    """Run the command if it is one of ours; None otherwise."""
    if args.command == "watch" and args.milestones:
        watch_milestones(args.rep_id, args.target, args.token, args.format)
        return cli_support.OK
    if args.command == "watch":
        watch_rep(args.rep_id, args.target, args.token, args.format)
        return cli_support.OK
    return None


def watch_rep(rep_id: str, target: str, token: str | None, output: str = "text") -> None:
    import grpc

    from services.notifier.proto import notifier_pb2, notifier_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = notifier_pb2_grpc.NotifierStub(channel)
        if output == "json":
            print(f"watching {rep_id} at {target} (Ctrl-C to stop)", file=sys.stderr)
        else:
            console.print(f"watching {rep_id} at {target} (Ctrl-C to stop)")
        try:
            metadata = (("authorization", f"Bearer {token}"),) if token else ()
            for update in stub.Subscribe(notifier_pb2.SubscribeRequest(rep_id=rep_id), metadata=metadata):
                if output == "json":
                    print(json.dumps(_update_json(update)), flush=True)
                    continue
                parts = ", ".join(f"{c.component_id}: credited {c.credited_value}, attainment "
                                  f"{c.attainment_ratio}, earned {c.earned_amount}"
                                  for c in update.components)
                console.print(f"{update.period} total {update.total_earned} {update.currency} "
                              f"(v{update.snapshot_version}) {parts}")
        except KeyboardInterrupt:
            pass


def watch_milestones(rep_id: str, target: str, token: str | None, output: str = "text") -> None:
    import grpc

    from services.notifier.proto import notifier_pb2, notifier_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = notifier_pb2_grpc.NotifierStub(channel)
        print(f"watching {rep_id}'s milestones at {target} (Ctrl-C to stop)", file=sys.stderr)
        shown: set[str] = set()  # a milestone may come twice (at least once): show it once per key
        try:
            metadata = (("authorization", f"Bearer {token}"),) if token else ()
            for item in stub.SubscribeMilestones(notifier_pb2.SubscribeRequest(rep_id=rep_id), metadata=metadata):
                if item.key in shown:
                    continue
                shown.add(item.key)
                if output == "json":
                    print(json.dumps({"key": item.key, "kind": item.kind, "rep_id": item.rep_id,
                                      "period": item.period, "sentence": item.sentence, "fields": dict(item.fields),
                                      "recorded_at_ms": item.recorded_at_ms}), flush=True)
                else:
                    console.print(f"{item.period} {item.kind}: {item.sentence}", highlight=False)
        except KeyboardInterrupt:
            pass


def _update_json(message: Any) -> dict[str, Any]:
    """A notifier message as JSON, every field present: amounts stay the decimal text the protobuf carries
    (an empty quota or attainment becomes null), counters and times stay integers."""
    data: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.message_type is not None:
            repeated = getattr(field, "is_repeated", None)  # protobuf >= 6; older ones have only .label
            if repeated is None:
                repeated = field.label == field.LABEL_REPEATED
            data[field.name] = [_update_json(item) for item in value] if repeated else _update_json(value)
        elif field.name in ("quota", "attainment_ratio") and value == "":
            data[field.name] = None
        else:
            data[field.name] = value
    return data
