"""dialerd.domain: the vocabulary shared by every layer (DESIGN.md).

Plain enums and frozen dataclasses, no I/O. Every other layer may import this one.
"""
