//go:build !linux

package sqlite

import "os"

// datasync writes f to disk (fsync; F_FULLFSYNC on macOS).
func datasync(f *os.File) error { return f.Sync() }
