/* Cortex-M startup for the emulator harness: vector table, .data copy, .bss zero, main() -> exit code.
 * Faults exit with 0xF0 + exception number so a crash is never mistaken for a result. */
#include <stddef.h>
#include <stdint.h>
#include "semihost.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
int main(void);
void Reset_Handler(void) __attribute__((noreturn));
void Reset_Handler(void)
{
    uint32_t *s = _sidata, *d = _sdata;
    while (d < _edata) *d++ = *s++;
    for (d = _sbss; d < _ebss;) *d++ = 0;
    sh_exit(main());
}
static void fault(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    sh_puts("FAULT\n");
    sh_exit(0xF0 + (int)(ipsr & 0xF));
}
__attribute__((section(".isr_vector"), used))
void (*const edgec_vectors[16])(void) = {
    (void (*)(void))_estack, Reset_Handler, fault, fault, fault, fault, fault, 0, 0, 0, 0, fault, fault, 0, fault, fault,
};
/* gcc may emit calls to these even with -ffreestanding; the kernels use them for copies. */
void *memcpy(void *d, const void *s, size_t n) { uint8_t *p = d; const uint8_t *q = s; while (n--) *p++ = *q++; return d; }
void *memmove(void *d, const void *s, size_t n)
{ uint8_t *p = d; const uint8_t *q = s; if (p < q) while (n--) *p++ = *q++; else while (n--) p[n] = q[n]; return d; }
void *memset(void *d, int c, size_t n) { uint8_t *p = d; while (n--) *p++ = (uint8_t)c; return d; }
