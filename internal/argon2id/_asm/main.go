// Command _asm writes block_amd64.s, the AVX2 compression function G of
// RFC 9106 §3.5 for package argon2id. Run it through "go generate" in the
// package directory.
//
// A block is 128 little-endian 64-bit words. G computes R = X xor Y, applies
// the permutation P (§3.6) to each of the 8 rows of R (row i is words
// 16i..16i+15), then to each of the 8 columns (column i is words 2i, 2i+1,
// 2i+16, 2i+17, ..., 2i+112, 2i+113), and returns Z xor R.
//
// P works on 16 words v0..v15 seen as a 4x4 matrix. Each P here keeps the
// matrix in four YMM registers, one matrix row of four words each:
//
//	A = v0  v1  v2  v3
//	B = v4  v5  v6  v7
//	C = v8  v9  v10 v11
//	D = v12 v13 v14 v15
//
// so the four GB of the column step are one GB on A, B, C, D lane by lane.
// For the diagonal step B, C and D are rotated left by one, two and three
// lanes (VPERMQ), which lines up v5, v10, v15 under v0, and so on; they are
// rotated back afterwards. Two P run interleaved to hide latencies.
//
// For the rows of a block the four registers of a P are plain 32-byte loads.
// For column i they are pairs of 16-byte loads: A is words 2i, 2i+1 (low
// lane pair) and 2i+16, 2i+17 (high lane pair), B the same 32 words further,
// and so on.
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// matrix is the 4x4 word matrix of one P, one register per matrix row.
type matrix struct{ a, b, c, d Register }

// masks holds the VPSHUFB masks for the byte-wise rotations.
type masks struct{ rot24, rot16 Register }

func main() {
	ConstraintExpr("amd64,!purego")

	rot24 := rotationMask("rotr24", 3)
	rot16 := rotationMask("rotr16", 2)

	TEXT("processBlockAVX2", 0, "func(out, in1, in2 *[128]uint64, xor bool)")
	Doc(
		"processBlockAVX2 is the compression function G of RFC 9106 §3.5 with AVX2:",
		"out = G(in1, in2), or out ^= G(in1, in2) when xor is set. out may be the",
		"same block as in1 or in2.",
	)
	out := Mem{Base: Load(Param("out"), GP64())}
	in1 := Mem{Base: Load(Param("in1"), GP64())}
	in2 := Mem{Base: Load(Param("in2"), GP64())}

	// r holds R = X xor Y (or, for the xor form, R xor the old out), q the
	// block after the row pass.
	r := AllocLocal(2048)
	q := r.Offset(1024)

	m := masks{rot24: Y14, rot16: Y15}
	VMOVDQU(rot24, m.rot24)
	VMOVDQU(rot16, m.rot16)

	Comment("Rows: R = in1 xor in2 is kept for the end; P of each row goes to q.")
	for row := 0; row < 8; row += 2 {
		ms := matrices()
		for k, mx := range ms {
			for i, v := range mx.regs() {
				off := 128*(row+k) + 32*i
				VMOVDQU(in1.Offset(off), v)
				VPXOR(in2.Offset(off), v, v)
				VMOVDQU(v, r.Offset(off))
			}
		}
		permute(ms, m)
		for k, mx := range ms {
			for i, v := range mx.regs() {
				VMOVDQU(v, q.Offset(128*(row+k)+32*i))
			}
		}
	}

	Comment("With xor, the old out is folded into R before any word of out is written.")
	xor := Load(Param("xor"), GP8())
	TESTB(xor, xor)
	JZ(LabelRef("columns"))
	for off := 0; off < 1024; off += 64 {
		t0, t1 := Y0, Y1
		VMOVDQU(r.Offset(off), t0)
		VMOVDQU(r.Offset(off+32), t1)
		VPXOR(out.Offset(off), t0, t0)
		VPXOR(out.Offset(off+32), t1, t1)
		VMOVDQU(t0, r.Offset(off))
		VMOVDQU(t1, r.Offset(off+32))
	}

	Label("columns")
	Comment("Columns: P of each column of q, xor R, to out.")
	for col := 0; col < 8; col += 2 {
		ms := matrices()
		for k, mx := range ms {
			for i, v := range mx.regs() {
				off := 16*(col+k) + 256*i
				VMOVDQU(q.Offset(off), v.(VecPhysical).AsX())
				VINSERTI128(U8(1), q.Offset(off+128), v, v)
			}
		}
		permute(ms, m)
		for k, mx := range ms {
			for i, v := range mx.regs() {
				off := 16*(col+k) + 256*i
				t := Y8
				VMOVDQU(r.Offset(off), t.AsX())
				VINSERTI128(U8(1), r.Offset(off+128), t, t)
				VPXOR(t, v, v)
				VMOVDQU(v.(VecPhysical).AsX(), out.Offset(off))
				VEXTRACTI128(U8(1), v, out.Offset(off+128))
			}
		}
	}

	VZEROUPPER()
	RET()

	Generate()
}

// matrices returns the two matrices that P works on side by side, in Y0-Y7.
func matrices() []matrix {
	return []matrix{{Y0, Y1, Y2, Y3}, {Y4, Y5, Y6, Y7}}
}

func (m matrix) regs() []Register { return []Register{m.a, m.b, m.c, m.d} }

// rotationMask declares a 32-byte VPSHUFB mask that rotates each 64-bit
// word right by n bytes.
func rotationMask(name string, n int) Mem {
	mem := GLOBL(name, RODATA|NOPTR)
	for lane := 0; lane < 4; lane++ {
		var w uint64
		for j := 0; j < 8; j++ {
			// Byte j of a rotated word is byte j+n of the word; VPSHUFB
			// indexes within a 16-byte half, so the second word of each half
			// adds 8.
			src := uint64((j+n)%8 + 8*(lane%2))
			w |= src << (8 * j)
		}
		DATA(8*lane, U64(w))
	}
	return mem
}

// permute applies P to each of the matrices, their instructions interleaved.
func permute(ms []matrix, m masks) {
	t := []Register{Y8, Y9}[:len(ms)]
	pick := func(f func(matrix) Register) []Register {
		rs := make([]Register, len(ms))
		for i, mx := range ms {
			rs[i] = f(mx)
		}
		return rs
	}
	a := pick(func(x matrix) Register { return x.a })
	b := pick(func(x matrix) Register { return x.b })
	c := pick(func(x matrix) Register { return x.c })
	d := pick(func(x matrix) Register { return x.d })

	gb(a, b, c, d, t, m)
	rotateLanes(b, 1)
	rotateLanes(c, 2)
	rotateLanes(d, 3)
	gb(a, b, c, d, t, m)
	rotateLanes(b, 3)
	rotateLanes(c, 2)
	rotateLanes(d, 1)
}

// gb is GB of RFC 9106 §3.6 on each lane of a, b, c, d.
func gb(a, b, c, d, t []Register, m masks) {
	mix(a, b, t)
	xorShuffle(d, a, func(x Register) { VPSHUFD(U8(0xb1), x, x) }) // rotate right 32
	mix(c, d, t)
	xorShuffle(b, c, func(x Register) { VPSHUFB(m.rot24, x, x) })
	mix(a, b, t)
	xorShuffle(d, a, func(x Register) { VPSHUFB(m.rot16, x, x) })
	mix(c, d, t)
	for i := range b {
		VPXOR(c[i], b[i], b[i])
	}
	// Rotate right 63 = rotate left 1.
	for i := range b {
		VPADDQ(b[i], b[i], t[i])
	}
	for i := range b {
		VPSRLQ(U8(63), b[i], b[i])
	}
	for i := range b {
		VPOR(t[i], b[i], b[i])
	}
}

// mix is x = x + y + 2*lo32(x)*lo32(y) on each lane.
func mix(x, y, t []Register) {
	for i := range x {
		VPMULUDQ(y[i], x[i], t[i])
	}
	for i := range x {
		VPADDQ(y[i], x[i], x[i])
	}
	for i := range x {
		VPADDQ(t[i], t[i], t[i])
	}
	for i := range x {
		VPADDQ(t[i], x[i], x[i])
	}
}

// xorShuffle is x = rot(x xor y) on each lane.
func xorShuffle(x, y []Register, rot func(Register)) {
	for i := range x {
		VPXOR(y[i], x[i], x[i])
	}
	for i := range x {
		rot(x[i])
	}
}

// rotateLanes rotates each register left by n 64-bit lanes: lane k of the
// result is lane k+n mod 4.
func rotateLanes(rs []Register, n int) {
	var imm uint8
	for k := 0; k < 4; k++ {
		imm |= uint8((k+n)%4) << (2 * k)
	}
	for _, x := range rs {
		VPERMQ(U8(imm), x, x)
	}
}
