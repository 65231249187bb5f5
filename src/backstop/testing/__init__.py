"""Test tooling that ships with the package: the seeded command fuzzer (TigerBeetle
style: a failing seed is a regression test forever)."""
