package sqlite

import (
	"os"
	"syscall"
)

// datasync writes f's data, and the metadata needed to read it back (its size), to disk.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
