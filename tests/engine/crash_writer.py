"""Child process for the crash tests: appends numbered batches forever, printing each acknowledged one.

Usage: python -m tests.engine.crash_writer DIR SUBPROCESS_BUILD(0|1)
"""

import sys

from engine import Engine, EngineOptions


def main() -> None:
    path, subprocess_build = sys.argv[1], sys.argv[2] == "1"
    options = EngineOptions(memtable_max_logs=300, merge_factor=2, build_in_subprocess=subprocess_build)
    db = Engine.open(path, options)
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    while True:
        size = 1 + batch % 37
        db.append([{"batch": batch, "i": i, "message": f"log {i} of batch {batch} payload"}
                   for i in range(size)])
        print(batch, size, flush=True)
        batch += 1


if __name__ == "__main__":
    main()
