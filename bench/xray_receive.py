"""X-Ray daemon receive path alone: CPU per datagram of reading the UDP socket and splitting
off the header line, the native batched receiver (``_xray.Receiver``: poll + recvmmsg
without the GIL) against the event loop's datagram protocol (uvloop, one callback, one
``recvfrom`` and one header parse a datagram), in the same run.

    .venv/bin/python bench/xray_receive.py [--docs /tmp/bench-xray/docs.bin] [--datagrams 200000]

One-span datagrams (bench/xray_ingest.py ``--single``) come from a sender process, 200 at a
time every 4 ms; the figure is the receiving thread's CPU time per datagram received.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import resource
import socket
import sys
import time
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.xray_ingest import load_docs, single
from vigil.ingest._xray import Receiver
from vigil.ingest.xray_daemon import _valid_header, size_receive_buffer


def sender(address: tuple[str, int], docs: list[bytes]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(0, len(docs), 200):
        for doc in docs[i : i + 200]:
            sock.sendto(doc, address)
        time.sleep(0.004)


def thread_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    size_receive_buffer(sock, 4 << 20)
    sock.setblocking(False)
    return sock


def native(docs: list[bytes]) -> tuple[int, float]:
    sock = bound_socket()
    send = mp.Process(target=sender, args=(sock.getsockname(), docs))
    receiver = Receiver(sock.fileno())
    got, idle, kept = 0, 0, []
    started = thread_cpu()
    send.start()
    while idle < 5:
        bodies, others = receiver.receive(100)
        if not bodies and not others:
            idle += 1
            continue
        idle = 0
        got += len(bodies) + len(others)
        kept.extend(bodies)
    send.join()
    return got, (thread_cpu() - started) / got * 1e6


class Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.kept: list[bytes] = []
        self.last = time.monotonic()

    def datagram_received(self, data: bytes, addr: object) -> None:
        header, sep, body = data.partition(b"\n")
        if sep and _valid_header(header):
            self.kept.append(body)
        self.last = time.monotonic()


async def event_loop(docs: list[bytes]) -> tuple[int, float]:
    sock = bound_socket()
    protocol = Protocol()
    await asyncio.get_running_loop().create_datagram_endpoint(lambda: protocol, sock=sock)
    send = mp.Process(target=sender, args=(sock.getsockname(), docs))
    started = thread_cpu()
    send.start()
    while send.is_alive() or time.monotonic() - protocol.last < 0.5:  # noqa: ASYNC110
        await asyncio.sleep(0.1)  # polls a process and a clock: no event to wait for
    send.join()
    return len(protocol.kept), (thread_cpu() - started) / len(protocol.kept) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=Path("/tmp/bench-xray/docs.bin"))
    parser.add_argument("--datagrams", type=int, default=200_000)
    args = parser.parse_args()
    docs = single(load_docs(args.docs, args.datagrams // 10)[: args.datagrams // 10])
    base_n, base = uvloop.run(event_loop(docs))
    fast_n, fast = native(docs)
    print(f"event loop protocol (baseline): {base:5.2f} us CPU/datagram ({base_n:,} received)")
    print(
        f"native batched receiver:        {fast:5.2f} us CPU/datagram ({fast_n:,} received);"
        f" ratio {fast / base:.2f}"
    )


if __name__ == "__main__":
    main()
