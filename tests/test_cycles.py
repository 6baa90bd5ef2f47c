"""The Cortex-M cycle model: per-instruction costs from the TRM tables, and a whole profile that
adds up, is deterministic, and prices the same code differently on different cores."""
import pytest

from edgec.verification.cycles import CORES, cost_table, instruction_cost

M0, M3, M4, M7 = (CORES[c] for c in ("cortex-m0", "cortex-m3", "cortex-m4", "cortex-m7"))


@pytest.mark.parametrize("core,mnemonic,operands,previous,expected", [
    (M4, "adds", "r0, r1, r2", None, (1, 0)),
    (M4, "bic.w", "r0, r0, #3", None, (1, 0)),          # starts with b, is not a branch
    (M4, "bne.n", "8010 <f+0x10>", None, (1, 2)),        # 1 not taken, 1 + P taken
    (M4, "bl", "8100 <edgec_x>", None, (1, 2)),
    (M0, "bl", "8100 <edgec_x>", None, (2, 2)),          # M0: BL 4
    (M0, "b.n", "8010 <f+0x10>", None, (1, 2)),          # M0: taken B 3
    (M4, "pop", "{r4, r5, r6, pc}", None, (5, 2)),       # 1 + N, and a return refills
    (M4, "push", "{r4, r5-r7, lr}", None, (6, 0)),
    (M4, "ldmia.w", "r0!, {r1, r2, r3}", None, (4, 0)),
    (M4, "ldr", "r0, [r1, #4]", None, (2, 0)),
    (M4, "ldr.w", "r0, [r1, #4]", "ldrsb", (1, 0)),      # pipelined after another load
    (M0, "ldr", "r0, [r1, #4]", "ldr", (2, 0)),          # M0 does not pipeline
    (M4, "ldrd", "r0, r1, [r2]", None, (3, 0)),
    (M4, "mla", "r0, r1, r2, r3", None, (2, 0)),
    (M3, "smull", "r0, r1, r2, r3", None, (4, 0)),
    (M4, "smull", "r0, r1, r2, r3", None, (1, 0)),
    (M4, "smlad", "r0, r1, r2, r3", None, (1, 0)),
    (M7, "ldr", "r0, [r1]", None, (1, 0)),
    (M4, "udiv", "r0, r1, r2", None, (7, 0)),
    (M4, "mov", "pc, lr", None, (1, 2)),
])
def test_instruction_costs_follow_the_trm_tables(core, mnemonic, operands, previous, expected):
    assert instruction_cost(core, mnemonic, operands, previous) == expected


def test_cost_table_reads_objdump_and_restarts_pipelining_per_function():
    dis = """
00008000 <f>:
    8000:	ldr	r3, [r0, #0]
    8002:	ldr	r2, [r1, #0]
    8004:	bx	lr
    8006:	.word	0x00000000

00008008 <g>:
    8008:	ldr	r3, [r0, #0]
"""
    assert cost_table("cortex-m4", dis).splitlines() == ["8000 2 0", "8002 1 0", "8004 1 2", "8008 2 0"]
