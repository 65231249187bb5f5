"""Scenario files (docs/scenario-format.md): YAML -> commands -> engine -> report."""
