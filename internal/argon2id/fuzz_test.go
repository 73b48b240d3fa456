package argon2id

import (
	"bytes"
	"testing"

	"golang.org/x/crypto/argon2"
)

// fuzzMemory is reused by every case a fuzzing process runs, so that each hash
// starts in the memory earlier cases left behind.
var fuzzMemory Memory

// FuzzKey compares Memory.Key on a reused Memory, and Key, with x/crypto's
// IDKey, on small parameters (at most 256 KiB) so that each case is quick.
func FuzzKey(f *testing.F) {
	f.Add([]byte("password"), []byte("somesalt"), uint8(0), uint16(64), uint8(0), uint8(31))
	f.Add([]byte(""), []byte(""), uint8(1), uint16(0), uint8(3), uint8(3))
	f.Add(bytes.Repeat([]byte{0xff}, 200), []byte("0123456789abcdef"), uint8(2), uint16(255), uint8(7), uint8(127))
	f.Add([]byte("x"), []byte("salt"), uint8(1), uint16(129), uint8(2), uint8(64))
	f.Add([]byte("pass"), []byte("saltsalt"), uint8(0), uint16(17), uint8(1), uint8(96))
	f.Fuzz(func(t *testing.T, password, salt []byte, time uint8, memory uint16, threads uint8, keyLen uint8) {
		p := params{
			time:    1 + uint32(time%3),
			memory:  uint32(memory % 257),
			threads: 1 + threads%8,
			keyLen:  1 + uint32(keyLen),
		}
		want := argon2.IDKey(password, salt, p.time, p.memory, p.threads, p.keyLen)
		if got := fuzzMemory.Key(password, salt, p.time, p.memory, p.threads, p.keyLen); !bytes.Equal(got, want) {
			t.Fatalf("Memory.Key(%q, %q, %v) = %x, x/crypto %x", password, salt, p, got, want)
		}
		if got := Key(password, salt, p.time, p.memory, p.threads, p.keyLen); !bytes.Equal(got, want) {
			t.Fatalf("Key(%q, %q, %v) = %x, x/crypto %x", password, salt, p, got, want)
		}
	})
}
