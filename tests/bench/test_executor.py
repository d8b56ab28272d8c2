import threading
import time

from lmscape.bench.executor import LocalExecutor
from lmscape.methods.base import Method, Prediction
from lmscape.tasks.base import Item


class Waiting(Method):
    """Waits like a remote endpoint would, and records how many batches overlap."""

    name = "waiting"
    tasks = ("any",)
    needs_model = False

    def __init__(self) -> None:
        super().__init__(task=None)  # type: ignore[arg-type]
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def predict(self, items):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(0.05)
        with self.lock:
            self.in_flight -= 1
        if any(it.id == "boom" for it in items):
            raise ValueError("bad batch")
        return [Prediction(output=it.text.upper()) for it in items]


class System:
    def __init__(self, method):
        self.name, self.method, self.model_id = "waiting", method, None


def batches(n, size=2):
    items = [Item(id=f"i{k}", text=f"t{k}") for k in range(n)]
    return [items[i:i + size] for i in range(0, n, size)]


def test_concurrent_batches_overlap_and_all_come_back():
    method = Waiting()
    outcomes = list(LocalExecutor().run(System(method), batches(24), concurrency=4))
    assert sorted(o.index for o in outcomes) == list(range(12))
    assert 2 <= method.max_in_flight <= 4
    for o in outcomes:
        assert [p.output for p in o.predictions] == [it.text.upper() for it in o.items]


def test_inline_execution_keeps_order_and_reports_errors():
    method = Waiting()
    jobs = batches(6)
    jobs[1] = [Item(id="boom", text="x")]
    outcomes = list(LocalExecutor().run(System(method), jobs, concurrency=1))
    assert [o.index for o in outcomes] == [0, 1, 2]
    assert method.max_in_flight == 1
    assert isinstance(outcomes[1].error, ValueError) and outcomes[1].predictions is None
    assert outcomes[0].wall_s >= 0.05
