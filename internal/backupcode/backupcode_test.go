package backupcode_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/backupcode"
)

func TestAlphabet(t *testing.T) {
	a := backupcode.Alphabet
	if len(a) != 32 {
		t.Fatalf("alphabet has %d characters, want 32", len(a))
	}
	seen := map[rune]bool{}
	for _, c := range a {
		if seen[c] {
			t.Errorf("%q appears twice", c)
		}
		seen[c] = true
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			t.Errorf("%q is not a lower-case letter or digit", c)
		}
	}
	// Of each group of look-alikes, at most one member may be in the alphabet.
	for _, group := range []string{"0o", "1il", "uv"} {
		n := 0
		for _, c := range group {
			if seen[c] {
				n++
			}
		}
		if n > 1 {
			t.Errorf("look-alikes %q: %d of them in the alphabet", group, n)
		}
	}
	for _, c := range "oilu" {
		if seen[c] {
			t.Errorf("%q is in the alphabet", c)
		}
	}
}

func TestGenerate(t *testing.T) {
	codes, err := backupcode.Generate(nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("%d codes, want 10", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != backupcode.Length {
			t.Errorf("%q has %d characters", c, len(c))
		}
		if strings.Trim(c, backupcode.Alphabet) != "" {
			t.Errorf("%q has characters outside the alphabet", c)
		}
		if n, err := backupcode.Normalize(c); err != nil || n != c {
			t.Errorf("Normalize(%q) = %q, %v; a generated code is already normalised", c, n, err)
		}
		if seen[c] {
			t.Errorf("%q generated twice", c)
		}
		seen[c] = true
	}
}

func TestGenerateBits(t *testing.T) {
	cases := []struct {
		name string
		src  []byte
		want string
	}{
		{"zeros", make([]byte, 10), "0000000000000000"},
		{"ones", bytes.Repeat([]byte{0xff}, 10), "zzzzzzzzzzzzzzzz"},
		// 0x00 0x44 0x32 0x14 0xc7 = 00000 00001 00010 00011 00100 00101 00110 00111
		{"counting", []byte{0x00, 0x44, 0x32, 0x14, 0xc7, 0x42, 0x54, 0xb6, 0x35, 0xcf}, "0123456789abcdef"},
		{"last bits", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0x1f}, "000000000000000z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			codes, err := backupcode.Generate(bytes.NewReader(c.src), 1)
			if err != nil {
				t.Fatal(err)
			}
			if codes[0] != c.want {
				t.Errorf("code %q, want %q", codes[0], c.want)
			}
		})
	}
}

func TestGenerateSkipsDuplicates(t *testing.T) {
	// A source that repeats itself must still yield distinct codes.
	src := append(make([]byte, 20), bytes.Repeat([]byte{0xff}, 10)...)
	codes, err := backupcode.Generate(bytes.NewReader(src), 2)
	if err != nil {
		t.Fatal(err)
	}
	if codes[0] != "0000000000000000" || codes[1] != "zzzzzzzzzzzzzzzz" {
		t.Errorf("codes %q", codes)
	}
}

func TestGenerateErrors(t *testing.T) {
	cases := []struct {
		name string
		src  []byte
		n    int
	}{
		{"negative count", nil, -1},
		{"exhausted source", make([]byte, 15), 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := backupcode.Generate(bytes.NewReader(c.src), c.n); err == nil {
				t.Error("Generate succeeded")
			}
		})
	}
	if codes, err := backupcode.Generate(nil, 0); err != nil || len(codes) != 0 {
		t.Errorf("Generate(0) = %q, %v", codes, err)
	}
}

func TestFormat(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"code", "abcd2345efgh6789", "abcd-2345-efgh-6789"},
		{"too short", "abc", "abc"},
		{"already formatted", "abcd-2345-efgh-6789", "abcd-2345-efgh-6789"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := backupcode.Format(c.in); got != c.want {
				t.Errorf("Format(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	const code = "abcd2345efgh6789"
	cases := []struct {
		name, in, want string
	}{
		{"normalised", code, code},
		{"formatted", "abcd-2345-efgh-6789", code},
		{"upper case", "ABCD-2345-EFGH-6789", code},
		{"mixed case", "AbCd2345eFgH6789", code},
		{"spaces", "abcd 2345 efgh 6789", code},
		{"tabs and spaces around", "\t abcd2345 efgh6789 \t", code},
		{"dashes anywhere", "--a-b-c-d-2-3-4-5-e-f-g-h-6-7-8-9--", code},
		{"o read as zero", "o0o0-1111-2222-3333", "00001111" + "22223333"},
		{"i and l read as one", "iIlL-0000-0000-0000", "1111000000000000"},
		{"too short", "abcd-2345-efgh-678", ""},
		{"17 characters", "abcd-2345-efgh-67890", ""},
		{"bad character u", "abcd-2345-efgh-678u", ""},
		{"bad character punctuation", "abcd_2345_efgh_6789", ""},
		{"non-ASCII", "abcd-2345-efgh-678é", ""},
		{"full-width digit", "abcd-2345-efgh-678９", ""},
		{"newline", "abcd2345efgh6789\n", ""},
		{"empty", "", ""},
		{"overlong input", code + strings.Repeat(" ", 49), ""},
		{"64 bytes is fine", code + strings.Repeat(" ", 48), code},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := backupcode.Normalize(c.in)
			if c.want == "" {
				if !errors.Is(err, backupcode.ErrMalformed) {
					t.Errorf("Normalize(%q) = %q, %v; want ErrMalformed", c.in, got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("Normalize(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
		})
	}
}

func TestMAC(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	otherKey := bytes.Repeat([]byte{2}, 32)
	salt := bytes.Repeat([]byte{3}, 16)
	otherSalt := bytes.Repeat([]byte{4}, 16)
	const code = "abcd2345efgh6789"

	m := backupcode.MAC(key, salt, code)
	if len(m) != 32 {
		t.Fatalf("MAC has %d bytes, want 32", len(m))
	}
	h := hmac.New(sha256.New, key)
	h.Write(append(append([]byte(nil), salt...), code...))
	if want := h.Sum(nil); !bytes.Equal(m, want) {
		t.Errorf("MAC is not HMAC-SHA256(key, salt||code)")
	}
	cases := []struct {
		name      string
		key, salt []byte
		code      string
		same      bool
	}{
		{"same inputs", key, salt, code, true},
		{"other salt", key, otherSalt, code, false},
		{"other key", otherKey, salt, code, false},
		{"other code", key, salt, "abcd2345efgh6788", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := backupcode.MAC(c.key, c.salt, c.code); bytes.Equal(got, m) != c.same {
				t.Errorf("MAC equal = %v, want %v", !c.same, c.same)
			}
		})
	}
}

func TestNewSalt(t *testing.T) {
	a, err := backupcode.NewSalt(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := backupcode.NewSalt(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 16 || len(b) != 16 || bytes.Equal(a, b) {
		t.Errorf("salts %x and %x", a, b)
	}
	if _, err := backupcode.NewSalt(bytes.NewReader(make([]byte, 15))); err == nil {
		t.Error("NewSalt with an exhausted reader succeeded")
	}
}
