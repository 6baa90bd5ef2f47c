/* Semihosting for the emulator harness (ARM: BKPT 0xAB; RISC-V: the slli/ebreak/srai sequence), as
 * QEMU implements it with -semihosting-config enable=on.  Verification only: never part of a model. */
#ifndef EDGEC_SEMIHOST_H
#define EDGEC_SEMIHOST_H
#include <stddef.h>
#include <stdint.h>

enum { SH_OPEN = 0x01, SH_CLOSE = 0x02, SH_WRITE0 = 0x04, SH_WRITE = 0x05, SH_READ = 0x06, SH_EXIT_EXTENDED = 0x20 };
enum { SH_MODE_RB = 1, SH_MODE_WB = 5 };

static inline intptr_t sh_call(intptr_t op, const void *arg)
{
#if defined(__riscv)
    register intptr_t a0 __asm__("a0") = op;
    register const void *a1 __asm__("a1") = arg;
    /* The three words must lie in one page (QEMU checks), hence the 16-byte alignment.  It is
     * padded before .option norvc: under norvc gas pads with 4-byte nops only (12 bytes for 16),
     * but linker relaxation may leave the code before it on any 2-byte boundary, and then
     * R_RISCV_ALIGN needs 14 ("14 bytes required for alignment ... can't relax section"). */
    __asm__ volatile(".option push\n.balign 16\n.option norvc\n"
                     "slli x0, x0, 0x1f\nebreak\nsrai x0, x0, 7\n.option pop\n" : "+r"(a0) : "r"(a1) : "memory");
    return a0;
#else
    register intptr_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
#endif
}
static inline intptr_t sh_open(const char *name, intptr_t mode)
{
    size_t n = 0;
    intptr_t a[3];
    while (name[n]) n++;
    a[0] = (intptr_t)name; a[1] = mode; a[2] = (intptr_t)n;
    return sh_call(SH_OPEN, a);
}
static inline void sh_close(intptr_t fd) { intptr_t a[1]; a[0] = fd; sh_call(SH_CLOSE, a); }
/* bytes transferred */
static inline intptr_t sh_read(intptr_t fd, void *buf, intptr_t n)
{ intptr_t a[3]; a[0] = fd; a[1] = (intptr_t)buf; a[2] = n; return n - sh_call(SH_READ, a); }
static inline intptr_t sh_write(intptr_t fd, const void *buf, intptr_t n)
{ intptr_t a[3]; a[0] = fd; a[1] = (intptr_t)buf; a[2] = n; return n - sh_call(SH_WRITE, a); }
static inline void sh_puts(const char *s) { sh_call(SH_WRITE0, s); }
/* The stack pointer, for the harness's stack high-water mark. */
static inline uintptr_t sh_sp(void)
{
    uintptr_t sp;
#if defined(__riscv)
    __asm__ volatile("mv %0, sp" : "=r"(sp));
#else
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#endif
    return sp;
}
/* QEMU exits with exactly `code`. */
static inline __attribute__((noreturn)) void sh_exit(int code)
{ intptr_t a[2]; a[0] = 0x20026; a[1] = code; sh_call(SH_EXIT_EXTENDED, a); for (;;) {} }
#endif
