/* AVR harness for avrrun: stdin = sample count (uint32, little-endian) then the samples
 * (EDGEC_IN_BYTES each); each output (EDGEC_OUT_BYTES) goes to stdout; exit code 0.
 * The ATmega's GPIOR registers are avrrun's I/O ports (see avrrun.c). */
#include <stdint.h>
#include <avr/io.h>
#include "model.h"

static int8_t sample_in[EDGEC_IN_BYTES];
static int8_t sample_out[EDGEC_OUT_BYTES];

int main(void)
{
    uint32_t n = 0, s;
    uint8_t i;
    for (i = 0; i < 4; i++)
        n |= (uint32_t)GPIOR1 << (8 * i);
    for (s = 0; s < n; s++) {
        uint16_t k;
        for (k = 0; k < EDGEC_IN_BYTES; k++)
            sample_in[k] = (int8_t)GPIOR1;
#ifdef EDGEC_RESET
        EDGEC_RESET();                          /* --reset-each: every sample from the initial state */
#endif
        EDGEC_RUN((void *)sample_in, (void *)sample_out);   /* void *: the API may take uint8_t (uint8 edges) */
        for (k = 0; k < EDGEC_OUT_BYTES; k++)
            GPIOR0 = (uint8_t)sample_out[k];
    }
    GPIOR2 = 0;
    for (;;) {
    }
}
