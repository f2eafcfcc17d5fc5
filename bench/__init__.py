"""`make bench`: Troupe measured on the emulators (bench/results.md; `python -m bench -h`)."""
