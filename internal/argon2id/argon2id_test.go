package argon2id

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"golang.org/x/crypto/argon2"
)

// scribble fills every block m holds, beyond the part the last hash used too,
// with random words, as if another hash had left them there.
func (m *Memory) scribble(rng *rand.Rand) {
	if m.m == nil {
		return
	}
	for i := range m.m.blocks {
		b := &m.m.blocks[i]
		for j := range b {
			b[j] = rng.Uint64()
		}
	}
}

// TestReferenceVectors checks the argon2id vectors of the reference
// implementation for the password "password" and the salt "somesalt".
func TestReferenceVectors(t *testing.T) {
	vectors := []struct {
		time, memory uint32
		threads      uint8
		hash         string
	}{
		{1, 64, 1, "655ad15eac652dc59f7170a7332bf49b8469be1fdb9c28bb"},
		{2, 64, 1, "068d62b26455936aa6ebe60060b0a65870dbfa3ddf8d41f7"},
		{2, 64, 2, "350ac37222f436ccb5c0972f1ebd3bf6b958bf2071841362"},
		{3, 256, 2, "4668d30ac4187e6878eedeacf0fd83c5a0a30db2cc16ef0b"},
		{4, 4096, 4, "145db9733a9f4ee43edf33c509be96b934d505a4efb33c5a"},
		{4, 1024, 8, "8dafa8e004f8ea96bf7c0f93eecf67a6047476143d15577f"},
		{2, 64, 3, "4a15b31aec7c2590b87d1f520be7d96f56658172deaa3079"},
		{3, 1024, 6, "1640b932f4b60e272f5d2207b9a9c626ffa1bd88d2349016"},
	}
	var m Memory
	defer m.Release()
	for _, v := range vectors {
		want, _ := hex.DecodeString(v.hash)
		password, salt := []byte("password"), []byte("somesalt")
		if got := Key(password, salt, v.time, v.memory, v.threads, uint32(len(want))); !bytes.Equal(got, want) {
			t.Errorf("Key(t=%d, m=%d, p=%d) = %x, want %x", v.time, v.memory, v.threads, got, want)
		}
		if got := m.Key(password, salt, v.time, v.memory, v.threads, uint32(len(want))); !bytes.Equal(got, want) {
			t.Errorf("Memory.Key(t=%d, m=%d, p=%d) = %x, want %x", v.time, v.memory, v.threads, got, want)
		}
	}
}

type params struct {
	time, memory uint32
	threads      uint8
	keyLen       uint32
}

func (p params) String() string {
	return fmt.Sprintf("t=%d,m=%d,p=%d,len=%d", p.time, p.memory, p.threads, p.keyLen)
}

// equalToXCrypto hashes with m and with Key and fails t unless both equal x/crypto's IDKey.
func equalToXCrypto(t *testing.T, m *Memory, password, salt []byte, p params) {
	t.Helper()
	want := argon2.IDKey(password, salt, p.time, p.memory, p.threads, p.keyLen)
	if got := m.Key(password, salt, p.time, p.memory, p.threads, p.keyLen); !bytes.Equal(got, want) {
		t.Errorf("Memory.Key(%d-byte password, %v) = %x, x/crypto %x", len(password), p, got, want)
	}
	if got := Key(password, salt, p.time, p.memory, p.threads, p.keyLen); !bytes.Equal(got, want) {
		t.Errorf("Key(%d-byte password, %v) = %x, x/crypto %x", len(password), p, got, want)
	}
}

// TestEqualToXCrypto compares Key and a reused Memory with x/crypto over a
// table of parameters, in an order in which the Memory grows and shrinks.
func TestEqualToXCrypto(t *testing.T) {
	table := []params{
		{2, 19456, 1, 32},   // Twofold's default
		{3, 65536, 4, 32},   // Authelia's
		{1, 1000, 2, 32},    // rounded down to 1000 blocks
		{2, 1001, 2, 32},    // rounded down to 1000 blocks
		{2, 999, 3, 32},     // rounded down to 996 blocks
		{1, 4099, 8, 32},    // rounded down to 4096 blocks
		{2, 77, 1, 32},      // rounded down to 76 blocks
		{1, 1, 1, 32},       // raised to 8 blocks
		{2, 7, 1, 16},       // raised to 8 blocks
		{1, 15, 2, 32},      // raised to 16 blocks
		{2, 23, 3, 32},      // raised to 24 blocks
		{1, 0, 4, 32},       // raised to 32 blocks
		{3, 63, 8, 32},      // raised to 64 blocks
		{1, 100, 255, 24},   // raised to 2040 blocks, 255 lanes
		{1, 4096, 1, 1},     // a key shorter than the RFC allows, as x/crypto does
		{1, 4096, 1, 3},     //
		{5, 300, 1, 128},    // a key longer than one BLAKE2b hash
		{1, 128, 2, 65},     // one byte more than one BLAKE2b hash
		{1, 128, 2, 96},     // 32 + 64
		{1, 128, 2, 97},     // 32 + 32 + 33
		{1, 128, 2, 1024},   //
		{2, 4096, 1, 32},    // segments longer than one address block
		{1, 3 * 1024, 1, 5}, //
	}
	for k := 4; k <= 128; k++ {
		table = append(table, params{1, 16, 1, uint32(k)})
	}
	passwords := [][]byte{
		nil,
		[]byte("password"),
		bytes.Repeat([]byte("long password "), 1000/14+1)[:1000],
	}
	salt := []byte("a salt of sixteen")
	var m Memory
	defer m.Release()
	for _, p := range table {
		for _, password := range passwords {
			if p.memory > 32*1024 && password == nil {
				continue // the largest memory once or twice is enough
			}
			equalToXCrypto(t, &m, password, salt, p)
		}
	}
	// Empty and long salts.
	equalToXCrypto(t, &m, []byte("password"), nil, params{1, 64, 1, 32})
	equalToXCrypto(t, &m, []byte("password"), bytes.Repeat([]byte{7}, 300), params{1, 64, 2, 32})
}

// TestDirtyMemory hashes in memory that earlier hashes and random bytes left
// behind: the result must not depend on it.
func TestDirtyMemory(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	password, salt := []byte("correct horse"), []byte("battery staple!!")
	var m Memory
	defer m.Release()
	equalToXCrypto(t, &m, password, salt, params{2, 8192, 2, 32})
	size := m.Size()
	if size != 8192*1024 {
		t.Fatalf("Size() = %d after m=8192, want %d", size, 8192*1024)
	}
	equalToXCrypto(t, &m, password, salt, params{2, 1024, 1, 32})
	if m.Size() != size {
		t.Errorf("Size() = %d after a smaller hash, want the %d held before", m.Size(), size)
	}
	for _, p := range []params{{2, 1024, 1, 32}, {3, 8192, 2, 32}, {1, 2048, 4, 32}, {1, 8, 1, 32}} {
		m.scribble(rng)
		equalToXCrypto(t, &m, password, salt, p)
	}
	if m.Size() != size {
		t.Errorf("Size() = %d, want the %d held before", m.Size(), size)
	}

	m.Release()
	if m.Size() != 0 {
		t.Errorf("Size() = %d after Release, want 0", m.Size())
	}
	m.Release() // twice is harmless
	equalToXCrypto(t, &m, password, salt, params{2, 1024, 2, 32})
	if m.Size() != 1024*1024 {
		t.Errorf("Size() = %d after Release and m=1024, want %d", m.Size(), 1024*1024)
	}
	m.scribble(rng)
	equalToXCrypto(t, &m, password, salt, params{2, 4096, 2, 32}) // grows
	if m.Size() != 4096*1024 {
		t.Errorf("Size() = %d after m=4096, want %d", m.Size(), 4096*1024)
	}
}

// TestConcurrentMemories hashes on several Memory values at once, as a
// server's hashing slots do.
func TestConcurrentMemories(t *testing.T) {
	password, salt := []byte("password"), []byte("somesaltsomesalt")
	p := params{2, 512, 2, 32}
	want := argon2.IDKey(password, salt, p.time, p.memory, p.threads, p.keyLen)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			var m Memory
			defer m.Release()
			for range 3 {
				if got := m.Key(password, salt, p.time, p.memory, p.threads, p.keyLen); !bytes.Equal(got, want) {
					errs <- fmt.Errorf("Memory.Key(%v) = %x, want %x", p, got, want)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestOutputDoesNotAliasMemory checks that a result is not overwritten by the next hash.
func TestOutputDoesNotAliasMemory(t *testing.T) {
	var m Memory
	defer m.Release()
	a := m.Key([]byte("a"), []byte("saltsalt"), 1, 64, 1, 64)
	keep := bytes.Clone(a)
	m.Key([]byte("b"), []byte("saltsalt"), 1, 64, 1, 64)
	if !bytes.Equal(a, keep) {
		t.Fatal("a result changed when the Memory hashed again")
	}
}

// TestAllocations checks that a hash on a reused Memory allocates a few small
// objects only, none in proportion to the memory.
func TestAllocations(t *testing.T) {
	password, salt := []byte("password"), []byte("somesaltsomesalt")
	var m Memory
	defer m.Release()
	m.Key(password, salt, 1, 8, 1, 32)
	if n := testing.AllocsPerRun(20, func() { m.Key(password, salt, 1, 8, 1, 32) }); n > 4 {
		t.Errorf("Memory.Key(t=1, m=8, p=1) allocates %v objects, want at most 4", n)
	}
	small := testing.AllocsPerRun(5, func() { m.Key(password, salt, 2, 64, 1, 32) })
	large := testing.AllocsPerRun(5, func() { m.Key(password, salt, 2, 4096, 1, 32) })
	if large != small {
		t.Errorf("Memory.Key(t=2, p=1) allocates %v objects at m=4096, %v at m=64; want as many", large, small)
	}
	small = testing.AllocsPerRun(5, func() { m.Key(password, salt, 2, 64, 4, 32) })
	large = testing.AllocsPerRun(5, func() { m.Key(password, salt, 2, 4096, 4, 32) })
	if large != small {
		t.Errorf("Memory.Key(t=2, p=4) allocates %v objects at m=4096, %v at m=64; want as many", large, small)
	}

	// Bytes, not only objects: the blocks live outside the Go heap or are reused.
	const runs = 5
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		m.Key(password, salt, 1, 4096, 4, 32)
	}
	runtime.ReadMemStats(&after)
	if perHash := (after.TotalAlloc - before.TotalAlloc) / runs; perHash > 16<<10 {
		t.Errorf("Memory.Key(t=1, m=4096, p=4) allocates %d bytes per hash, want at most 16 KiB", perHash)
	}
}

// TestParameterPanics checks the inputs that x/crypto refuses are refused too.
func TestParameterPanics(t *testing.T) {
	for _, p := range []params{{0, 64, 1, 32}, {1, 64, 0, 32}, {1, 64, 1, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Key(%v) did not panic", p)
				}
			}()
			Key([]byte("password"), []byte("somesalt"), p.time, p.memory, p.threads, p.keyLen)
		}()
	}
}

// TestProcessBlock checks that G writes the same block whether or not out is
// one of its inputs, and that the xor form is the plain form XORed in.
func TestProcessBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var a, b, c block
	for i := range a {
		a[i], b[i], c[i] = rng.Uint64(), rng.Uint64(), rng.Uint64()
	}
	var plain block
	processBlockGeneric(&plain, &a, &b, false)
	aliased := a
	processBlockGeneric(&aliased, &aliased, &b, false)
	if aliased != plain {
		t.Error("G(a, b) written over a differs from G(a, b)")
	}
	x := c
	processBlockGeneric(&x, &a, &b, true)
	for i := range x {
		if x[i] != c[i]^plain[i] {
			t.Fatalf("word %d of c ^= G(a, b) is %#x, want %#x", i, x[i], c[i]^plain[i])
		}
	}
	// processBlock, whatever implementation it is, agrees with the generic one.
	var out block
	processBlock(&out, &a, &b, false)
	if out != plain {
		t.Error("processBlock differs from processBlockGeneric")
	}
	out = c
	processBlock(&out, &a, &b, true)
	if out != x {
		t.Error("processBlock with xor differs from processBlockGeneric")
	}
}
