"""Cortex-M cycle estimates: each executed instruction weighted by its core's cycle table.

QEMU counts instructions, not cycles.  This module turns the model's disassembly into a per-address
cost table ("pc base refill") for the counting plugin (harness/insncount.c), which adds `base` per
execution and `refill` each time the instruction hands control to a non-sequential address (a taken
branch, a call, a return).  Sources, per core, are the instruction timing tables of the technical
reference manuals:

* Cortex-M0 (DDI 0432C, 3.3 "Instruction set summary"): 1 cycle per data-processing instruction,
  MULS 1 (the fast-multiplier configuration; the small multiplier takes 32), loads/stores 2, LDM/STM/
  PUSH/POP 1+N, taken branch 3 (B) / BL 4 / BX, BLX 3: a refill P = 2.
* Cortex-M3 (DDI 0337I, 18.2 Table 18-1): 1 per data processing, MUL 1, MLA/MLS 2, UMULL/SMULL 3-5
  (taken as 4), UMLAL/SMLAL 4-7 (6), SDIV/UDIV 2-12 (7), LDR/STR 2 but 1 when it follows another single
  load/store (their address and data phases pipeline), LDRD/STRD 3, LDM/STM/PUSH/POP 1+N, branches
  1+P with P = 1-3 (taken as 2).
* Cortex-M4 (DDI 0439B, 3.3.1 Table 3-1): as the M3, but the 32x32->64 multiplies and the DSP
  extension (SMLAD, SXTB16, SSAT, SMULxy, SMLAxy ...) are single-cycle.
* Cortex-M7 (no per-instruction table is published; DDI 0489 describes a dual-issue pipeline with a
  branch target cache): the M4 table with single-cycle loads (TCM) and P = 1.  Dual issue is not
  modelled, so the M7 figure is an upper bound.

What no table settles is left out and said: wait states of real flash (0 here, as with TCM or a cache
hit), bus contention, and IT-skipped instructions (counted at 1 cycle, as executed)."""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class CoreTiming:
    name: str
    refill: int                 # P: pipeline refill after a taken branch
    load: int                   # single LDR/STR
    load_pipelined: int         # a single LDR/STR right after another
    mla: int
    long_mul: int               # UMULL/SMULL
    long_mla: int               # UMLAL/SMLAL
    div: int


CORES = {
    "cortex-m0": CoreTiming("cortex-m0", refill=2, load=2, load_pipelined=2, mla=1, long_mul=1, long_mla=1, div=1),
    "cortex-m3": CoreTiming("cortex-m3", refill=2, load=2, load_pipelined=1, mla=2, long_mul=4, long_mla=6, div=7),
    "cortex-m4": CoreTiming("cortex-m4", refill=2, load=2, load_pipelined=1, mla=2, long_mul=1, long_mla=1, div=7),
    "cortex-m7": CoreTiming("cortex-m7", refill=1, load=1, load_pipelined=1, mla=1, long_mul=1, long_mla=1, div=7),
}

_COND = "(?:eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?"
_BRANCH = re.compile(rf"^(?:b|bl|blx|bx){_COND}$|^cbn?z$")
_TABLE_BRANCH = re.compile(r"^tb[bh]$")
_LINE = re.compile(r"^\s*([0-9a-f]+):\s+([a-z][a-z0-9.]*)\s*(.*)$")


def _registers(operands: str) -> list:
    """Registers of a register list "{r4, r5-r7, lr}"."""
    m = re.search(r"\{([^}]*)\}", operands)
    regs = []
    for part in (m.group(1).split(",") if m else []):
        part = part.strip()
        lo_hi = re.fullmatch(r"r(\d+)-r(\d+)", part)
        regs += [f"r{i}" for i in range(int(lo_hi.group(1)), int(lo_hi.group(2)) + 1)] if lo_hi else [part]
    return regs


def _is_single_load_store(mn: str) -> bool:
    return bool(re.match(r"^(ldr|str)(b|h|sb|sh)?(t|ex)?" + _COND + "$", mn))


def instruction_cost(core: CoreTiming, mnemonic: str, operands: str, previous: str | None) -> tuple[int, int]:
    """(base cycles, refill cycles when control leaves it non-sequentially) of one instruction."""
    mn = mnemonic.split(".")[0]
    if _BRANCH.match(mn):
        return (2 if mn.startswith("bl") and core.name == "cortex-m0" else 1), core.refill
    if _TABLE_BRANCH.match(mn):
        return 2, core.refill
    if re.match(r"^(pop|ldm)", mn):
        regs = _registers(operands)
        return 1 + len(regs), (core.refill if "pc" in regs else 0)
    if re.match(r"^(push|stm)", mn):
        return 1 + len(_registers(operands)), 0
    if re.match(r"^(ldrd|strd)", mn):
        return 3, 0
    if _is_single_load_store(mn):
        pc_write = mn.startswith("ldr") and re.match(r"^pc\b", operands)
        base = core.load_pipelined if previous and _is_single_load_store(previous) else core.load
        return base, (core.refill if pc_write else 0)
    if re.match(r"^(mla|mls)" + _COND + "$", mn):
        return core.mla, 0
    if re.match(r"^(smull|umull)", mn):
        return core.long_mul, 0
    if re.match(r"^(smlal|umlal)" + _COND + "$", mn):
        return core.long_mla, 0
    if re.match(r"^(sdiv|udiv)", mn):
        return core.div, 0
    if re.match(r"^(mov|add)" + _COND + "s?$", mn) and re.match(r"^pc\b", operands):
        return 1, core.refill
    return 1, 0


def cost_table(core_name: str, disassembly: str) -> str:
    """`objdump -d --no-show-raw-insn` text -> the plugin's costs file ("pc base refill" lines)."""
    core = CORES[core_name]
    lines, previous = [], None
    for line in disassembly.splitlines():
        m = _LINE.match(line)
        if not m:
            if line.strip() == "" or line.endswith(">:"):
                previous = None            # a new function: nothing pipelines across it
            continue
        mn = m.group(2).split(".")[0]
        base, refill = instruction_cost(core, m.group(2), m.group(3), previous)
        lines.append(f"{m.group(1)} {base} {refill}\n")
        previous = mn
    return "".join(lines)
