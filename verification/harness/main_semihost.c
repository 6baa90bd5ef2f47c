/* Emulator harness: for each sample in "in.bin" (EDGEC_IN_BYTES each) run the model and append its
 * output (EDGEC_OUT_BYTES) to "out.bin".  Exit code 0 on success, 1 when a file cannot be opened.
 * Stack high-water mark: the free stack below main's frame is painted before the first sample and
 * scanned after the last; "stack.txt" gets how far below the stack pointer at the model's call any
 * byte was touched (the model's run() and everything it calls). */
#include <stdint.h>
#include "semihost.h"
#include "model.h"

#define PAINT 0xA5u
extern uint8_t _ebss[];                      /* the stack grows down towards the end of .bss */
static int8_t sample_in[EDGEC_IN_BYTES];
static int8_t sample_out[EDGEC_OUT_BYTES];

static __attribute__((noinline)) void paint(uint8_t *top)
{
    uint8_t *p;
    for (p = _ebss; p < top; p++)
        *(volatile uint8_t *)p = PAINT;
}

static __attribute__((noinline)) uintptr_t deepest(void)
{
    const uint8_t *p = _ebss;
    while (*(volatile const uint8_t *)p == PAINT)
        p++;
    return (uintptr_t)p;
}

static void put_decimal(intptr_t fd, uint32_t v)
{
    char buf[12];
    int n = 11;
    buf[n] = '\n';
    do {
        buf[--n] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    sh_write(fd, buf + n, 12 - n);
}

int main(void)
{
    const uintptr_t sp = sh_sp();             /* main's frame is complete: the model's stack starts here */
    uint8_t *top = (uint8_t *)(sp - 32);     /* paint() is a leaf: no frame below sp to spare but its call */
    intptr_t in = sh_open("in.bin", SH_MODE_RB), out = sh_open("out.bin", SH_MODE_WB), st;
    if (in < 0 || out < 0)
        return 1;
    paint(top);
    while (sh_read(in, sample_in, EDGEC_IN_BYTES) == EDGEC_IN_BYTES) {
#ifdef EDGEC_RESET
        EDGEC_RESET();                          /* --reset-each: every sample from the initial state */
#endif
        EDGEC_RUN((void *)sample_in, (void *)sample_out);   /* void *: the API may take uint8_t (uint8 edges) */
        sh_write(out, sample_out, EDGEC_OUT_BYTES);
    }
    sh_close(in);
    sh_close(out);
    st = sh_open("stack.txt", SH_MODE_WB);
    if (st >= 0) {
        put_decimal(st, (uint32_t)(sp - deepest()));
        sh_close(st);
    }
    return 0;
}
