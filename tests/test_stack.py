"""The call-graph stack bound (verification/stack.py) on hand-made disassembly: deepest path, tail calls,
return addresses pushed outside frames, unknown helpers, recursion and unbounded frames refused."""
import pytest

from edgec.compiler.errors import ToolchainError
from edgec.verification.stack import LIBGCC_FRAME, bound, call_graph

ARM = """
00008000 <edgec_m_run>:
    8000:	push	{r4, lr}
    8002:	bl	8100 <edgec_conv2d_s8>
    8006:	bl	8200 <edgec_fully_connected_s8>
    800a:	b.n	8002 <edgec_m_run+0x2>
    800c:	pop	{r4, pc}

00008100 <edgec_conv2d_s8>:
    8100:	bl	8300 <memcpy>
    8104:	b.w	8200 <edgec_fully_connected_s8>

00008200 <edgec_fully_connected_s8>:
    8200:	bx	lr

00008300 <memcpy>:
    8300:	bx	lr
"""


def _su(tmp_path, rows):
    (tmp_path / "m.su").write_text("".join(f"m.c:1:1:{name}\t{size}\t{kind}\n" for name, size, kind in rows))
    return [tmp_path / "m.o"]


def test_calls_and_tail_calls_form_the_graph_and_branches_inside_do_not():
    g = call_graph(ARM)
    assert g["edgec_m_run"] == {"edgec_conv2d_s8", "edgec_fully_connected_s8"}
    assert g["edgec_conv2d_s8"] == {"memcpy", "edgec_fully_connected_s8"}     # b.w to another function: a tail call


def test_the_deepest_path_sums_frames(tmp_path):
    objs = _su(tmp_path, [("edgec_m_run", 16, "static"), ("edgec_conv2d_s8", 96, "static"),
                          ("edgec_fully_connected_s8", 40, "static")])
    # run 16 + conv 96 + max(memcpy: unknown helper, fc 40)
    assert bound("edgec_m_run", ARM, objs) == 16 + 96 + max(LIBGCC_FRAME, 40)
    assert bound("edgec_m_run", ARM, objs, call_push_bytes=2) == 16 + 2 + 96 + 2 + max(LIBGCC_FRAME, 40)


def test_bounded_dynamic_frames_count_and_unbounded_ones_are_refused(tmp_path):
    objs = _su(tmp_path, [("edgec_m_run", 16, "static"), ("edgec_conv2d_s8", 96, "dynamic,bounded"),
                          ("edgec_fully_connected_s8", 40, "static")])
    assert bound("edgec_m_run", ARM, objs) == 16 + 96 + 40
    objs = _su(tmp_path, [("edgec_m_run", 16, "static"), ("edgec_conv2d_s8", 96, "dynamic")])
    with pytest.raises(ToolchainError, match="dynamic stack frame"):
        bound("edgec_m_run", ARM, objs)


def test_recursion_is_refused(tmp_path):
    looped = ARM.replace("8200:	bx	lr", "8200:	bl	8000 <edgec_m_run>")
    with pytest.raises(ToolchainError, match="recursion"):
        bound("edgec_m_run", looped, _su(tmp_path, [("edgec_m_run", 16, "static")]))


def test_avr_calls_with_relative_operands_are_seen():
    avr = """
00000100 <edgec_m_run>:
 100:	call	0x200	; 0x200 <edgec_conv2d_s8>
 104:	rcall	.+12     	; 0x112 <edgec_lut_s8>
 106:	rjmp	.-8      	; 0x100 <edgec_m_run>
"""
    assert call_graph(avr)["edgec_m_run"] == {"edgec_conv2d_s8", "edgec_lut_s8"}


def test_a_gcc_clone_is_charged_its_own_frame(tmp_path):
    """GCC names a clone "f.constprop" in the .su file and "f.constprop.0" in the disassembly (rv32imc
    mnist's edgec_window2x2p: charged as an unknown helper, the bound was 32 bytes short of QEMU's)."""
    dis = """
00008000 <edgec_m_run>:
    8000:	jal	ra,8100 <edgec_window2x2p.constprop.0>

00008100 <edgec_window2x2p.constprop.0>:
    8100:	ret
"""
    objs = _su(tmp_path, [("edgec_m_run", 16, "static"), ("edgec_window2x2p.constprop", 64, "static")])
    assert bound("edgec_m_run", dis, objs) == 16 + 64


def test_a_naked_function_is_charged_what_it_pushes(tmp_path):
    """An AVR naked asm function (edgec_dot_avr.h's loops) has a frame of 0 in its .su file whatever it
    pushes; reached by a tail call from a wrapper whose own frame is small (mnist on the ATmega328P:
    the bound was 9 bytes short of simavr's), it is charged the bytes its push instructions save."""
    avr = """
00000100 <edgec_m_run>:
 100:	call	0x200	; 0x200 <edgec_dot2x2p_s8>

00000200 <edgec_dot2x2p_s8>:
 200:	push	r16
 202:	jmp	0x300	; 0x300 <edgec_avr_dot2x2>

00000300 <edgec_avr_dot2x2>:
 300:	push	r2
 302:	push	r3
 304:	push	r28
 306:	pop	r28
 308:	ret
"""
    objs = _su(tmp_path, [("edgec_m_run", 4, "static"), ("edgec_dot2x2p_s8", 2, "static"), ("edgec_avr_dot2x2", 0, "static")])
    assert bound("edgec_m_run", avr, objs, call_push_bytes=2) == 4 + 2 + 2 + 2 + 3
