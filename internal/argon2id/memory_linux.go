//go:build linux

package argon2id

import (
	"runtime"
	"syscall"
	"unsafe"
)

// mapping is the blocks of a Memory: an anonymous private mapping of the
// operating system, or a Go slice when the mapping could not be made.
type mapping struct {
	blocks  []block
	raw     []byte // the mapping as syscall.Mmap answered it; nil for a Go slice
	cleanup runtime.Cleanup
}

// newMapping maps n blocks. Should the kernel refuse the mapping, the blocks
// are allocated on the Go heap instead, as golang.org/x/crypto/argon2 would.
func newMapping(n int) *mapping {
	size := n * len(block{}) * 8
	raw, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return &mapping{blocks: make([]block, n)}
	}
	mp := &mapping{
		blocks: unsafe.Slice((*block)(unsafe.Pointer(unsafe.SliceData(raw))), n),
		raw:    raw,
	}
	// Unmap a mapping whose Memory was dropped without Release.
	mp.cleanup = runtime.AddCleanup(mp, unmap, raw)
	return mp
}

func unmap(raw []byte) {
	// Munmap fails only for a slice that syscall.Mmap did not answer.
	_ = syscall.Munmap(raw)
}

// free unmaps the blocks.
func (mp *mapping) free() {
	if mp.raw != nil {
		mp.cleanup.Stop()
		unmap(mp.raw)
		mp.raw = nil
	}
	mp.blocks = nil
}

// keepAlive keeps the mapping of m from being unmapped by its cleanup before
// this call, while a hash uses its blocks through a slice that is not m.
func (m *Memory) keepAlive() {
	runtime.KeepAlive(m.m)
}
