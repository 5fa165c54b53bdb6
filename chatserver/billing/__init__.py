"""Paid support credits: an append-only ledger, the billing policy and the WooCommerce webhook.

``rules`` and ``woocommerce`` are pure; ``ledger`` does the database work; ``routes`` and ``cli``
are thin adapters. See ``ledger`` for the functions the hub calls.
"""
