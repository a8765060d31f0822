/*
 * seed_ref: a plain C + assembler build of the seed's loop (../../../shared/seed, smc.asm),
 * the reference that benchmarks/fidelity.py compares smclab against.
 *
 * The loop is the seed's, instruction for instruction (same registers: rax counter, r10 buffer,
 * r11 current slot, r12 end), assembled by GNU as.  The payload is a `ret` padded with nops to
 * 64 bytes, aligned 64, in .text, and the loop function follows it (aligned 64), as in smc.asm.
 * Only the timing is added: `lfence; rdtsc` before and after the loop (as smclab does), so the
 * function returns the TSC ticks spent in the loop; main() also brackets each call with
 * clock_gettime(CLOCK_MONOTONIC).
 *
 * The loop starts at byte LOOP_OFFSET of a 64-byte line (default 0x14: where nasm puts `.loop`
 * in the seed's smc.asm; the timing prologue is jumped over); the payload is aligned to
 * 2^PAYLOAD_ALIGN bytes (default 6, as the seed).  Both are -D compile-time knobs.
 *
 * Buffer placement: by default wherever mmap puts it, as the seed's main.c (far from the PIE's
 * .text); -d DELTA puts it DELTA bytes after the payload's page (smclab --layout near: 0x110000).
 * On the Zen 3 KVM guest this was written on, 4K/0 costs ~74 TSC ticks/iter with the buffer more
 * than ~1 TiB away from the code and ~89 within it; the other configurations do not care.
 *
 * Variants (-v):
 *   seed      rep movsb into the slot; call r11                       (smclab default)
 *   baseline  rep movsb into the slot; mfence; call payload (original) (--barrier mfence
 *                                                                        --call source)
 *   far       rep movsb into a RW data buffer far from code; call r11  (--store far)
 * Steps 0, 64, 2048 and 4096 are assembled as immediates (`lea r11, [r11 + STEP]`, as the
 * seed); any other step uses a register (`lea r11, [r11 + r8]`).
 *
 * usage: seed_ref [-b BUFFER_BYTES] [-s STEP] [-n ITERATIONS] [-r REPEATS] [-c CPU]
 *                 [-v seed|baseline|far] [-w WARMUP] [-d DELTA] [-j]
 * Prints one line per repeat and the median, or with -j one JSON object.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef LOOP_OFFSET
#define LOOP_OFFSET 0x14
#endif
#ifndef PAYLOAD_ALIGN
#define PAYLOAD_ALIGN 6
#endif
#define STR_(x) #x
#define STR(x) STR_(x)

/* uint64_t fn(void *buf, void *end, uint64_t iterations, int64_t far_delta, int64_t step)
 * rdi = buffer, rsi = buffer end, rdx = iterations, rcx = far buffer - buffer, r8 = step.
 * Returns the TSC ticks spent in exactly `iterations` iterations of the loop. */
__asm__(
    ".intel_syntax noprefix\n"
    ".text\n"
    ".p2align " STR(PAYLOAD_ALIGN) "\n"
    "seed_payload:\n"
    "    ret\n"
    "    .fill 63, 1, 0x90\n"

    ".macro SMC_LOOP name, step, kind\n"
    "    .p2align 6\n"
    "    .globl \\name\n"
    "    .type \\name, @function\n"
    "\\name:\n"
    "    push r10\n"
    "    push r11\n"
    "    push r12\n"
    "    mov r9, rcx\n"              /* far delta */
    "    mov rcx, rdx\n"             /* iterations */
    "    mov r10, rdi\n"             /* r10 points to begin of buffer */
    "    mov r11, rdi\n"             /* r11 points to current buffer position */
    "    mov r12, rsi\n"             /* r12 points to end of buffer */
    "    lfence\n"
    "    rdtsc\n"
    "    shl rdx, 32\n"
    "    or rax, rdx\n"
    "    push rax\n"
    "    lea rax, [rcx + 1]\n"       /* the seed's `dec rax; je` runs rax - 1 iterations */
    "    jmp \\name\\()_loop\n"
    "    .p2align 6, 0xcc\n"
    "    .skip " STR(LOOP_OFFSET) ", 0xcc\n"
    "\\name\\()_loop:\n"
    "    dec rax\n"
    "    je \\name\\()_end\n"
    "    mov rcx, 64\n"
    "  .if \\kind == 2\n"
    "    lea rdi, [r11 + r9]\n"      /* far: same slot offset in the data buffer */
    "  .else\n"
    "    mov rdi, r11\n"
    "  .endif\n"
    "    lea rsi, [rip + seed_payload]\n"
    "    rep movsb\n"
    "  .if \\kind == 1\n"
    "    mfence\n"
    "    call seed_payload\n"        /* the seed's baseline: the original, not the copy */
    "  .else\n"
    "    call r11\n"
    "  .endif\n"
    "    lea r11, [r11 + \\step]\n"
    "    cmp r11, r12\n"
    "    jb \\name\\()_next\n"
    "    mov r11, r10\n"
    "\\name\\()_next:\n"
    "    jmp \\name\\()_loop\n"
    "\\name\\()_end:\n"
    "    lfence\n"
    "    rdtsc\n"
    "    shl rdx, 32\n"
    "    or rax, rdx\n"
    "    pop rcx\n"
    "    sub rax, rcx\n"
    "    pop r12\n"
    "    pop r11\n"
    "    pop r10\n"
    "    ret\n"
    "    .size \\name, . - \\name\n"
    ".endm\n"

    "SMC_LOOP seed_0, 0, 0\n"
    "SMC_LOOP seed_64, 64, 0\n"
    "SMC_LOOP seed_2048, 2048, 0\n"
    "SMC_LOOP seed_4096, 4096, 0\n"
    "SMC_LOOP seed_reg, r8, 0\n"
    "SMC_LOOP baseline_0, 0, 1\n"
    "SMC_LOOP baseline_64, 64, 1\n"
    "SMC_LOOP baseline_2048, 2048, 1\n"
    "SMC_LOOP baseline_4096, 4096, 1\n"
    "SMC_LOOP baseline_reg, r8, 1\n"
    "SMC_LOOP far_0, 0, 2\n"
    "SMC_LOOP far_64, 64, 2\n"
    "SMC_LOOP far_2048, 2048, 2\n"
    "SMC_LOOP far_4096, 4096, 2\n"
    "SMC_LOOP far_reg, r8, 2\n"
    ".att_syntax prefix\n");

typedef uint64_t (*loop_fn)(void *, void *, uint64_t, int64_t, int64_t);
extern char seed_payload[];
#define DECLARE(v)                                                                  \
    extern uint64_t v##_0(void *, void *, uint64_t, int64_t, int64_t);              \
    extern uint64_t v##_64(void *, void *, uint64_t, int64_t, int64_t);             \
    extern uint64_t v##_2048(void *, void *, uint64_t, int64_t, int64_t);           \
    extern uint64_t v##_4096(void *, void *, uint64_t, int64_t, int64_t);           \
    extern uint64_t v##_reg(void *, void *, uint64_t, int64_t, int64_t);
DECLARE(seed)
DECLARE(baseline)
DECLARE(far)

static loop_fn pick(const char *variant, long step) {
    static const struct {
        const char *name;
        loop_fn fns[5]; /* 0, 64, 2048, 4096, register */
    } table[] = {
        {"seed", {seed_0, seed_64, seed_2048, seed_4096, seed_reg}},
        {"baseline", {baseline_0, baseline_64, baseline_2048, baseline_4096, baseline_reg}},
        {"far", {far_0, far_64, far_2048, far_4096, far_reg}},
    };
    int i = step == 0 ? 0 : step == 64 ? 1 : step == 2048 ? 2 : step == 4096 ? 3 : 4;
    for (size_t v = 0; v < sizeof table / sizeof table[0]; v++)
        if (strcmp(table[v].name, variant) == 0) return table[v].fns[i];
    return NULL;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n) {
    double *s = malloc(sizeof(double) * (size_t)n);
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [-b BUFFER_BYTES] [-s STEP] [-n ITERATIONS] [-r REPEATS] [-c CPU]\n"
            "          [-v seed|baseline|far] [-w WARMUP] [-d DELTA] [-j]\n",
            argv0);
}

int main(int argc, char **argv) {
    long buffer = 4096, step = 0, repeats = 5, cpu = -1, warmup = 1000, delta = 0;
    unsigned long long iterations = 1000000;
    const char *variant = "seed";
    int json = 0, opt;
    while ((opt = getopt(argc, argv, "b:s:n:r:c:v:w:d:jh")) != -1) {
        switch (opt) {
        case 'b': buffer = strtol(optarg, NULL, 0); break;
        case 's': step = strtol(optarg, NULL, 0); break;
        case 'n': iterations = strtoull(optarg, NULL, 0); break;
        case 'r': repeats = strtol(optarg, NULL, 0); break;
        case 'c': cpu = strtol(optarg, NULL, 0); break;
        case 'v': variant = optarg; break;
        case 'w': warmup = strtol(optarg, NULL, 0); break;
        case 'd': delta = strtol(optarg, NULL, 0); break;
        case 'j': json = 1; break;
        default: usage(argv[0]); return 2;
        }
    }
    loop_fn fn = pick(variant, step);
    long page = sysconf(_SC_PAGESIZE);
    /* every slot the loop calls (offsets 0, step, 2*step, ... < buffer) must hold 64 bytes */
    long last_slot = step > 0 ? (buffer - 1) / step * step : 0;
    if (!fn || buffer <= 0 || buffer % page || step < 0 || last_slot + 64 > buffer ||
        iterations == 0 || repeats <= 0 || warmup < 0) {
        usage(argv[0]);
        return 2;
    }
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) {
            fprintf(stderr, "sched_setaffinity(%ld): %s\n", cpu, strerror(errno));
            return 1;
        }
    }
    /* -d DELTA: place the buffer DELTA bytes after the payload's page (smclab --layout near: 0x110000) */
    void *hint = delta ? (void *)(((uintptr_t)seed_payload & ~(uintptr_t)(page - 1)) + delta) : NULL;
    uint8_t *buf = mmap(hint, (size_t)buffer, PROT_READ | PROT_WRITE | PROT_EXEC,
                        MAP_ANONYMOUS | MAP_PRIVATE | (hint ? MAP_FIXED_NOREPLACE : 0), -1, 0);
    uint8_t *far = mmap(NULL, (size_t)buffer, PROT_READ | PROT_WRITE,
                        MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (buf == MAP_FAILED || far == MAP_FAILED) {
        fprintf(stderr, "mmap: %s\n", strerror(errno));
        return 1;
    }
    /* Pre-fill every slot the loop calls (as smclab does), so `far` calls valid code. */
    for (long off = 0; off <= last_slot; off += step ? step : buffer)
        memcpy(buf + off, seed_payload, 64);
    int64_t far_delta = (int64_t)(far - buf);

    if (warmup > 0) fn(buf, buf + buffer, (uint64_t)warmup, far_delta, step);
    double *ns = calloc((size_t)repeats, sizeof(double));
    double *ticks = calloc((size_t)repeats, sizeof(double));
    for (long r = 0; r < repeats; r++) {
        double t0 = now_ns();
        uint64_t t = fn(buf, buf + buffer, iterations, far_delta, step);
        double t1 = now_ns();
        ns[r] = (t1 - t0) / (double)iterations;
        ticks[r] = (double)t / (double)iterations;
    }
    double med_ns = median(ns, (int)repeats), med_ticks = median(ticks, (int)repeats);
    if (json) {
        printf("{\"variant\": \"%s\", \"buffer\": %ld, \"step\": %ld, \"iterations\": %llu, "
               "\"cpu\": %ld, \"loop\": \"%p\", \"ns_per_iter\": [",
               variant, buffer, step, iterations, cpu, (void *)fn);
        for (long r = 0; r < repeats; r++) printf("%s%.4f", r ? ", " : "", ns[r]);
        printf("], \"ticks_per_iter\": [");
        for (long r = 0; r < repeats; r++) printf("%s%.4f", r ? ", " : "", ticks[r]);
        printf("], \"median_ns\": %.4f, \"median_ticks\": %.4f}\n", med_ns, med_ticks);
    } else {
        printf("%s buffer=%ld step=%ld iterations=%llu cpu=%ld loop=%p\n", variant, buffer, step,
               iterations, cpu, (void *)fn);
        for (long r = 0; r < repeats; r++)
            printf("repeat %ld: %.3f ns/iter  %.2f ticks/iter\n", r, ns[r], ticks[r]);
        printf("median: %.3f ns/iter  %.2f ticks/iter\n", med_ns, med_ticks);
    }
    return 0;
}
