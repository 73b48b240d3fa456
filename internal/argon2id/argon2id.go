// Package argon2id is Twofold's implementation of the argon2id password hash
// (RFC 9106, version 0x13), with BLAKE2b from golang.org/x/crypto/blake2b as H.
//
// It exists so that a server can keep the working memory of a hash between
// hashes. golang.org/x/crypto/argon2 allocates and zeroes a fresh buffer for
// every hash (19 MiB with Twofold's default parameters) and offers no way to
// pass one in; under a soft memory limit the Go runtime gives such a buffer back
// to the operating system and faults it in again on the next sign-in. A Memory
// keeps one buffer per hashing slot instead, outside the Go heap on Linux, and
// does not zero it between hashes: the first pass of argon2 writes every block
// outright before any block is read, so whatever a previous hash left in the
// buffer cannot affect the result.
//
// Key is byte-identical to golang.org/x/crypto/argon2.IDKey for every input
// that function accepts, including its handling of small and odd memory sizes
// (memory below 8*threads KiB is raised to 8*threads KiB, and memory is rounded
// down to a multiple of 4*threads KiB). The tests of this package check that
// against x/crypto over a table of parameters, on reused and deliberately dirtied
// memory, and the fuzz target FuzzKey does the same for arbitrary inputs.
package argon2id

import (
	"encoding/binary"
	"sync"

	"golang.org/x/crypto/blake2b"
)

// Version is the argon2 version number v that Key implements (0x13, written v=19 in PHC strings).
const Version = 0x13

const (
	typeID     = 2 // argon2 type y: argon2id
	syncPoints = 4 // slices per pass
	// addressesPerBlock is the number of reference positions that one address
	// block of the data-independent addressing provides.
	addressesPerBlock = 128
)

// Key is argon2id (RFC 9106), byte-identical to golang.org/x/crypto/argon2.IDKey.
func Key(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	m := Memory{heap: true}
	return m.Key(password, salt, time, memory, threads, keyLen)
}

// Key is argon2id (RFC 9106), byte-identical to golang.org/x/crypto/argon2.IDKey,
// computed in the memory m holds (mapped or enlarged first when it is too small).
func (m *Memory) Key(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	return m.key(password, salt, nil, nil, time, memory, threads, keyLen)
}

// key is argon2id with the optional secret K and associated data X of RFC 9106.
func (m *Memory) key(password, salt, secret, ad []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	if time < 1 {
		panic("argon2id: time (number of passes) must be at least 1")
	}
	if threads < 1 {
		panic("argon2id: threads (degree of parallelism) must be at least 1")
	}
	if keyLen < 1 {
		panic("argon2id: key length must be at least 1")
	}
	h0 := initialHash(password, salt, secret, ad, time, memory, uint32(threads), keyLen)

	// The number of blocks: memory rounded down to a multiple of
	// syncPoints*threads, and at least 2*syncPoints per lane.
	lanes := uint32(threads)
	blocks := memory / (syncPoints * lanes) * (syncPoints * lanes)
	if blocks < 2*syncPoints*lanes {
		blocks = 2 * syncPoints * lanes
	}
	f := filler{
		b:       m.blocks(blockCount(blocks)),
		scratch: m.scratchBlocks(int(lanes)),
		passes:  time,
		lanes:   lanes,
		total:   blocks,
		laneLen: blocks / lanes,
		segLen:  blocks / lanes / syncPoints,
	}
	f.firstBlocks(&h0)
	f.fill()
	out := make([]byte, keyLen)
	f.tag(out)
	m.keepAlive()
	return out
}

// maxBlocks is the most blocks whose size in bytes an int can hold.
const maxBlocks = int(^uint(0)>>1) / (len(block{}) * 8)

// blockCount converts a number of blocks to an int, or panics when an int
// cannot hold it or its size in bytes (on 32-bit platforms), as x/crypto
// panics when it cannot allocate them.
func blockCount(n uint32) int {
	if uint64(n) > uint64(maxBlocks) {
		panic("argon2id: memory too large for this platform")
	}
	return int(n)
}

// initialHash is H0 of RFC 9106 §3.2: H^64 of the parameters and inputs. Its
// input buffer holds the password and is zeroed before it is returned.
func initialHash(password, salt, secret, ad []byte, time, memory, threads, keyLen uint32) [blake2b.Size]byte {
	buf := make([]byte, 0, 10*4+len(password)+len(salt)+len(secret)+len(ad))
	for _, v := range [...]uint32{threads, keyLen, memory, time, Version, typeID} {
		buf = binary.LittleEndian.AppendUint32(buf, v)
	}
	for _, s := range [...][]byte{password, salt, secret, ad} {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(s)))
		buf = append(buf, s...)
	}
	h0 := blake2b.Sum512(buf)
	clear(buf[:cap(buf)])
	return h0
}

// hashPrime writes the variable-length hash H'^T(X) of RFC 9106 §3.3 into out,
// with T = len(out) >= 1, given in = LE32(T) || X.
func hashPrime(out, in []byte) {
	if len(out) <= blake2b.Size {
		hashN(out, in)
		return
	}
	v := blake2b.Sum512(in)
	n := copy(out, v[:32])
	for len(out)-n > blake2b.Size {
		v = blake2b.Sum512(v[:])
		n += copy(out[n:], v[:32])
	}
	hashN(out[n:], v[:])
}

// hashN writes H^T(in), BLAKE2b with a digest of T = len(out) bytes, 1 <= T <= 64, into out.
func hashN(out, in []byte) {
	if len(out) == blake2b.Size {
		v := blake2b.Sum512(in)
		copy(out, v[:])
		return
	}
	h, err := blake2b.New(len(out), nil)
	if err != nil {
		panic("argon2id: " + err.Error()) // cannot happen: 1 <= len(out) < 64
	}
	h.Write(in)
	h.Sum(out[:0])
}

// filler fills the memory of one hash.
type filler struct {
	b       []block // all lanes, one after the other
	passes  uint32  // t
	lanes   uint32  // p
	total   uint32  // m', the number of blocks
	laneLen uint32  // q = m' / p
	segLen  uint32  // q / syncPoints

	// scratch holds the input block, an intermediate block and the address
	// block of the data-independent addressing, for each lane.
	scratch []block
}

// zeroBlock is the all-zero block, the first input of G for address blocks.
var zeroBlock block

// firstBlocks computes blocks 0 and 1 of every lane from H0 (RFC 9106 §3.2 steps 3 and 4).
func (f *filler) firstBlocks(h0 *[blake2b.Size]byte) {
	var in [4 + blake2b.Size + 8]byte
	var out [1024]byte
	binary.LittleEndian.PutUint32(in[:4], 1024)
	copy(in[4:], h0[:])
	for lane := uint32(0); lane < f.lanes; lane++ {
		for j := uint32(0); j < 2; j++ {
			binary.LittleEndian.PutUint32(in[4+blake2b.Size:], j)
			binary.LittleEndian.PutUint32(in[4+blake2b.Size+4:], lane)
			hashPrime(out[:], in[:])
			b := &f.b[lane*f.laneLen+j]
			for i := range b {
				b[i] = binary.LittleEndian.Uint64(out[8*i:])
			}
		}
	}
}

// fill computes every pass over the memory after the first two blocks of each
// lane. With more than one lane, the lanes of each slice are filled in parallel,
// one goroutine each, and all of them finish a slice before any begins the next.
func (f *filler) fill() {
	for pass := uint32(0); pass < f.passes; pass++ {
		for slice := uint32(0); slice < syncPoints; slice++ {
			if f.lanes == 1 {
				f.segment(pass, 0, slice)
			} else {
				f.parallelSlice(pass, slice)
			}
		}
	}
}

// parallelSlice fills the segments of one slice of every lane, each in a
// goroutine of its own but that of lane 0, which is filled by the caller's.
func (f *filler) parallelSlice(pass, slice uint32) {
	var wg sync.WaitGroup
	for lane := uint32(1); lane < f.lanes; lane++ {
		wg.Go(func() { f.segment(pass, lane, slice) })
	}
	f.segment(pass, 0, slice)
	wg.Wait()
}

// segment computes the blocks of one segment: the given slice of the given lane
// in the given pass (RFC 9106 §3.4).
func (f *filler) segment(pass, lane, slice uint32) {
	// argon2id: data-independent addressing in the first half of the first
	// pass, data-dependent addressing in all the rest.
	independent := pass == 0 && slice < syncPoints/2
	var input, tmp, addresses *block
	if independent {
		s := f.scratch[3*lane : 3*lane+3]
		input, tmp, addresses = &s[0], &s[1], &s[2]
		*input = block{}
		input[0] = uint64(pass)
		input[1] = uint64(lane)
		input[2] = uint64(slice)
		input[3] = uint64(f.total)
		input[4] = uint64(f.passes)
		input[5] = typeID
	}
	first := uint32(0)
	if pass == 0 && slice == 0 {
		first = 2 // blocks 0 and 1 come from H0
	}
	laneStart := lane * f.laneLen
	cur := laneStart + slice*f.segLen + first
	prev := cur - 1
	if cur == laneStart {
		prev = laneStart + f.laneLen - 1 // the previous pass's last block of the lane
	}
	// Positions are counted from the start of the window of reference blocks:
	// the lane's first block in the first pass, else the block after this segment.
	windowStart := uint32(0)
	if pass > 0 {
		windowStart = (slice + 1) * f.segLen % f.laneLen
	}
	for i := first; i < f.segLen; i++ {
		var rnd uint64
		if independent {
			if i == first || i%addressesPerBlock == 0 {
				// Address block number i/128+1: G(0, G(0, input)).
				input[6] = uint64(i/addressesPerBlock + 1)
				processBlock(tmp, &zeroBlock, input, false)
				processBlock(addresses, &zeroBlock, tmp, false)
			}
			rnd = addresses[i%addressesPerBlock]
		} else {
			rnd = f.b[prev][0]
		}
		refLane := lane
		if pass > 0 || slice > 0 {
			refLane = uint32(rnd>>32) % f.lanes
		}
		// The size of the window: the finished segments of the reference lane
		// (the last syncPoints-1 of them after the first pass), less the block
		// just before this one when that is one of them; and, in this block's
		// own lane, the blocks of this segment before the previous one.
		var size uint32
		if pass == 0 {
			size = slice * f.segLen
		} else {
			size = f.laneLen - f.segLen
		}
		if refLane == lane {
			size += i - 1
		} else if i == 0 {
			size--
		}
		j1 := rnd & 0xffffffff
		x := j1 * j1 >> 32
		y := uint64(size) * x >> 32
		pos := (uint64(windowStart) + uint64(size) - 1 - y) % uint64(f.laneLen)
		ref := refLane*f.laneLen + uint32(pos)
		processBlock(&f.b[cur], &f.b[prev], &f.b[ref], pass > 0)
		prev = cur
		cur++
	}
}

// tag writes the output H'^T(C) into out, T = len(out), where C is the XOR of
// the last block of every lane (RFC 9106 §3.2 steps 7 and 8).
func (f *filler) tag(out []byte) {
	var c block
	for lane := uint32(1); lane <= f.lanes; lane++ {
		last := &f.b[lane*f.laneLen-1]
		for i := range c {
			c[i] ^= last[i]
		}
	}
	var in [4 + 1024]byte
	binary.LittleEndian.PutUint32(in[:4], uint32(len(out)))
	for i, w := range c {
		binary.LittleEndian.PutUint64(in[4+8*i:], w)
	}
	hashPrime(out, in[:])
}
