package sqlstore_test

import (
	"testing"
	"testing/fstest"
	"time"

	"github.com/twofold-auth/twofold/internal/store/sqlstore"
)

func TestTimes(t *testing.T) {
	if sqlstore.Nanos(time.Time{}) != 0 || !sqlstore.Time(0).IsZero() {
		t.Fatal("the zero time is not stored as 0 and read back as zero")
	}
	at := time.Date(2026, 11, 22, 20, 11, 15, 123456789, time.FixedZone("x", 3600))
	back := sqlstore.Time(sqlstore.Nanos(at))
	if !back.Equal(at) || back.Location() != time.UTC {
		t.Fatalf("%v came back as %v", at, back)
	}
	if sqlstore.NilIfEmpty([]byte{}) != nil || len(sqlstore.NilIfEmpty([]byte{1})) != 1 {
		t.Fatal("NilIfEmpty")
	}
}

func TestMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	ms, err := sqlstore.Migrations(fstest.MapFS{
		"migrations/0002_more.sql": file("B"),
		"migrations/0010_last.sql": file("C"),
		"migrations/0001_init.sql": file("A"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 || ms[0].Version != 1 || ms[1].Version != 2 || ms[2].Version != 10 || ms[2].SQL != "C" {
		t.Fatalf("migrations out of order: %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no number":         {"migrations/init.sql": file("")},
		"version 0":         {"migrations/0000_x.sql": file("")},
		"one version twice": {"migrations/0001_a.sql": file(""), "migrations/1_b.sql": file("")},
	} {
		if _, err := sqlstore.Migrations(fsys); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
