//go:build unix

package keys

import (
	"io/fs"
	"syscall"
)

// fileOwner answers the user id that owns the file info describes.
func fileOwner(info fs.FileInfo) (uid int, ok bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
