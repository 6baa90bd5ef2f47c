/* RV32 machine-mode startup for the emulator harness (QEMU virt, -bios none): trap vector, gp/sp,
 * .data copy, .bss zero, main() -> exit code.  Traps exit with 0xE0 + mcause so a crash is never
 * mistaken for a result, and never loops: the vector is set before anything can fault, and the trap
 * entry takes a fresh stack pointer, so a bad sp (the fault itself) cannot fault the handler again. */
#include <stddef.h>
#include <stdint.h>
#include "semihost.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[];
int main(void);

__attribute__((noreturn, used)) void edgec_rv_trap(void)
{
    uintptr_t cause;
    __asm__ volatile(".option push\n.option arch, +zicsr\ncsrr %0, mcause\n.option pop" : "=r"(cause));
    sh_puts("TRAP\n");
    sh_exit(0xE0 + (int)(cause & 0xF));
}

__attribute__((naked, aligned(4), used)) void edgec_rv_trap_entry(void)
{
    __asm__ volatile("la sp, _estack\n"
                     "j edgec_rv_trap\n");
}

__attribute__((noreturn, used)) void edgec_rv_reset(void)
{
    uint32_t *s = _sidata, *d = _sdata;
    while (d < _edata) *d++ = *s++;
    for (d = _sbss; d < _ebss;) *d++ = 0;
    sh_exit(main());
}

__attribute__((naked, section(".text.start"))) void _start(void)
{
    __asm__ volatile("la t0, edgec_rv_trap_entry\n"
                     ".option push\n.option arch, +zicsr\ncsrw mtvec, t0\n.option pop\n"
                     ".option push\n.option norelax\nla gp, __global_pointer$\n.option pop\n"
                     "la sp, _estack\n"
                     "j edgec_rv_reset\n");
}

void *memcpy(void *d, const void *s, size_t n) { uint8_t *p = d; const uint8_t *q = s; while (n--) *p++ = *q++; return d; }
void *memmove(void *d, const void *s, size_t n)
{ uint8_t *p = d; const uint8_t *q = s; if (p < q) while (n--) *p++ = *q++; else while (n--) p[n] = q[n]; return d; }
void *memset(void *d, int c, size_t n) { uint8_t *p = d; while (n--) *p++ = (uint8_t)c; return d; }
