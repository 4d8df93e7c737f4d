"""Hypothesis profiles: "default" (CI and everyday), "thorough" (many more examples).

Choose with ``pytest --hypothesis-profile=thorough`` ("quick": 10 examples, for
a first run of a new test).
"""
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=100, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "thorough", max_examples=1000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "quick", max_examples=10, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow])             # while writing tests
settings.load_profile("default")


@pytest.fixture
def no_figure_left_open():
    """Fails a test that leaves a matplotlib figure open (drawing code must close
    what it opens, also when it fails)."""
    from minicnn.viz import pyplot
    plt = pyplot()
    plt.close("all")
    yield
    left = plt.get_fignums()
    plt.close("all")
    assert left == [], f"figures left open: {left}"
