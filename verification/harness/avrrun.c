/* AVR runner of the verification harness, on libsimavr (cycle-exact ATmega simulation).
 * Stock `simavr` always exits 0 and prints no cycle count; this runner gives binary stdin/stdout,
 * the firmware's exit code and, per executed flash address, instructions and cycles.
 *   build: cc -O2 -I/usr/include/simavr -o avrrun avrrun.c -lsimavr     (libsimavr-dev)
 *   use:   avrrun [-m atmega328p] [-c max_cycles] [-p profile.txt] [-k marks.txt] [-s run_addr] fw.elf <in.bin >out.bin
 * Firmware side (data-space addresses of the ATmega328P's GPIOR0..2):
 *   GPIOR0 write: a byte to stdout      GPIOR1 read: the next stdin byte (0 at EOF)
 *   GPIOR2 write: exit(code)            cli + sleep also ends the run (exit 0)
 * profile.txt has the QEMU plugin's layout plus a cycles column: "total INSNS CYCLES", then for each
 * mark (hex flash byte addresses in marks.txt, the model's kernel call sites) "mark i insns cycles"
 * from that mark to the next mark reached, then "pc insns cycles" per executed address.
 * With -s (the byte address of the model's run function) it also gets "stack N": the most bytes of
 * stack in use below the caller's stack pointer at any call of it, return address included - the
 * exact high-water mark, read from SP after every instruction (no painting needed). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_io.h"

#define A_OUT  0x3E
#define A_IN   0x4A
#define A_EXIT 0x4B
#define MAX_MARKS 4096
static int done, exit_code;

static void w_out(avr_t *avr, avr_io_addr_t addr, uint8_t v, void *p)
{ (void)avr; (void)addr; (void)p; putchar(v); }
static uint8_t r_in(avr_t *avr, avr_io_addr_t addr, void *p)
{ (void)avr; (void)addr; (void)p; int c = getchar(); return c == EOF ? 0 : (uint8_t)c; }
static void w_exit(avr_t *avr, avr_io_addr_t addr, uint8_t v, void *p)
{ (void)avr; (void)addr; (void)p; exit_code = v; done = 1; }

/* simavr's loader printf()s "Loaded ..." to stdout, which carries the model's binary output. */
static int quiet_begin(void) { int saved; fflush(stdout); saved = dup(1); int n = open("/dev/null", O_WRONLY); dup2(n, 1); close(n); return saved; }
static void quiet_end(int saved) { fflush(stdout); dup2(saved, 1); close(saved); }

int main(int argc, char **argv)
{
    const char *mcu = "atmega328p", *prof_path = NULL, *marks_path = NULL;
    uint32_t run_addr = 0xFFFFFFFFu;
    long sp_call = -1, stack_max = 0;
    unsigned long long max_cycles = 0, mark_insns[MAX_MARKS] = {0}, mark_cycles[MAX_MARKS] = {0};
    unsigned long long insns = 0, last_insns = 0, last_cycles = 0, *pc_insns = NULL, *pc_cycles = NULL;
    uint32_t mark_pc[MAX_MARKS];
    long n_marks = 0, current = -1;
    int opt, saved, state = cpu_Running, rc;
    while ((opt = getopt(argc, argv, "m:c:p:k:s:")) != -1) {
        if (opt == 'm') mcu = optarg;
        else if (opt == 'c') max_cycles = strtoull(optarg, NULL, 0);
        else if (opt == 'p') prof_path = optarg;
        else if (opt == 'k') marks_path = optarg;
        else if (opt == 's') run_addr = (uint32_t)strtoul(optarg, NULL, 16);
        else return 64;
    }
    if (optind >= argc) { fprintf(stderr, "usage: avrrun [-m mcu] [-c max_cycles] [-p profile] [-k marks] fw.elf\n"); return 64; }
    if (marks_path) {
        FILE *mf = fopen(marks_path, "r");
        unsigned long v;
        if (!mf) { fprintf(stderr, "avrrun: cannot read %s\n", marks_path); return 66; }
        while (n_marks < MAX_MARKS && fscanf(mf, "%lx", &v) == 1) mark_pc[n_marks++] = (uint32_t)v;
        fclose(mf);
    }
    elf_firmware_t f;
    memset(&f, 0, sizeof f);
    saved = quiet_begin();
    int ok = elf_read_firmware(argv[optind], &f) == 0;
    quiet_end(saved);
    if (!ok) { fprintf(stderr, "avrrun: cannot read %s\n", argv[optind]); return 65; }
    if (!f.mmcu[0]) snprintf(f.mmcu, sizeof f.mmcu, "%s", mcu);
    if (!f.frequency) f.frequency = 16000000;
    avr_t *avr = avr_make_mcu_by_name(f.mmcu);
    if (!avr) { fprintf(stderr, "avrrun: unknown mcu %s\n", f.mmcu); return 65; }
    avr_init(avr);
    avr->log = 1;                       /* errors only */
    saved = quiet_begin();
    avr_load_firmware(avr, &f);
    quiet_end(saved);
    avr_register_io_write(avr, A_OUT, w_out, NULL);
    avr_register_io_read(avr, A_IN, r_in, NULL);
    avr_register_io_write(avr, A_EXIT, w_exit, NULL);
    if (prof_path) {
        pc_insns = calloc(avr->flashend + 1, sizeof *pc_insns);
        pc_cycles = calloc(avr->flashend + 1, sizeof *pc_cycles);
        if (!pc_insns || !pc_cycles) return 70;
    }
    while (!done && state != cpu_Done && state != cpu_Crashed) {
        uint32_t pc = avr->pc;          /* byte address of the instruction about to run */
        avr_cycle_count_t before = avr->cycle;
        long m;
        for (m = 0; m < n_marks; m++)
            if (mark_pc[m] == pc) {
                if (current >= 0) {
                    mark_insns[current] += insns - last_insns;
                    mark_cycles[current] += before - last_cycles;
                }
                current = m; last_insns = insns; last_cycles = before;
            }
        if (pc == run_addr)            /* entered run(): the call pushed 2 bytes of return address */
            sp_call = (long)(avr->data[0x5D] | (avr->data[0x5E] << 8)) + 2;
        state = avr_run(avr);          /* one instruction */
        insns++;
        if (sp_call >= 0) {
            long sp = (long)(avr->data[0x5D] | (avr->data[0x5E] << 8));
            if (sp_call - sp > stack_max)
                stack_max = sp_call - sp;
        }
        if (pc_insns && pc <= avr->flashend) { pc_insns[pc]++; pc_cycles[pc] += avr->cycle - before; }
        if (max_cycles && avr->cycle > max_cycles) { fprintf(stderr, "avrrun: cycle limit\n"); exit_code = 124; done = 1; }
    }
    fflush(stdout);
    rc = state == cpu_Crashed ? 134 : exit_code;
    if (prof_path) {
        FILE *pf = fopen(prof_path, "w");
        uint32_t a;
        if (!pf) { fprintf(stderr, "avrrun: cannot write %s\n", prof_path); return 66; }
        fprintf(pf, "total %llu %llu\n", insns, (unsigned long long)avr->cycle);
        if (sp_call >= 0)
            fprintf(pf, "stack %ld\n", stack_max);
        for (a = 0; a < (uint32_t)n_marks; a++) fprintf(pf, "mark %u %llu %llu\n", a, mark_insns[a], mark_cycles[a]);
        for (a = 0; a <= avr->flashend; a++)
            if (pc_insns[a]) fprintf(pf, "%x %llu %llu\n", a, pc_insns[a], pc_cycles[a]);
        fclose(pf);
    }
    fprintf(stderr, "avrrun: exit=%d cycles=%llu\n", rc, (unsigned long long)avr->cycle);
    avr_terminate(avr);
    return rc;
}
