import os

import pytest
import torch

import convzoo

# Under pytest-xdist each worker gets its share of the cores; alone, the test run takes them all.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, (os.cpu_count() or 1) // _workers))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


class HostileServer:
    """An HTTP server on 127.0.0.1 that records every request and serves what a test sets:
    ``routes[path] = bytes`` (the raw request path, percent-encoding kept), else ``default``.
    ``stall_after`` bytes: the body is cut there and the connection held until ``release``."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.requests: list[str] = []
        self.routes: dict[str, bytes] = {}
        self.default = b"not weights"
        self.stall_after: int | None = None
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.routes.get(self.path, server.default)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.stall_after is None:
                    self.wfile.write(body)
                    return
                self.wfile.write(body[: server.stall_after])
                self.wfile.flush()
                server.release.wait(60)

            do_HEAD = do_GET

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hostile_server():
    """A local HTTP server that records requests (see :class:`HostileServer`)."""
    server = HostileServer()
    yield server
    server.close()


def _twin_pair(name: str, *, tv_kwargs: dict | None = None, **kwargs):
    """torchvision's freshly initialised twin of the zoo's ``name`` and ours holding its state
    dict (loaded strictly), both in eval mode; ``kwargs`` go to our builder."""
    import torchvision

    import convzoo

    with torch.device("meta"):  # skip our own (slow) initialisation: the weights come from tv
        ours = convzoo.create_model(name, **kwargs)
    twin = convzoo.model_card(name).torchvision_twin
    tv = torchvision.models.get_model(twin, weights=None, **(tv_kwargs or {})).eval()
    ours.load_state_dict(tv.state_dict(), strict=True, assign=True)
    return tv, ours.eval()


@pytest.fixture
def twin_pair():
    """:func:`_twin_pair`: (torchvision's network, ours with its weights)."""
    return _twin_pair


# The networks the fast lane (``pytest -m "not slow"``) runs registry-parametrized tests on: the
# first of each family, and LeNet-5 (1998), whose partial C3 and RBF output no other network
# has. The full suite runs all 23; the copies of VGG (130M+ parameters each) and AlexNet were half
# of the fast lane's time. Checked against the registry by
# test_models_registry.py::test_the_fast_lane_has_a_network_of_every_family.
FAST_LANE_NETWORKS = frozenset(
    {"lenet5", "lenet5_1998", "alexnet", "vgg11", "googlenet", "resnet18"}
)
REGISTERED = frozenset(convzoo.list_models())


def pytest_collection_modifyitems(config, items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("name") if callspec is not None else None
        if name in REGISTERED and name not in FAST_LANE_NETWORKS:
            item.add_marker(pytest.mark.slow)
