//go:build !linux

package argon2id

// mapping is the blocks of a Memory: a Go slice away from Linux.
type mapping struct {
	blocks []block
}

func newMapping(n int) *mapping {
	return &mapping{blocks: make([]block, n)}
}

// free drops the blocks for the garbage collector.
func (mp *mapping) free() {
	mp.blocks = nil
}

func (m *Memory) keepAlive() {}
