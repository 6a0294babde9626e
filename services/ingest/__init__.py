"""Ingest: the one door into Attain. CRM changes in, validated and normalised, onto ``crm.changes``."""
