#!/usr/bin/python3
"""slowproxy.py LISTEN TARGET RATE: a unix-socket relay for tests. It accepts
connections on the path LISTEN, connects each to the path TARGET, and copies
bytes both ways; from the client to the target at most RATE bytes a second,
so that a transfer through it lasts long enough to be seen in flight."""
import os
import signal
import socket
import sys
import threading
import time


def pump(src, dst, rate):
    start, sent = time.monotonic(), 0
    try:
        while True:
            data = src.recv(65536 if rate == 0 else min(65536, max(1, rate // 10)))
            if not data:
                break
            dst.sendall(data)
            sent += len(data)
            if rate:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    listen, target, rate = sys.argv[1], sys.argv[2], int(sys.argv[3])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if os.path.exists(listen):
        os.unlink(listen)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(listen)
    srv.listen(4)
    while True:
        client, _ = srv.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(target)
        except OSError:
            client.close()
            continue
        threading.Thread(target=pump, args=(client, upstream, rate), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, 0), daemon=True).start()


if __name__ == "__main__":
    main()
