"""Shared plumbing for the services: settings, Kafka clients, Avro serde, metrics, logs, HTTP."""
