"""`herd_peak_fraction_100ms`: the thundering herd after a deploy.

10,000 clients, each a real `SSEConnection` (the real retry policy and state
machine) on a simulated clock, are connected and healthy, then dropped at the
same instant; the server refuses every attempt (502, as a proxy answers while
the backend is down) for 10 s, then accepts. The figure is the largest share
of the clients that attempt within any 100 ms window. Without jitter (the
random source fixed) every client attempts at the same instant: 1.0.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable

from sse_client.config import ClientConfig
from sse_client.connection import SSEConnection
from sse_client.connection_store import create_sse_connection_store

CLIENTS = 10_000
DOWN_FOR = 10.0  # s
WINDOW = 0.1  # s


class _Simulation:
    def __init__(self, clients: int, random_factory: Callable[[int], Callable[[], float]]) -> None:
        self.now = -60.0
        self.queue: list[tuple] = []  # (time, seq, client, name, token)
        self.seq = 0
        self.attempts: list[float] = []
        self.connections: list[SSEConnection] = []
        self.setting_up = True
        for index in range(clients):
            io = _SimIO(self, index)
            store = create_sse_connection_store()
            connection = SSEConnection(io, store, clock=lambda: self.now, random=random_factory(index), config=ClientConfig())
            io.connection = connection
            self.connections.append(connection)

    def run(self) -> None:
        for connection in self.connections:  # healthy: opened a minute ago, delivered events
            connection.connect()
            connection.on_response(connection.generation, 200, "text/event-stream", None)
            connection.on_chunk(connection.generation, b"id: 1\ndata: {}\n\n")
        self.setting_up = False
        self.now = 0.0
        for connection in self.connections:  # the deploy: every stream ends at t = 0
            connection.on_stream_end(connection.generation)
        while self.queue:
            when, _, index, name, token = heapq.heappop(self.queue)
            self.now = max(self.now, when)
            self.connections[index].on_timer(name, token)

    def attempt(self, index: int, generation: int) -> None:
        if self.setting_up:
            return  # `run` opens the first streams itself
        self.attempts.append(self.now)
        connection = self.connections[index]
        if self.now < DOWN_FOR:
            connection.on_response(generation, 502, "text/html", None)
        else:
            connection.on_response(generation, 200, "text/event-stream", None)


class _SimIO:
    def __init__(self, simulation: _Simulation, index: int) -> None:
        self.simulation = simulation
        self.index = index
        self.connection: SSEConnection
        self.timers: dict[str, int] = {}

    def start(self, generation: int, last_event_id: str) -> None:
        self.simulation.attempt(self.index, generation)

    def abort(self, generation: int) -> None:
        pass

    def set_timer(self, name: str, delay: float, token: int) -> None:
        if name != "retry":
            return  # the idle watchdog never fires in 10 s
        simulation = self.simulation
        simulation.seq += 1
        heapq.heappush(simulation.queue, (simulation.now + delay, simulation.seq, self.index, name, token))

    def clear_timer(self, name: str) -> None:
        pass  # stale tokens are dropped by the machine

    def defer(self, callback: Callable[[], None]) -> None:
        raise NotImplementedError("only the event pipeline defers, and the simulation has none")


def peak_fraction(times: list[float], clients: int, window: float = WINDOW) -> float:
    """Largest number of attempts in any `window` s, over `clients`."""
    ordered = sorted(times)
    best = start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best / clients


def simulate(clients: int = CLIENTS, jitter: bool = True, seed: int = 1) -> dict[str, float]:
    if jitter:
        factory: Callable[[int], Callable[[], float]] = lambda index: random.Random(seed * 1_000_003 + index).random  # noqa: E731
    else:
        factory = lambda index: (lambda: 0.5)  # noqa: E731
    simulation = _Simulation(clients, factory)
    simulation.run()
    down = [moment for moment in simulation.attempts if moment < DOWN_FOR]
    return {
        "peak_fraction_100ms": peak_fraction(simulation.attempts, clients),
        "attempts_while_down_per_client": len(down) / clients,
        "all_reconnected_by_s": max(simulation.attempts),
        "reconnected": sum(1 for c in simulation.connections if c.state.value == "Connected") / clients,
    }


def run(repetitions: int = 3) -> dict[str, object]:
    from bench.stats import summary

    runs = [simulate(seed=seed) for seed in range(1, repetitions + 1)]
    fixed = simulate(jitter=False)
    return {
        "herd_peak_fraction_100ms": summary([r["peak_fraction_100ms"] for r in runs]),
        "herd_peak_fraction_100ms_without_jitter": fixed["peak_fraction_100ms"],
        "herd_attempts_while_down_per_client": summary([r["attempts_while_down_per_client"] for r in runs]),
        "herd_all_reconnected_by_s": summary([r["all_reconnected_by_s"] for r in runs]),
        "herd_reconnected_fraction": min(r["reconnected"] for r in runs),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=1))
