"""The pure calculation core: plan semantics with no I/O, no clock, no globals.

Streaming (the calculator), batch recompute, simulation and the tests all call
this package; it never calls them. Money is ``decimal.Decimal`` with an ISO 4217
currency, never float.
"""
