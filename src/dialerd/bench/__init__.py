"""Benchmarks: ``dialerd bench <name>``.

Each module (or subpackage) here exposing ``register(sub)`` adds one benchmark; the command line
discovers them, so benchmarks are added without touching a shared file.
"""
