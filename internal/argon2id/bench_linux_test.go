//go:build linux

package argon2id

import (
	"runtime/debug"
	"syscall"
	"testing"

	"golang.org/x/crypto/argon2"
)

// BenchmarkPageFaults reports the minor page faults per hash (minflt/op) of
// x/crypto's IDKey and of a reused Memory on Twofold's default parameters,
// under a soft memory limit of 96 MiB as a server might run with. Run it with
// a fixed count, e.g. -benchtime 20x.
func BenchmarkPageFaults(b *testing.B) {
	password, salt := []byte("correct horse battery staple"), []byte("0123456789abcdef")
	p := params{2, 19456, 1, 32}
	run := func(b *testing.B, hash func()) {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(96 << 20))
		hash()
		var before, after syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
			b.Fatal(err)
		}
		n := 0
		for b.Loop() {
			hash()
			n++
		}
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(after.Minflt-before.Minflt)/float64(n), "minflt/op")
	}
	b.Run("xcrypto", func(b *testing.B) {
		run(b, func() { argon2.IDKey(password, salt, p.time, p.memory, p.threads, p.keyLen) })
	})
	b.Run("reused", func(b *testing.B) {
		var m Memory
		defer m.Release()
		run(b, func() { m.Key(password, salt, p.time, p.memory, p.threads, p.keyLen) })
	})
}
