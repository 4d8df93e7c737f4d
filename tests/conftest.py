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


@pytest.fixture
def local_http_server():
    """Starts HTTP servers on 127.0.0.1 for the test, and stops them after it.

    ``start(do_get)`` serves every GET request by calling ``do_get(handler)``
    (an ``http.server.BaseHTTPRequestHandler``; request logging is off) and
    returns the server's base URL, ``http://127.0.0.1:<port>``.
    """
    import http.server
    import threading

    running = []

    def start(do_get):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                do_get(self)

            def log_message(self, *args):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.timeout = 5
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        running.append((httpd, thread))
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    try:
        yield start
    finally:
        for httpd, thread in running:
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)
