"""Hypothesis profiles: "default" (CI and everyday), "thorough" (many more examples).

Choose with ``pytest --hypothesis-profile=thorough``.
"""
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=100, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "thorough", max_examples=1000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")
