/* A signed 32-bit integer as decimal text, for harness programs that print over a UART or stdout
 * without printf (the freestanding cross toolchains have no libc).  INT32_MIN included. */
#ifndef EDGEC_HARNESS_DECIMAL_H
#define EDGEC_HARNESS_DECIMAL_H
#include <stdint.h>

/* Writes the digits into the end of b and returns where they start (NUL-terminated). */
static char *edgec_decimal(int32_t v, char b[12])
{
    int n = 11;
    uint32_t u = v < 0 ? (uint32_t)(-(v + 1)) + 1u : (uint32_t)v;
    b[n] = 0;
    do {
        b[--n] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u);
    if (v < 0)
        b[--n] = '-';
    return b + n;
}
#endif
