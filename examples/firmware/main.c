/* Firmware example: classify one digit with the edgec-generated model and print the result through
 * semihosting.  Exit code 0 when the prediction matches the label. */
#include <stdint.h>
#include "model.h"
#include "sample.h"
#include "semihost.h"

static int8_t scores[EDGEC_DIGITS_CNN_OUTPUT_SIZE];

int main(void)
{
    char msg[] = "predicted digit: ? (label ?)\n";
    int32_t i, best = 0;
    edgec_digits_cnn_run(example_sample, scores);
    for (i = 1; i < EDGEC_DIGITS_CNN_OUTPUT_SIZE; i++)
        if (scores[i] > scores[best])
            best = i;
    msg[17] = (char)('0' + best);
    msg[26] = (char)('0' + EXAMPLE_LABEL);
    sh_puts(msg);
    return best == EXAMPLE_LABEL ? 0 : 1;
}
