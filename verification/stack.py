"""Worst-case stack of one inference, from the linked code: the call graph read off the disassembly
(every call and tail call the compiler left after inlining) weighted by each function's frame from
gcc's -fstack-usage files, summed along the deepest path from the model's run().

Generated code and kernels have no recursion, no VLAs and no alloca (an unbounded "dynamic" frame in
a .su file, or a cycle in the graph, is refused; "dynamic,bounded" - e.g. AVR pushing a call's
arguments - comes with its bound).  Functions without a .su file are libgcc's arithmetic helpers
(e.g. AVR's 32/64-bit multiplies): they are leaves that save a few registers, and are charged
LIBGCC_FRAME bytes each.  A call pushes `Target.call_push_bytes` of return address on cores where the
callee's frame does not include it (AVR: 2).  A naked function (the AVR kernels' asm loops and
requantization) has a frame of 0 in its .su file, whatever its asm pushes: each function is charged at
least the bytes its push instructions save (AVR: one a register; Arm: four a register of the list).
The emulators measure the real high-water mark (stack painting in the semihosting harness, SP
tracking in avrrun) and the tests check it never exceeds this bound."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from ..compiler.errors import ToolchainError

LIBGCC_FRAME = 32
_FUNC = re.compile(r"^[0-9a-f]+ <([A-Za-z_.$][\w.$@]*)>:$")
_CALL = re.compile(r"\s(?:bl|blx|b|b\.w|b\.n|jal|j|call|rcall|jmp|rjmp|tail)\s+(?:ra,\s*)?(?:0x[0-9a-f]+|[0-9a-f]+|\.[+-]\d+)"
                   r"\s+(?:;\s*0x[0-9a-f]+\s+)?<([A-Za-z_.$][\w.$@]*)(\+0x[0-9a-f]+)?>")


def frames(objs) -> dict:
    """{function: bytes} from the .su files beside the objects."""
    out = {}
    for obj in objs:
        su = Path(obj).with_suffix(".su")
        if not su.exists():
            continue
        for line in su.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) < 3:
                continue
            name = parts[0].rsplit(":", 1)[-1]
            if "dynamic" in parts[2] and "bounded" not in parts[2]:     # "dynamic,bounded": the number is a bound
                raise ToolchainError(f"{name} has a dynamic stack frame ({parts[2]}): no bound is possible",
                                     where=str(su))
            out[name] = max(out.get(name, 0), int(parts[1]))
    return out


_PUSH = re.compile(r"\spush\s+(\{[^}]*\}|r\d+)")


def pushed(disassembly: str) -> dict:
    """{function: bytes its push instructions save}, each counted once (straight-line prologues)."""
    out, current = {}, None
    for line in disassembly.splitlines():
        m = _FUNC.match(line.strip())
        if m:
            current = m.group(1)
            continue
        p = current and _PUSH.search(line)
        if p:
            regs = p.group(1)
            out[current] = out.get(current, 0) + (4 * len(regs.split(",")) if regs.startswith("{") else 1)
    return out


def call_graph(disassembly: str) -> dict:
    """{function: set of functions it calls or tail-calls} (jumps inside a function are not calls)."""
    graph, current = {}, None
    for line in disassembly.splitlines():
        m = _FUNC.match(line.strip())
        if m:
            current = m.group(1)
            graph.setdefault(current, set())
            continue
        c = current and _CALL.search(line)
        if c and c.group(1) != current and not c.group(2):
            graph[current].add(c.group(1))
    return graph


def bound(run_name: str, disassembly: str, objs, call_push_bytes: int = 0) -> int:
    """Deepest stack of run_name and everything it calls, in bytes."""
    graph, sizes, saves = call_graph(disassembly), frames(objs), pushed(disassembly)

    @lru_cache(maxsize=None)
    def deepest(fn: str, path: tuple = ()) -> int:
        if fn in path:
            raise ToolchainError(f"recursion through {fn}: no stack bound is possible")
        # a GCC clone is "f.constprop" in the .su file and "f.constprop.0" in the disassembly
        own = max(sizes.get(fn, sizes.get(re.sub(r"\.\d+$", "", fn), LIBGCC_FRAME)), saves.get(fn, 0))
        below = max((call_push_bytes + deepest(c, path + (fn,)) for c in graph.get(fn, ())), default=0)
        return own + below
    return deepest(run_name)
