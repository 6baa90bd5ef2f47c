/* RV32 machine-mode startup for the emulator harness (QEMU sifive_e): gp/sp, .data copy, .bss zero,
 * main() -> exit code.  Traps exit with 0xE0 + mcause so a crash is never mistaken for a result. */
#include <stddef.h>
#include <stdint.h>
#include "semihost.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[];
int main(void);

__attribute__((interrupt("machine"), aligned(4))) static void trap_handler(void)
{
    uintptr_t cause;
    __asm__ volatile(".option push\n.option arch, +zicsr\ncsrr %0, mcause\n.option pop" : "=r"(cause));
    sh_puts("TRAP\n");
    sh_exit(0xE0 + (int)(cause & 0xF));
}

__attribute__((noreturn, used)) void edgec_rv_reset(void)
{
    uint32_t *s = _sidata, *d = _sdata;
    while (d < _edata) *d++ = *s++;
    for (d = _sbss; d < _ebss;) *d++ = 0;
    __asm__ volatile(".option push\n.option arch, +zicsr\ncsrw mtvec, %0\n.option pop" :: "r"(trap_handler));
    sh_exit(main());
}

__attribute__((naked, section(".text.start"))) void _start(void)
{
    __asm__ volatile(".option push\n.option norelax\nla gp, __global_pointer$\n.option pop\n"
                     "la sp, _estack\n"
                     "j edgec_rv_reset\n");
}

void *memcpy(void *d, const void *s, size_t n) { uint8_t *p = d; const uint8_t *q = s; while (n--) *p++ = *q++; return d; }
void *memmove(void *d, const void *s, size_t n)
{ uint8_t *p = d; const uint8_t *q = s; if (p < q) while (n--) *p++ = *q++; else while (n--) p[n] = q[n]; return d; }
void *memset(void *d, int c, size_t n) { uint8_t *p = d; while (n--) *p++ = (uint8_t)c; return d; }
