package sqlrow_test

import (
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store/sqlrow"
)

func TestTimes(t *testing.T) {
	if sqlrow.Nanos(time.Time{}) != 0 || !sqlrow.Time(0).IsZero() {
		t.Fatal("the zero time is not stored as 0 and read back as zero")
	}
	at := time.Date(2026, 11, 22, 20, 11, 15, 123456789, time.FixedZone("x", 3600))
	back := sqlrow.Time(sqlrow.Nanos(at))
	if !back.Equal(at) || back.Location() != time.UTC {
		t.Fatalf("%v came back as %v", at, back)
	}
	if sqlrow.NilIfEmpty([]byte{}) != nil || len(sqlrow.NilIfEmpty([]byte{1})) != 1 {
		t.Fatal("NilIfEmpty")
	}
}
