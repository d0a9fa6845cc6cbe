"""Erasure: remove every byte of a vehicle's or a measurement's data, following its lineage.

``identity`` names a target without keeping it (HMAC), ``records`` keeps the erasure record,
the pending request and the tombstones, ``plan`` finds what belongs to a target, ``blobs``,
``pool`` and ``steps`` remove it. docs/erasure.md explains the order and the guarantees.
"""
