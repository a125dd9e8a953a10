/*
 * vector_registers.h: the register lists that the register tests (xstate_check.c and
 * regcheck.c) load before, and store after, the code whose effect on them they check.
 *
 * Each *_LOADS string loads every register of its width from operand %[in] (64 bytes per
 * register), each *_STORES string stores them to %[out], and each *_CLOBBERS list tells the
 * compiler they change. AVX-512's list must sit in a function built for avx512f, AVX's in one
 * built for avx.
 */
#ifndef VECTOR_REGISTERS_H
#define VECTOR_REGISTERS_H

#define EACH16(X)                                                                          \
	X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define EACH32(X)                                                                          \
	EACH16(X) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23) X(24) X(25) X(26) X(27)   \
	    X(28) X(29) X(30) X(31)

#define LOAD_ZMM(n) "vmovdqu64 " #n "*64(%[in]), %%zmm" #n "\n\t"
#define STORE_ZMM(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%[out])\n\t"
#define LOAD_YMM(n) "vmovdqu " #n "*64(%[in]), %%ymm" #n "\n\t"
#define STORE_YMM(n) "vmovdqu %%ymm" #n ", " #n "*64(%[out])\n\t"
#define LOAD_XMM(n) "movdqu " #n "*64(%[in]), %%xmm" #n "\n\t"
#define STORE_XMM(n) "movdqu %%xmm" #n ", " #n "*64(%[out])\n\t"

#define ZMM_LOADS EACH32(LOAD_ZMM)
#define ZMM_STORES EACH32(STORE_ZMM)
#define YMM_LOADS EACH16(LOAD_YMM)
#define YMM_STORES EACH16(STORE_YMM)
#define XMM_LOADS EACH16(LOAD_XMM)
#define XMM_STORES EACH16(STORE_XMM)

#define XMM_CLOBBERS                                                                       \
	"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", \
	    "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"
#define ZMM_CLOBBERS                                                                       \
	XMM_CLOBBERS, "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",  \
	    "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31"

#endif
