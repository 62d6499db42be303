"""Test helper: a FUSE file system whose daemon stops answering on demand.

    python3 hangfs.py MOUNTPOINT LIBRARY TRIGGER [--until-eof]

Serves two files, lib.so (a copy of LIBRARY) and held.log, which can be
unlinked while open. Once the file TRIGGER exists, every getattr (stat, and every name
lookup) blocks forever: a caller sits in the kernel's request_wait_answer,
where no signal ends it, until this daemon dies. Used by tests/identity_test.ts.
With --until-eof it also dies when its standard input ends: when the test, or
a test runner that was killed, no longer holds the pipe.
"""

import errno
import os
import stat
import sys
import threading
import time

from fusepy import FUSE, FuseOSError, Operations


class HangFS(Operations):
    def __init__(self, library, trigger):
        with open(library, "rb") as source:
            self.files = {"/lib.so": source.read(), "/held.log": b"data\n"}
        self.trigger = trigger
        self.opened = {}
        self.next_fh = 1

    def getattr(self, path, fh=None):
        while os.path.exists(self.trigger):
            time.sleep(3600)
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
        if path in self.files:
            return {"st_mode": stat.S_IFREG | 0o755, "st_nlink": 1, "st_size": len(self.files[path])}
        raise FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        return [".", ".."] + [name[1:] for name in self.files]

    def open(self, path, flags):
        if path not in self.files:
            raise FuseOSError(errno.ENOENT)
        fh = self.next_fh
        self.next_fh += 1
        # The data stays with the open file: reads after the unlink still work.
        self.opened[fh] = self.files[path]
        return fh

    def read(self, path, size, offset, fh):
        return self.opened[fh][offset:offset + size]

    def release(self, path, fh):
        self.opened.pop(fh, None)
        return 0

    def unlink(self, path):
        if self.files.pop(path, None) is None:
            raise FuseOSError(errno.ENOENT)
        return 0

    def rename(self, old, new):
        # libfuse unlinks an open file by renaming it to .fuse_hidden*: the kernel
        # still sees it unlinked, and its nodes keep a path that reaches getattr.
        if old not in self.files:
            raise FuseOSError(errno.ENOENT)
        self.files[new] = self.files.pop(old)
        return 0


if __name__ == "__main__":
    mountpoint, library, trigger = sys.argv[1:4]
    if "--until-eof" in sys.argv[4:]:
        def watch():
            while sys.stdin.buffer.read(4096):
                pass
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    # No caching of names or attributes: every stat reaches this daemon.
    FUSE(HangFS(library, trigger), mountpoint, foreground=True,
         attr_timeout=0, entry_timeout=0, negative_timeout=0)
