//go:build amd64 && !purego

package argon2id

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"golang.org/x/sys/cpu"
)

func requireAVX2(tb testing.TB) {
	tb.Helper()
	if !cpu.X86.HasAVX2 {
		tb.Skip("the CPU has no AVX2")
	}
}

func randomBlock(rng *rand.Rand) *block {
	var b block
	for i := range b {
		b[i] = rng.Uint64()
	}
	return &b
}

// TestProcessBlockAVX2SelectedOnAVX2 checks that init chooses the AVX2 G
// when the CPU has AVX2.
func TestProcessBlockAVX2SelectedOnAVX2(t *testing.T) {
	requireAVX2(t)
	if reflect.ValueOf(processBlock).Pointer() != reflect.ValueOf(processBlockAVX2).Pointer() {
		t.Fatal("processBlock is not processBlockAVX2 on a CPU with AVX2")
	}
}

// TestProcessBlockAVX2 compares the AVX2 G with the plain Go one on random
// blocks and on blocks of all zeros and all ones, with and without xor.
func TestProcessBlockAVX2(t *testing.T) {
	requireAVX2(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var zeros, ones block
	for i := range ones {
		ones[i] = ^uint64(0)
	}
	type inputs struct{ out, in1, in2 *block }
	cases := []inputs{
		{&zeros, &zeros, &zeros},
		{&ones, &ones, &zeros},
		{&ones, &zeros, &ones},
		{&zeros, &ones, &ones},
	}
	for range 500 {
		cases = append(cases, inputs{randomBlock(rng), randomBlock(rng), randomBlock(rng)})
	}
	for n, c := range cases {
		for _, xor := range []bool{false, true} {
			want, got := *c.out, *c.out
			processBlockGeneric(&want, c.in1, c.in2, xor)
			processBlockAVX2(&got, c.in1, c.in2, xor)
			if got != want {
				t.Fatalf("case %d, xor %v: AVX2 G differs from the plain Go one at word %d", n, xor, firstDifference(&got, &want))
			}
		}
	}
}

// TestProcessBlockAVX2Aliasing checks that out may be in1 or in2 (or both).
func TestProcessBlockAVX2Aliasing(t *testing.T) {
	requireAVX2(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 100 {
		for _, xor := range []bool{false, true} {
			a, b := randomBlock(rng), randomBlock(rng)

			want := *a
			processBlockGeneric(&want, a, b, xor)
			got := *a
			processBlockAVX2(&got, &got, b, xor)
			if got != want {
				t.Fatalf("case %d, xor %v, out = in1: differs at word %d", n, xor, firstDifference(&got, &want))
			}

			want = *b
			processBlockGeneric(&want, a, b, xor)
			got = *b
			processBlockAVX2(&got, a, &got, xor)
			if got != want {
				t.Fatalf("case %d, xor %v, out = in2: differs at word %d", n, xor, firstDifference(&got, &want))
			}

			want = *a
			processBlockGeneric(&want, a, a, xor)
			got = *a
			processBlockAVX2(&got, &got, &got, xor)
			if got != want {
				t.Fatalf("case %d, xor %v, out = in1 = in2: differs at word %d", n, xor, firstDifference(&got, &want))
			}
		}
	}
}

// TestProcessBlockAVX2Inputs checks that the AVX2 G leaves in1 and in2 as
// they were.
func TestProcessBlockAVX2Inputs(t *testing.T) {
	requireAVX2(t)
	rng := rand.New(rand.NewPCG(5, 6))
	in1, in2 := randomBlock(rng), randomBlock(rng)
	keep1, keep2 := *in1, *in2
	var out block
	processBlockAVX2(&out, in1, in2, true)
	if *in1 != keep1 || *in2 != keep2 {
		t.Fatal("processBlockAVX2 changed an input block")
	}
}

func firstDifference(a, b *block) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// BenchmarkProcessBlockAVX2 measures the AVX2 G, to set beside
// BenchmarkProcessBlock/generic.
func BenchmarkProcessBlockAVX2(b *testing.B) {
	requireAVX2(b)
	rng := rand.New(rand.NewPCG(7, 8))
	out, in1, in2 := randomBlock(rng), randomBlock(rng), randomBlock(rng)
	b.SetBytes(int64(len(out) * 8))
	for b.Loop() {
		processBlockAVX2(out, in1, in2, true)
	}
}
