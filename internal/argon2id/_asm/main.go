// Command _asm writes block_amd64.s, the AVX2 compression function G of
// RFC 9106 §3.5 for package argon2id. Run it through "go generate" in the
// package directory.
//
// A block is 128 little-endian 64-bit words. G computes R = X xor Y, applies
// the permutation P (§3.6) to each of the 8 rows of R (row i is words
// 16i..16i+15), then to each of the 8 columns (column i is words 2i, 2i+1,
// 2i+16, 2i+17, ..., 2i+112, 2i+113), and returns Z xor R.
//
// P works on 16 words v0..v15 seen as a 4x4 matrix; a round is GB on its
// four columns (v0, v4, v8, v12), ..., (v3, v7, v11, v15), then on its four
// diagonals (v0, v5, v10, v15), (v1, v6, v11, v12), (v2, v7, v8, v13),
// (v3, v4, v9, v14). GB is written once for four lanes of 64 bits, so each
// step needs the words of four GB lined up lane by lane in four registers.
//
// Rows. A row is 16 consecutive words, loaded as four registers
//
//	A = v0  v1  v2  v3
//	B = v4  v5  v6  v7
//	C = v8  v9  v10 v11
//	D = v12 v13 v14 v15
//
// so the column step is GB on A, B, C, D. For the diagonal step B, C and D
// are rotated left by one, two and three lanes (VPERMQ), which puts v5,
// v10, v15 under v0 and so on; they are rotated back afterwards. Up to three
// rows run side by side, their instructions interleaved.
//
// Columns. Two columns, c and c+1 (c even), are done together in eight
// registers: register k holds words 16k+2c .. 16k+2c+3 of the block, that
// is words v2k, v2k+1 of column c in its low half and of column c+1 in its
// high half, a single 32-byte load. In each half
//
//	x0 = v0 v1    x2 = v4 v5    x4 = v8 v9     x6 = v12 v13
//	x1 = v2 v3    x3 = v6 v7    x5 = v10 v11   x7 = v14 v15
//
// so the column step is GB on (x0, x2, x4, x6) and on (x1, x3, x5, x7). The
// diagonal step is GB on (x0, v5 v6, x5, v15 v12) and on (x1, v7 v4, x4,
// v13 v14), where the mixed pairs come from VPALIGNR, which works within
// each half; four more VPALIGNR put them back.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// masks holds the VPSHUFB masks for the byte-wise rotations, in registers or
// in memory.
type masks struct{ rot24, rot16 Op }

// rowGroups lists how many rows the row pass works on side by side, in
// order (at most three fit in the 16 YMM registers).
var rowGroups = []int{2, 3, 3}

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
	compress(rot24, rot16)

	Generate()
}

var ys = []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}

// compress writes the body of G.
func compress(rot24, rot16 Mem) {
	out := Mem{Base: Load(Param("out"), GP64())}
	in1 := Mem{Base: Load(Param("in1"), GP64())}
	in2 := Mem{Base: Load(Param("in2"), GP64())}
	xor := Load(Param("xor"), GP8())

	// r holds R = X xor Y, q the block after the row pass.
	r := AllocLocal(2048)
	q := r.Offset(1024)

	// The row pass reads all of in1 and in2 and the column pass writes out,
	// so out may be in1 or in2.
	Comment("Rows: R = in1 xor in2 is kept for the end; P of each row goes to q.")
	m := masks{rot24: rot24, rot16: rot16}
	row := 0
	for _, n := range rowGroups {
		// Matrix j of the group is row row+j, in ys[4j..4j+3]; its scratch
		// register is ys[4n+j].
		var a, b, c, d, t []Register
		for j := range n {
			a = append(a, ys[4*j])
			b = append(b, ys[4*j+1])
			c = append(c, ys[4*j+2])
			d = append(d, ys[4*j+3])
			t = append(t, ys[4*n+j])
		}
		for j := range n {
			for i, v := range []Register{a[j], b[j], c[j], d[j]} {
				off := 128*(row+j) + 32*i
				VMOVDQU(in1.Offset(off), v)
				VPXOR(in2.Offset(off), v, v)
				VMOVDQU(v, r.Offset(off))
			}
		}
		gb(a, b, c, d, t, m)
		rotateLanes(b, 1)
		rotateLanes(c, 2)
		rotateLanes(d, 3)
		gb(a, b, c, d, t, m)
		rotateLanes(b, 3)
		rotateLanes(c, 2)
		rotateLanes(d, 1)
		for j := range n {
			for i, v := range []Register{a[j], b[j], c[j], d[j]} {
				VMOVDQU(v, q.Offset(128*(row+j)+32*i))
			}
		}
		row += n
	}

	Comment("Columns: P of each column of q, xor R (and with xor the old out), to out.")
	m = masks{rot24: Y14, rot16: Y15}
	VMOVDQU(rot24, m.rot24)
	VMOVDQU(rot16, m.rot16)
	for col := 0; col < 8; col += 2 {
		x := []Register{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7}
		t := []Register{Y8, Y9}
		for k, v := range x {
			VMOVDQU(q.Offset(128*k+16*col), v)
		}
		gb([]Register{x[0], x[1]}, []Register{x[2], x[3]}, []Register{x[4], x[5]}, []Register{x[6], x[7]}, t, m)

		// Diagonals: b1 = v5 v6, b2 = v7 v4, d1 = v15 v12, d2 = v13 v14.
		// VPALIGNR $8, lo, hi, dst sets each half of dst to the high word of
		// lo's half, then the low word of hi's half.
		b1, b2, d1, d2 := t[0], x[3], t[1], x[7]
		VPALIGNR(U8(8), x[2], x[3], b1)
		VPALIGNR(U8(8), x[3], x[2], b2)
		VPALIGNR(U8(8), x[7], x[6], d1)
		VPALIGNR(U8(8), x[6], x[7], d2)
		gb([]Register{x[0], x[1]}, []Register{b1, b2}, []Register{x[5], x[4]}, []Register{d1, d2}, []Register{x[2], x[6]}, m)
		VPALIGNR(U8(8), b2, b1, x[2]) // v4 v5
		VPALIGNR(U8(8), b1, b2, x[3]) // v6 v7
		VPALIGNR(U8(8), d1, d2, x[6]) // v12 v13
		VPALIGNR(U8(8), d2, d1, x[7]) // v14 v15

		skip := fmt.Sprintf("noxor%d", col)
		TESTB(xor, xor)
		JZ(LabelRef(skip))
		for k, v := range x {
			VPXOR(out.Offset(128*k+16*col), v, v)
		}
		Label(skip)
		for k, v := range x {
			off := 128*k + 16*col
			VPXOR(r.Offset(off), v, v)
			VMOVDQU(v, out.Offset(off))
		}
	}

	VZEROUPPER()
	RET()
}

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

// gb is GB of RFC 9106 §3.6 on each lane of a[i], b[i], c[i], d[i], for
// all i at once, their instructions interleaved; t[i] is scratch.
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
