"""``cascade(A,B[,C…])``: ask the members in order; stop at the first that is sure.

Per batch: member 0 answers every item; the items whose confidence is below step 0's
threshold go, as one batch, to member 1; and so on; the last member answers whatever
reaches it. A member never sees an item an earlier member answered, so the large
model's time is spent only on the hard items. Confidence: :mod:`.confidence`.
"""

from __future__ import annotations

from lmscape.methods.base import Prediction
from lmscape.route.base import ItemTrail, RoutedMethod
from lmscape.tasks.base import Item


class CascadeMethod(RoutedMethod):
    name = "cascade"
    kind = "cascade"

    def predict(self, items: list[Item]) -> list[Prediction]:
        self.check_items(items)
        self.ensure_ready()
        assert self.thresholds is not None
        trails = [ItemTrail() for _ in items]
        out: list[Prediction | None] = [None] * len(items)
        remaining = list(range(len(items)))
        last = len(self.members) - 1
        for j, member in enumerate(self.members):
            if not remaining:
                break
            sub = [items[i] for i in remaining]
            preds, confs, costs, wall = self.run_member(j, sub, confident=j < last)
            still = []
            for i, p, c, cost in zip(remaining, preds, confs, costs, strict=True):
                trails[i].add(member.name, p, c, cost, wall)
                if j == last:
                    why = "last member" if j else "only member"
                elif c is not None and c >= self.thresholds[j]:
                    why = f"confidence {c:.3f} >= {self.thresholds[j]:.3f}"
                else:
                    still.append(i)
                    continue
                out[i] = self.finish(p.output, member.name, trails[i], why)
            remaining = still
        assert all(p is not None for p in out)
        return out  # type: ignore[return-value]
