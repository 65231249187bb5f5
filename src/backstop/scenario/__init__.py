"""Scenario files (design §9): YAML -> commands -> engine -> report."""
