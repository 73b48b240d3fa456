package argon2id

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"golang.org/x/crypto/argon2"
)

// BenchmarkKey compares x/crypto's IDKey with Key (fresh memory for every hash)
// and with Memory.Key (one Memory reused), on Twofold's default parameters and
// on Authelia's. Run the single-lane ones with -cpu 1.
func BenchmarkKey(b *testing.B) {
	password, salt := []byte("correct horse battery staple"), []byte("0123456789abcdef")
	for _, p := range []params{{2, 19456, 1, 32}, {3, 65536, 4, 32}} {
		name := fmt.Sprintf("m=%d,t=%d,p=%d", p.memory, p.time, p.threads)
		b.Run("xcrypto/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				argon2.IDKey(password, salt, p.time, p.memory, p.threads, p.keyLen)
			}
		})
		b.Run("fresh/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Key(password, salt, p.time, p.memory, p.threads, p.keyLen)
			}
		})
		b.Run("reused/"+name, func(b *testing.B) {
			var m Memory
			defer m.Release()
			m.Key(password, salt, p.time, p.memory, p.threads, p.keyLen)
			b.ReportAllocs()
			for b.Loop() {
				m.Key(password, salt, p.time, p.memory, p.threads, p.keyLen)
			}
		})
	}
}

// BenchmarkProcessBlock measures the compression function G in plain Go.
func BenchmarkProcessBlock(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	var out, in1, in2 block
	for i := range in1 {
		in1[i], in2[i] = rng.Uint64(), rng.Uint64()
	}
	b.SetBytes(int64(len(block{}) * 8))
	b.Run("generic", func(b *testing.B) {
		for b.Loop() {
			processBlockGeneric(&out, &in1, &in2, true)
		}
	})
}
