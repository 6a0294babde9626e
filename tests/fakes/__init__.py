"""Fakes of external systems (Salesforce Pub/Sub API, its OAuth endpoint) built from the real contracts."""
