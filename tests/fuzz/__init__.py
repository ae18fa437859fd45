"""Fuzzing the readers and writers: the oracle, the seeds and mutators, the coverage-guided harness.

``oracle.py`` says what one input must do (be read or refused cleanly, then be
validated and written to every syntax without an unexpected exception);
``seeds.py`` gathers the shared corpus per syntax and mutates it (used by
``tests/conformance/test_fuzz_parsers.py``, seeded and bounded); ``harness.py`` and
``run.py`` are the long coverage-guided run with atheris behind ``make fuzz``.
"""
