"""Test tooling that ships with the package: the seeded command fuzzer (design §12, TigerBeetle
style: a failing seed is a regression test forever)."""
