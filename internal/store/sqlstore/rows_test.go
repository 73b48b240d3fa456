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
