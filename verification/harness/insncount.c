/* QEMU TCG plugin for the verification harness: how many times each guest instruction executed and,
 * given a cost table, the cycles that costs on the core the table models (compiler/cycles.py).
 * QEMU 7.2 (Debian) supports plugins but ships neither plugins nor qemu-plugin.h, so the few plugin
 * API v1 entry points used are declared here.
 *   build: cc -shared -fPIC -O2 -o insncount.so insncount.c
 *   use:   qemu-system-arm ... -plugin ./insncount.so,out=profile.txt[,marks=marks.txt][,costs=costs.txt]
 * profile.txt: "total N [C]", then "pc count [cycles]" (hex pc) per executed instruction address.
 * marks.txt: one hex pc per line, the call sites of the model's layers.  For each mark the profile
 * also gets "mark i n [c]": the instructions (cycles) from that mark to the next mark reached, summed
 * over every time it ran - the cost of one kernel call, per call site.
 * costs.txt: "pc base refill" per instruction (hex pc): every execution costs `base` cycles, and
 * `refill` more when control then leaves it for a non-sequential address (a taken branch: the
 * pipeline refill).  Taken branches are seen at translation-block granularity: a block ends at each
 * branch, and the next block to execute either starts right after it (not taken) or elsewhere. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0 };
extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, void (*)(qemu_plugin_id_t, struct qemu_plugin_tb *));
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, void (*)(qemu_plugin_id_t, void *), void *);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
extern struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
extern uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
extern size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *);
extern void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *, enum qemu_plugin_op, void *, uint64_t);
extern void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *, void (*)(unsigned int, void *), int, void *);
extern void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *, void (*)(unsigned int, void *), int, void *);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define SLOTS (1u << 20)                 /* open addressing on pc; far more than any model's code */
static uint64_t *pcs, *hits, *taken, total, cycles;   /* pcs[i] = pc + 1, 0 = empty */
static uint32_t *base_cost, *refill_cost;              /* per slot, from costs.txt */
static int have_costs;
static char out_path[4096];
#define MAX_MARKS 4096
static uint64_t mark_pc[MAX_MARKS], mark_sum[MAX_MARKS], mark_cyc[MAX_MARKS], last_total, last_cycles;
static long n_marks, current = -1;

/* What the block-exec callback needs of a translated block's last instruction. */
struct tb_end { uint64_t next_pc, start; uint32_t refill; uint64_t *taken; };
static struct tb_end *prev_tb;

static void on_mark(unsigned int vcpu, void *index)
{
    (void)vcpu;
    if (current >= 0) {
        mark_sum[current] += total - last_total;
        mark_cyc[current] += cycles - last_cycles;
    }
    current = (long)(intptr_t)index;
    last_total = total;
    last_cycles = cycles;
}

static uint32_t slot(uint64_t pc)
{
    uint32_t i = (uint32_t)((pc * 0x9E3779B97F4A7C15ull) >> 44);
    while (pcs[i] && pcs[i] != pc + 1)
        i = (i + 1) & (SLOTS - 1);
    pcs[i] = pc + 1;
    return i;
}

static void on_tb_exec(unsigned int vcpu, void *udata)
{
    struct tb_end *tb = udata;
    (void)vcpu;
    if (prev_tb && prev_tb->refill && tb->start != prev_tb->next_pc) {
        cycles += prev_tb->refill;
        (*prev_tb->taken)++;
    }
    prev_tb = tb;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        uint32_t s = slot(pc);
        long m;
        for (m = 0; m < n_marks; m++)             /* before the counters: a mark sees the totals so far */
            if (mark_pc[m] == pc)
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, 0, (void *)(intptr_t)m);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &hits[s], 1);
        if (have_costs && base_cost[s])
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &cycles, base_cost[s]);
        if (have_costs && i == n - 1) {
            struct tb_end *end = calloc(1, sizeof *end);
            if (!end)
                abort();
            end->start = qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, 0));
            end->next_pc = pc + qemu_plugin_insn_size(insn);
            end->refill = refill_cost[s];
            end->taken = &taken[s];
            qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec, QEMU_PLUGIN_CB_NO_REGS, end);
        }
    }
}

static void write_profile(qemu_plugin_id_t id, void *unused)
{
    FILE *f = fopen(out_path, "w");
    uint32_t i;
    (void)id; (void)unused;
    if (!f)
        return;
    if (have_costs) {
        fprintf(f, "total %llu %llu\n", (unsigned long long)total, (unsigned long long)cycles);
        for (i = 0; i < (uint32_t)n_marks; i++)
            fprintf(f, "mark %u %llu %llu\n", i, (unsigned long long)mark_sum[i], (unsigned long long)mark_cyc[i]);
        for (i = 0; i < SLOTS; i++)
            if (pcs[i] && hits[i])
                fprintf(f, "%llx %llu %llu\n", (unsigned long long)(pcs[i] - 1), (unsigned long long)hits[i],
                        (unsigned long long)(hits[i] * base_cost[i] + taken[i] * refill_cost[i]));
    } else {
        fprintf(f, "total %llu\n", (unsigned long long)total);
        for (i = 0; i < (uint32_t)n_marks; i++)
            fprintf(f, "mark %u %llu\n", i, (unsigned long long)mark_sum[i]);
        for (i = 0; i < SLOTS; i++)
            if (pcs[i] && hits[i])
                fprintf(f, "%llx %llu\n", (unsigned long long)(pcs[i] - 1), (unsigned long long)hits[i]);
    }
    fclose(f);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int a;
    (void)info;
    pcs = calloc(SLOTS, sizeof *pcs);
    hits = calloc(SLOTS, sizeof *hits);
    taken = calloc(SLOTS, sizeof *taken);
    base_cost = calloc(SLOTS, sizeof *base_cost);
    refill_cost = calloc(SLOTS, sizeof *refill_cost);
    if (!pcs || !hits || !taken || !base_cost || !refill_cost)
        return -1;
    for (a = 0; a < argc; a++) {
        FILE *f;
        if (strncmp(argv[a], "out=", 4) == 0 && strlen(argv[a] + 4) < sizeof out_path) {
            strcpy(out_path, argv[a] + 4);
            continue;
        }
        f = strncmp(argv[a], "marks=", 6) == 0 ? fopen(argv[a] + 6, "r")
          : strncmp(argv[a], "costs=", 6) == 0 ? fopen(argv[a] + 6, "r") : NULL;
        if (!f) {
            fprintf(stderr, "insncount: usage: -plugin insncount.so,out=FILE[,marks=FILE][,costs=FILE] (bad: %s)\n", argv[a]);
            return -1;
        }
        if (argv[a][0] == 'm') {
            unsigned long long v;
            while (n_marks < MAX_MARKS && fscanf(f, "%llx", &v) == 1)
                mark_pc[n_marks++] = v;
        } else {
            unsigned long long pc;
            unsigned b, r;
            while (fscanf(f, "%llx %u %u", &pc, &b, &r) == 3) {
                uint32_t s = slot(pc);
                base_cost[s] = b;
                refill_cost[s] = r;
            }
            have_costs = 1;
        }
        fclose(f);
    }
    if (!out_path[0]) {
        fprintf(stderr, "insncount: out=FILE is required\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_profile, NULL);
    return 0;
}
