package sqlstore

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestListsAsJSON checks that ListText writes what json.Marshal writes and List reads what
// json.Unmarshal reads, on plain strings (written and read without the json package) and on
// those that need escapes.
func TestListsAsJSON(t *testing.T) {
	for _, l := range [][]string{
		{"pwd"}, {"pwd", "otp", "mfa"}, {""}, {"", ""}, {"a,b", "c\\", "'"}, {"openid profile email"},
		{"https://app.example/cb?a=1&b=2"}, {"<script>"}, {"tab\there"}, {"é", "日本"}, {"\u2028"},
		{"a\"b"}, {"back\\slash"}, {"\x7f"}, {"\xff"}, {"\",\""}, {"[", "]"}, {" spaced "},
	} {
		want, _ := json.Marshal(l)
		got := ListText(l)
		if got != string(want) {
			t.Errorf("ListText(%q) = %s, want %s", l, got, want)
		}
		var wantBack []string
		json.Unmarshal(want, &wantBack) // l itself, but for invalid UTF-8, which JSON replaces
		back, err := List(got)
		if err != nil || !reflect.DeepEqual(back, wantBack) {
			t.Errorf("List(%s) = %q, %v; want %q", got, back, err, wantBack)
		}
	}
	// Texts ListText never writes are read as JSON reads them, or refused as it refuses them.
	for _, s := range []string{`[]`, ` ["a"]`, `["a", "b"]`, `[ "a" ]`, `["a","b",]`, `["a""b"]`, `["a",1]`,
		`["a\u0041"]`, `[null]`, `["a"`, `"a"]`, `[","]`, `["]`, `[""]`, `["","",""]`, `{}`, `["\t"]`, "[\"\t\"]",
		`["é"]`, "[\"\xff\"]", `["<>&"]`, `[","","]`} {
		var want []string
		wantErr := json.Unmarshal([]byte(s), &want) != nil
		if len(want) == 0 {
			want = nil
		}
		got, err := List(s)
		if (err != nil) != wantErr || (!wantErr && !reflect.DeepEqual(got, want)) {
			t.Errorf("List(%s) = %q, %v; want %q (error %v)", s, got, err, want, wantErr)
		}
	}
}

// columnCount is a Scanner that only counts the destinations it is given.
type columnCount struct{ n int }

func (c *columnCount) Scan(dest ...any) error {
	c.n = len(dest)
	return nil
}

// TestRowScansAllocate: reading a row gives a destination to each column of its query, and
// allocates what it answers and nothing for the destinations, which are kept for the next scan;
// a session read with its account (every request's read) included.
func TestRowScansAllocate(t *testing.T) {
	row := new(columnCount)
	for _, c := range []struct {
		name          string
		scan          func()
		columns, most int
	}{
		{"User", func() { User(row) }, len(columns(UserColumns)), 1},
		{"userWithKey", func() { userWithKey(row) }, len(columns(userSelect)), 1},
		{"Session", func() { Session(row) }, len(columns(SessionColumns)), 1},
		{"sessionUser", func() { sessionUser(row) }, len(columns(SessionColumns)) + len(columns(userSelect)), 2},
	} {
		if n := testing.AllocsPerRun(100, c.scan); n > float64(c.most) {
			t.Errorf("%s: %v allocations, want %d", c.name, n, c.most)
		}
		if row.n != c.columns {
			t.Errorf("%s: scanned %d columns, want %d", c.name, row.n, c.columns)
		}
	}
}
