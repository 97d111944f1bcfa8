"""Perceivers: one module per kind, each holding its backends; ``base.py`` holds the contract and
the modality classes, ``registry.py`` finds perceivers by name and backend."""
