package password

import (
	"runtime"
	"testing"
)

func TestCommonListSize(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	set := loadCommon()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(set)
	// The module's list has 7,141 entries; fewer would mean the dependency changed under us.
	if len(set) < 7000 || len(set) > commonLimit {
		t.Errorf("%d common passwords, want 7000..%d", len(set), commonLimit)
	}
	retained := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d common passwords retain %d KiB of heap", len(set), retained/1024)
	if retained > 4<<20 {
		t.Errorf("the list retains %d KiB; expected well under 4 MiB", retained/1024)
	}
}
