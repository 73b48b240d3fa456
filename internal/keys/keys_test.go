package keys_test

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/twofold-auth/twofold/internal/keys"
)

// testHex is 00 01 02 … 1f; otherHex differs in the last byte.
const (
	testHex  = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	otherHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1e"
)

// goldenCheck pins the whole derivation (labels, HKDF, HMAC) for testHex: if it changes, every
// deployed database's check value and sealed data stop matching.
const goldenCheck = "14c01474efae3b1e76162bd3533b3bdb1db52c08a0c9ab1c3a17366aba26530b"

func mustParse(t *testing.T, s string) *keys.Keys {
	t.Helper()
	k, err := keys.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParse(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		wantErr string // substring; empty means success
	}{
		{"lower case", testHex, ""},
		{"upper case", strings.ToUpper(testHex), ""},
		{"trailing newline", testHex + "\n", ""},
		{"surrounding space", "  \t" + testHex + " \r\n", ""},
		{"empty", "", "not 0 characters"},
		{"63 characters", testHex[:63], "not 63 characters"},
		{"65 characters", testHex + "0", "not 65 characters"},
		{"base64 of 32 bytes", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "not 44 characters"},
		{"non-hex", testHex[:10] + "g" + testHex[11:], "character 11 is not"},
		{"inner space", testHex[:10] + " " + testHex[11:], "character 11 is not"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := keys.Parse(c.in)
			if c.wantErr == "" {
				if err != nil || k == nil {
					t.Fatalf("Parse = %v, %v", k, err)
				}
				if k.Check() != mustParse(t, testHex).Check() {
					t.Error("the same key in another form gives another Check")
				}
				return
			}
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q does not say %q", err, c.wantErr)
			}
			if len(c.in) > 20 && strings.Contains(err.Error(), c.in[:20]) {
				t.Errorf("error %q quotes the key", err)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	a, err := keys.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := keys.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two generated keys are equal")
	}
	if _, err := keys.Parse(a); err != nil {
		t.Errorf("Parse(Generate()) = %v", err)
	}
	g, err := keys.Generate(bytes.NewReader(bytes.Repeat([]byte{0xab}, 32)))
	if err != nil || g != strings.Repeat("ab", 32) {
		t.Errorf("Generate(fixed) = %q, %v", g, err)
	}
	if _, err := keys.Generate(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Error("Generate with an exhausted reader succeeded")
	}
}

func TestCheck(t *testing.T) {
	k := mustParse(t, testHex)
	if got := k.Check(); got != goldenCheck {
		t.Errorf("Check = %s, want %s", got, goldenCheck)
	}
	if k.Check() != mustParse(t, testHex).Check() {
		t.Error("Check differs for the same key")
	}
	if k.Check() == mustParse(t, otherHex).Check() {
		t.Error("Check is the same for another key")
	}
	if len(k.Check()) != 64 || strings.Contains(k.Check(), testHex) {
		t.Errorf("Check %q", k.Check())
	}
}

func TestBackupMACKey(t *testing.T) {
	master, _ := hex.DecodeString(testHex)
	want, err := hkdf.Key(sha256.New, master, nil, "twofold backup-code mac v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	k := mustParse(t, testHex)
	got := k.BackupMACKey()
	if !bytes.Equal(got, want) {
		t.Errorf("BackupMACKey = %x, want HKDF-SHA256 with label %q: %x", got, "twofold backup-code mac v1", want)
	}
	got[0] ^= 1
	if !bytes.Equal(k.BackupMACKey(), want) {
		t.Error("changing the answer changed the key")
	}
	if bytes.Equal(mustParse(t, otherHex).BackupMACKey(), want) {
		t.Error("another server key gives the same MAC key")
	}
}

func TestSealOpenTOTP(t *testing.T) {
	k := mustParse(t, testHex)
	secret := []byte("twenty bytes secret!")
	sealed, err := k.SealTOTP(42, keys.Version, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != 12+len(secret)+16 {
		t.Errorf("sealed length %d, want nonce+plaintext+tag = %d", len(sealed), 12+len(secret)+16)
	}
	if bytes.Contains(sealed, secret) {
		t.Error("the sealed data holds the plaintext")
	}
	again, err := k.SealTOTP(42, keys.Version, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(sealed, again) {
		t.Error("two seals are equal; the nonce is not random")
	}

	tampered := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x80
		return b
	}
	cases := []struct {
		name    string
		keys    *keys.Keys
		userID  int64
		version int
		sealed  []byte
		ok      bool
	}{
		{"round trip", k, 42, keys.Version, sealed, true},
		{"other account", k, 43, keys.Version, sealed, false},
		{"negative account", k, -42, keys.Version, sealed, false},
		{"other version", k, 42, keys.Version + 1, sealed, false},
		{"other server key", mustParse(t, otherHex), 42, keys.Version, sealed, false},
		{"tampered nonce", k, 42, keys.Version, tampered(0), false},
		{"tampered ciphertext", k, 42, keys.Version, tampered(12), false},
		{"tampered tag", k, 42, keys.Version, tampered(len(sealed) - 1), false},
		{"truncated", k, 42, keys.Version, sealed[:len(sealed)-1], false},
		{"too short for a nonce and tag", k, 42, keys.Version, sealed[:27], false},
		{"empty", k, 42, keys.Version, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.keys.OpenTOTP(c.userID, c.version, c.sealed)
			if c.ok {
				if err != nil || !bytes.Equal(got, secret) {
					t.Errorf("OpenTOTP = %q, %v", got, err)
				}
				return
			}
			if !errors.Is(err, keys.ErrOpen) || got != nil {
				t.Errorf("OpenTOTP = %q, %v; want ErrOpen", got, err)
			}
		})
	}
}

func TestSealNonce(t *testing.T) {
	// The nonce is the first 12 bytes read from rand, written before the ciphertext.
	k := mustParse(t, testHex)
	nonce := bytes.Repeat([]byte{7}, 12)
	sealed, err := k.SealTOTP(1, 1, []byte("key"), bytes.NewReader(nonce))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sealed[:12], nonce) {
		t.Errorf("nonce %x, want %x", sealed[:12], nonce)
	}
	if _, err := k.SealTOTP(1, 1, []byte("key"), bytes.NewReader(nonce[:11])); err == nil {
		t.Error("SealTOTP with an exhausted reader succeeded")
	}
	if _, err := k.SealPending("s", []byte("key"), bytes.NewReader(nil)); err == nil {
		t.Error("SealPending with an exhausted reader succeeded")
	}
}

func TestUsernameMAC(t *testing.T) {
	master, _ := hex.DecodeString(testHex)
	sub, err := hkdf.Key(sha256.New, master, nil, "twofold username mac v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, sub)
	m.Write([]byte("alice"))
	want := m.Sum(nil)
	k := mustParse(t, testHex)
	if got := k.UsernameMAC("alice"); !bytes.Equal(got, want) {
		t.Errorf("UsernameMAC = %x, want HMAC-SHA256 under HKDF label %q: %x", got, "twofold username mac v1", want)
	}
	if bytes.Equal(k.UsernameMAC("bob"), want) || bytes.Equal(mustParse(t, otherHex).UsernameMAC("alice"), want) {
		t.Error("another name or another server key gives the same MAC")
	}
	// Its own subkey: not the backup-code key.
	b := hmac.New(sha256.New, k.BackupMACKey())
	b.Write([]byte("alice"))
	if bytes.Equal(b.Sum(nil), want) {
		t.Error("the username MAC uses the backup-code key")
	}
}

func TestDomainSeparation(t *testing.T) {
	k := mustParse(t, testHex)
	secret := []byte("enrolment key")
	pending, err := k.SealPending("session-1", secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	totp, err := k.SealTOTP(1, 1, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		open func() ([]byte, error)
		ok   bool
	}{
		{"pending round trip", func() ([]byte, error) { return k.OpenPending("session-1", pending) }, true},
		{"pending under another label", func() ([]byte, error) { return k.OpenPending("session-2", pending) }, false},
		{"pending opened as TOTP", func() ([]byte, error) { return k.OpenTOTP(1, 1, pending) }, false},
		{"TOTP opened as pending", func() ([]byte, error) { return k.OpenPending("1|1", totp) }, false},
		{"TOTP opened as pending, prefix label", func() ([]byte, error) { return k.OpenPending("", totp) }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.open()
			if c.ok {
				if err != nil || !bytes.Equal(got, secret) {
					t.Errorf("open = %q, %v", got, err)
				}
				return
			}
			if !errors.Is(err, keys.ErrOpen) {
				t.Errorf("open = %q, %v; want ErrOpen", got, err)
			}
		})
	}
}

func TestNeverPrinted(t *testing.T) {
	k := mustParse(t, testHex)
	secrets := []string{testHex, strings.ToUpper(testHex), hex.EncodeToString(k.BackupMACKey()), k.Check()}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("starting", "keys", k, "value", *k)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("starting", "keys", k)
	outputs := map[string]string{
		"String":    k.String(),
		"GoString":  k.GoString(),
		"%v":        fmt.Sprintf("%v", k),
		"%+v":       fmt.Sprintf("%+v", k),
		"%#v":       fmt.Sprintf("%#v", k),
		"%s":        fmt.Sprintf("%s", k),
		"%x":        fmt.Sprintf("%x", k),
		"%v value":  fmt.Sprintf("%v", *k),
		"%+v value": fmt.Sprintf("%+v", *k),
		"%#v value": fmt.Sprintf("%#v", *k),
		"%x value":  fmt.Sprintf("%x", *k),
		"Println":   fmt.Sprintln(k, *k),
		"in a struct": fmt.Sprintf("%+v", struct {
			K keys.Keys
			P *keys.Keys
		}{*k, k}),
		"slog": logged.String(),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			for _, s := range secrets {
				if strings.Contains(strings.ToLower(out), strings.ToLower(s)) {
					t.Errorf("%s prints a secret: %q", name, out)
				}
			}
			if !strings.Contains(out, "[redacted]") {
				t.Errorf("%s prints %q, want [redacted]", name, out)
			}
		})
	}
}

func TestGoldenSealed(t *testing.T) {
	// Made outside Go (Python's cryptography AESGCM with the HKDF subkey of testHex, nonce 07×12),
	// so the subkey label, cipher, layout and additional data are all pinned: stored data depends
	// on every one of them.
	const plain = "12345678901234567890"
	nonce := bytes.Repeat([]byte{7}, 12)
	k := mustParse(t, testHex)
	cases := []struct {
		name   string
		golden string
		seal   func() ([]byte, error)
		open   func([]byte) ([]byte, error)
	}{
		{
			"totp",
			"070707070707070707070707425decb5af7040cbb2106dea9fd98144d35fcf681243b900b41115d80a05b3dce5fbc804",
			func() ([]byte, error) { return k.SealTOTP(42, 1, []byte(plain), bytes.NewReader(nonce)) },
			func(b []byte) ([]byte, error) { return k.OpenTOTP(42, 1, b) },
		},
		{
			"pending",
			"070707070707070707070707425decb5af7040cbb2106dea9fd98144d35fcf6812c849309e6c463dba84d4181e67ff5e",
			func() ([]byte, error) { return k.SealPending("session-1", []byte(plain), bytes.NewReader(nonce)) },
			func(b []byte) ([]byte, error) { return k.OpenPending("session-1", b) },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sealed, err := c.seal()
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(sealed); got != c.golden {
				t.Errorf("sealed %s\nwant   %s", got, c.golden)
			}
			golden, _ := hex.DecodeString(c.golden)
			if got, err := c.open(golden); err != nil || string(got) != plain {
				t.Errorf("open(golden) = %q, %v", got, err)
			}
		})
	}
}

type metaMap map[string]string

func (m metaMap) SetMetaOnce(_ context.Context, key, value string) (string, error) {
	if v, ok := m[key]; ok {
		return v, nil
	}
	m[key] = value
	return value, nil
}

func TestBind(t *testing.T) {
	ctx := context.Background()
	first, err := keys.Parse(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	other, err := keys.Parse(strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	db := metaMap{}
	if err := first.Bind(ctx, db); err != nil {
		t.Fatalf("first bind: %v", err)
	}
	if err := first.Bind(ctx, db); err != nil {
		t.Fatalf("the same key again: %v", err)
	}
	if err := other.Bind(ctx, db); !errors.Is(err, keys.ErrWrongKey) {
		t.Fatalf("another key: %v, want ErrWrongKey", err)
	}
	if strings.Contains(db["key_check"], strings.Repeat("ab", 32)) {
		t.Fatal("the recorded check holds the key")
	}
}
