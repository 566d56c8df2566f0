"""Overhead benchmarks: each measures a subject against its baseline in the same run, as a ratio.

Run ``python -m benchmarks [--quick]`` from the repository root; see ``docs/performance.md``.
"""
