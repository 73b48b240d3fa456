package argon2id

// Memory is the working memory of one hash at a time, kept between hashes so that a server's
// hashing slot does not allocate, zero and fault in its buffer on every hash. Not safe for
// concurrent use: one Memory per hashing slot.
//
// A zero Memory is ready to use. On Linux the blocks are an anonymous private
// mapping outside the Go heap: the garbage collector neither scans nor zeroes
// them, and Release returns them to the operating system at once. A Memory that
// is dropped without Release is unmapped once the garbage collector finds it
// unreachable.
type Memory struct {
	m *mapping // nil when the Memory holds nothing

	// heap makes the blocks a Go slice on every platform: for a Memory of one
	// hash only, the garbage collector's reuse of freed memory is cheaper
	// than a mapping of its own that the kernel must fault in and zero.
	heap bool

	// scratch is three blocks per lane on the Go heap for the addresses of
	// the data-independent addressing, kept for the next hash too.
	scratch []block
}

// scratchBlocks answers 3*lanes scratch blocks.
func (m *Memory) scratchBlocks(lanes int) []block {
	if len(m.scratch) < 3*lanes {
		m.scratch = make([]block, 3*lanes)
	}
	return m.scratch[:3*lanes]
}

// blocks answers the first n blocks of the memory, mapping a larger area first
// when the one held has fewer than n. A larger area is kept when fewer blocks
// are asked for. The blocks keep whatever an earlier hash left in them.
func (m *Memory) blocks(n int) []block {
	if m.m != nil && len(m.m.blocks) >= n {
		return m.m.blocks[:n]
	}
	if m.m != nil {
		m.m.free()
	}
	if m.heap {
		m.m = &mapping{blocks: make([]block, n)}
	} else {
		m.m = newMapping(n)
	}
	return m.m.blocks
}

// Release gives the memory back to the operating system; the next Key maps it again.
func (m *Memory) Release() {
	if m.m != nil {
		m.m.free()
		m.m = nil
	}
	m.scratch = nil
}

// Size answers how many bytes the Memory holds now.
func (m *Memory) Size() int {
	if m.m == nil {
		return 0
	}
	return len(m.m.blocks) * len(block{}) * 8
}
