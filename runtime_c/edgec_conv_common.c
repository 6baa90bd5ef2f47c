/* The conv kernels' shared helpers that are off their loops (edgec_conv_common.h): one copy in a
 * firmware however many of the conv files (edgec_conv2d_s8.c, edgec_conv2d_cols_s8.c,
 * edgec_depthwise_conv2d_s8.c) it links. */
#include "edgec_conv_common.h"

void edgec_outq_init(edgec_outq *o, const EDGEC_ROM edgec_conv2d_params *p, const EDGEC_ROM int32_t *multiplier,
                     const EDGEC_ROM int32_t *shift, int32_t channels)
{
    o->out_zp = p->out_zp;
    o->act_min = p->act_min;
    o->act_max = p->act_max;
    o->fast = edgec_rq_fast(multiplier, shift, channels, p->act_min, p->act_max);
}

int8_t edgec_requant_any(uint32_t bias, int32_t acc, const edgec_ch *c, const edgec_outq *o)
{
    return edgec_requant_s8(bias, acc, c->multiplier, c->shift, o->out_zp, o->act_min, o->act_max);
}
