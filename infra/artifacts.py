#!/usr/bin/env python3
"""Which CPU architecture the function binaries were built for, read from their ELF headers,
so that a deploy of arm64 binaries to x86_64 functions (or the reverse) is refused before it
starts instead of breaking every request.

    infra/artifacts.py check ARCHITECTURE DIR      # exit 1 when a bootstrap under DIR is not ARCHITECTURE
    infra/artifacts.py show DIR                    # prints "<function dir> <architecture>" per bootstrap

ARCHITECTURE is the template's (arm64 | x86_64). DIR holds one folder per function with its
`bootstrap` (cargo lambda's target/lambda, SAM's .aws-sam/build). The CDK app does the same
check itself in prebuilt mode (infra/lib/code.ts)."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

# ELF e_machine values (the ELF specification's EM_X86_64 and EM_AARCH64).
MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}


def architecture(binary: Path) -> str:
    """arm64, x86_64, or a description of what the file is instead."""
    with binary.open("rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return "not an ELF binary"
    if head[4] != 2:
        return "not a 64-bit ELF binary"
    endian = "<" if head[5] == 1 else ">"
    (machine,) = struct.unpack(endian + "H", head[18:20])
    return MACHINES.get(machine, f"ELF machine {machine:#x}")


def bootstraps(root: Path) -> list[Path]:
    return sorted(root.glob("*/bootstrap"))


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "show":
        for b in bootstraps(Path(argv[1])):
            print(b.parent.name, architecture(b))
        return 0
    if len(argv) == 3 and argv[0] == "check" and argv[1] in ("arm64", "x86_64"):
        wanted, root = argv[1], Path(argv[2])
        found = bootstraps(root)
        if not found:
            print(f"artifacts: no */bootstrap under {root}", file=sys.stderr)
            return 1
        wrong = [(b.parent.name, architecture(b)) for b in found if architecture(b) != wanted]
        if wrong:
            for name, got in wrong:
                print(f"artifacts: {root}/{name}/bootstrap is {got}, the stack runs {wanted}", file=sys.stderr)
            print(f"artifacts: rebuild for {wanted} (sam build with Architecture={wanted}, or "
                  f"cargo lambda build --release --{'arm64' if wanted == 'arm64' else 'x86-64'})", file=sys.stderr)
            return 1
        print(f"artifacts: {len(found)} bootstrap(s) under {root} are {wanted}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
