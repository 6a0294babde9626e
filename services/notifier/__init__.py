"""Notifier: pushes each earnings change to the rep it belongs to (gRPC server streaming)."""
