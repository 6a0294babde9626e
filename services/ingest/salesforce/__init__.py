"""Salesforce Change Data Capture over the Pub/Sub API (gRPC ``eventbus.v1.PubSub``) into ``crm.changes``.

Pure pieces: :mod:`bitmaps` (changedFields/nulledFields/diffFields), :mod:`mapping`
(Salesforce fields -> Attain fields, from configuration), :mod:`changes` (a decoded
change event -> canonical items). Adapters: :mod:`auth`, :mod:`schemas`, :mod:`replay`,
:mod:`subscriber`; :mod:`app` wires them (``python -m services.ingest.salesforce``).
"""
