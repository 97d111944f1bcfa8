"""Perceivers: one module per kind, each holding its backends (see ``base.py`` for the contract)."""
