#!/usr/bin/python3
"""notifylisten.py SOCKET OUT [CHECK_CMD]

Stands in for a supervisor's notification socket (the protocol of
$NOTIFY_SOCKET): binds a unix datagram socket at SOCKET and writes one line
per datagram to OUT: "PID<TAB>MESSAGE", the sender's pid from the kernel's
credentials and the message with newlines written as " | ". On the first
datagram that holds READY=1, CHECK_CMD (if given) runs with sh -c and a line
"check<TAB>ok" or "check<TAB>failed N" follows, so a test can tell what was
true at the moment of readiness. Runs until killed."""
import os
import socket
import struct
import subprocess
import sys

path, out = sys.argv[1], sys.argv[2]
check = sys.argv[3] if len(sys.argv) > 3 else None
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path)
f = open(out, "a", buffering=1)
f.write("listening\t%s\n" % path)
ready_seen = False
credsz = socket.CMSG_SPACE(struct.calcsize("3i"))
while True:
    msg, anc, _flags, _addr = s.recvmsg(4096, credsz)
    pid = -1
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("3i", data[:struct.calcsize("3i")])[0]
    text = msg.decode("utf-8", "replace")
    line = "%d\t%s\n" % (pid, text.replace("\n", " | "))
    if "READY=1" in text.split("\n") and not ready_seen:
        ready_seen = True
        if check:
            rc = subprocess.run(["sh", "-c", check]).returncode
            line += "check\t%s\n" % ("ok" if rc == 0 else "failed %d" % rc)
    f.write(line)
