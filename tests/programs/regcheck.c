/*
 * regcheck.c: do a task's vector registers survive being switched out, in threads and
 * processes, with timer signals arriving? Run inside the lab guest, where every switch is
 * UML saving and restoring registers through ptrace (and on AVX-512/AMX hosts, through the
 * lab's register fix-up).
 *
 *   regcheck THREADS PROCESSES ROUNDS [clobber]
 *
 * Each thread of each process loads every vector register (zmm0-31 with AVX-512, else
 * ymm0-15, else xmm0-15) with a pattern of its own, makes system calls that yield the CPU,
 * stores the registers and compares, ROUNDS times. A SIGALRM timer fires throughout; its
 * handler touches no vector register. Exit 0 when every register came back whole, 1 when
 * one did not. "clobber" zeroes xmm1 inside the loop on purpose: the check must then fail,
 * which proves it can.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vector_registers.h"

#define YIELDS 64 /* sched_yield calls per round, between loading and storing */

static volatile sig_atomic_t alarms;
static int rounds;
static int clobber;

struct task {
	uint8_t in[32][64] __attribute__((aligned(64)));
	uint8_t out[32][64] __attribute__((aligned(64)));
	int id, wrong, regs, width;
};

#define YIELD_LOOP                                                                         \
	"test %[clobber], %[clobber]\n\t"                                                  \
	"jz 2f\n\t"                                                                        \
	"pxor %%xmm1, %%xmm1\n\t"                                                          \
	"2:\n\t"                                                                           \
	"mov %[n], %%r12d\n\t"                                                             \
	"1:\n\t"                                                                           \
	"mov %[nr], %%eax\n\t"                                                             \
	"syscall\n\t"                                                                      \
	"dec %%r12d\n\t"                                                                   \
	"jnz 1b\n\t"
#define ROUND_OPERANDS                                                                     \
	: [in] "r"(t->in), [out] "r"(t->out), [nr] "i"(SYS_sched_yield), [n] "i"(YIELDS),     \
	  [clobber] "r"(clobber)

__attribute__((target("avx512f"))) static void round_zmm(struct task *t)
{
	asm volatile(ZMM_LOADS YIELD_LOOP ZMM_STORES : ROUND_OPERANDS
		     : "rax", "rcx", "r11", "r12", "memory", ZMM_CLOBBERS);
}

__attribute__((target("avx"))) static void round_ymm(struct task *t)
{
	asm volatile(YMM_LOADS YIELD_LOOP YMM_STORES : ROUND_OPERANDS
		     : "rax", "rcx", "r11", "r12", "memory", XMM_CLOBBERS);
}

static void round_xmm(struct task *t)
{
	asm volatile(XMM_LOADS YIELD_LOOP XMM_STORES : ROUND_OPERANDS
		     : "rax", "rcx", "r11", "r12", "memory", XMM_CLOBBERS);
}

static void *run(void *arg)
{
	struct task *t = arg;
	void (*one_round)(struct task *) = __builtin_cpu_supports("avx512f") ? round_zmm
					   : __builtin_cpu_supports("avx")   ? round_ymm
									     : round_xmm;

	t->regs = __builtin_cpu_supports("avx512f") ? 32 : 16;
	t->width = __builtin_cpu_supports("avx512f") ? 64 : __builtin_cpu_supports("avx") ? 32 : 16;
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < 32; i++)
			for (int b = 0; b < 64; b++)
				t->in[i][b] = (uint8_t)(t->id * 31 + r * 17 + i * 7 + b * 13 + 1);
		memset(t->out, 0, sizeof(t->out));
		one_round(t);
		for (int i = 0; i < t->regs; i++)
			if (memcmp(t->in[i], t->out[i], t->width) != 0) {
				printf("task %d round %d: register %d came back wrong\n", t->id, r, i);
				t->wrong++;
			}
	}
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static int process(int index, int threads)
{
	struct sigaction action = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
	struct itimerval every_ms = {{0, 1000}, {0, 1000}};
	pthread_t ids[64];
	struct task *tasks = aligned_alloc(64, sizeof(struct task) * threads);
	int wrong = 0;

	sigaction(SIGALRM, &action, NULL);
	setitimer(ITIMER_REAL, &every_ms, NULL);
	for (int i = 0; i < threads; i++) {
		tasks[i].id = index * 64 + i;
		tasks[i].wrong = 0;
		pthread_create(&ids[i], NULL, run, &tasks[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(ids[i], NULL);
		wrong += tasks[i].wrong;
	}
	printf("process %d: %d threads x %d rounds of %d registers x %d bytes, %d alarms, "
	       "%d wrong\n",
	       index, threads, rounds, tasks[0].regs, tasks[0].width, (int)alarms, wrong);
	fflush(stdout);
	return wrong ? 1 : 0;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 4;
	int processes = argc > 2 ? atoi(argv[2]) : 2;
	int failed = 0, status;

	rounds = argc > 3 ? atoi(argv[3]) : 200;
	clobber = argc > 4 && strcmp(argv[4], "clobber") == 0;
	if (threads < 1 || threads > 64 || processes < 1)
		return 2;
	for (int p = 0; p < processes; p++)
		if (fork() == 0)
			_exit(process(p, threads));
	while (wait(&status) > 0)
		failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	return failed;
}
