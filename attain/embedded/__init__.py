"""Start and stop real local infrastructure (Kafka-compatible brokers, PostgreSQL) for the demo and tests.

Nothing here is a fake: each class launches the genuine server process so that
code exercised against it behaves as it would against deployed infrastructure.
"""
