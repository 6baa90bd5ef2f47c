/* Emulator harness: for each sample in "in.bin" (EDGEC_IN_BYTES each) run the model and append its
 * output (EDGEC_OUT_BYTES) to "out.bin".  Exit code 0 on success, 1 when a file cannot be opened. */
#include <stdint.h>
#include "semihost.h"
#include "model.h"

static int8_t sample_in[EDGEC_IN_BYTES];
static int8_t sample_out[EDGEC_OUT_BYTES];

int main(void)
{
    intptr_t in = sh_open("in.bin", SH_MODE_RB), out = sh_open("out.bin", SH_MODE_WB);
    if (in < 0 || out < 0)
        return 1;
    while (sh_read(in, sample_in, EDGEC_IN_BYTES) == EDGEC_IN_BYTES) {
        EDGEC_RUN(sample_in, sample_out);
        sh_write(out, sample_out, EDGEC_OUT_BYTES);
    }
    sh_close(in);
    sh_close(out);
    return 0;
}
