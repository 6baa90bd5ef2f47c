/* Host harness: int8 samples on stdin (EDGEC_IN_BYTES each), outputs on stdout. */
#include <stdint.h>
#include <stdio.h>
#include "model.h"

static int8_t sample_in[EDGEC_IN_BYTES];
static int8_t sample_out[EDGEC_OUT_BYTES];

int main(void)
{
    while (fread(sample_in, 1, sizeof sample_in, stdin) == sizeof sample_in) {
#ifdef EDGEC_RESET
        EDGEC_RESET();                          /* --reset-each: every sample from the initial state */
#endif
        EDGEC_RUN((void *)sample_in, (void *)sample_out);   /* void *: the API may take uint8_t (uint8 edges) */
        if (fwrite(sample_out, 1, sizeof sample_out, stdout) != sizeof sample_out)
            return 1;
    }
    return 0;
}
