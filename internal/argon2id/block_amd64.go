//go:build amd64 && !purego

package argon2id

import "golang.org/x/sys/cpu"

//go:generate sh -c "cd _asm && go run . -out ../block_amd64.s -pkg argon2id"

// processBlockAVX2 is processBlock with AVX2 (block_amd64.s, written by the
// generator in _asm). It reads in1 and in2 in full before it writes out, so
// out may also be in1 or in2.
//
//go:noescape
func processBlockAVX2(out, in1, in2 *block, xor bool)

func init() {
	if cpu.X86.HasAVX2 {
		processBlock = processBlockAVX2
	}
}
