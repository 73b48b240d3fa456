package otp_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/otp"
)

// needTool answers the path of an external program the test checks against. Where it is
// missing the test is skipped on a developer's machine but fails in CI (CI set), so that a
// CI image without it cannot pass silently.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found (install the Debian package %s): %v", name, pkg, err)
		}
		t.Skipf("%s not found (install the Debian package %s)", name, pkg)
	}
	return path
}

// TestAgreesWithOathtool compares TOTP with oathtool from OATH Toolkit on random keys, times
// and settings: mostly SHA1 with 6 digits, what nearly every app uses.
func TestAgreesWithOathtool(t *testing.T) {
	oathtool := needTool(t, "oathtool", "oathtool")
	rng := mrand.New(mrand.NewPCG(2024, 6238))
	algs := []otp.Algorithm{otp.SHA1, otp.SHA256, otp.SHA512}
	for i := range 200 {
		key := make([]byte, 10+rng.IntN(55))
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		p := otp.Default
		if i >= 150 { // oathtool supports 6 to 8 digits
			p = otp.Params{Algorithm: algs[rng.IntN(3)], Digits: 6 + rng.IntN(3), Period: []int{30, 60}[rng.IntN(2)]}
		}
		at := time.Unix(rng.Int64N(1<<34), 0).UTC() // up to the year 2514, well beyond 2^32 s
		now := at.Format("2006-01-02 15:04:05") + " UTC"
		cmd := exec.Command(oathtool, "--totp="+p.Algorithm.String(), "-d", fmt.Sprint(p.Digits),
			"-s", fmt.Sprint(p.Period), "--now", now, "-b", otp.EncodeKey(key))
		cmd.Env = append(os.Environ(), "TZ=UTC")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("case %d: %v: %v", i, cmd.Args, err)
		}
		want := strings.TrimSpace(string(out))
		if got := otp.TOTP(key, at, p); got != want {
			t.Errorf("case %d: TOTP(%s, %s, %+v) = %q, oathtool says %q", i, otp.EncodeKey(key), now, p, got, want)
		}
	}
}

// TestQRPNGDecodes reads the PNG back with zbarimg (ZBar), a real QR decoder.
func TestQRPNGDecodes(t *testing.T) {
	zbarimg := needTool(t, "zbarimg", "zbar-tools")
	key := []byte("Hello!\xde\xad\xbe\xef0123456789")
	tests := []struct {
		name    string
		content string
		size    int
	}{
		{"default URI", otp.KeyURI("Twofold", "alice@example.com", key, otp.Default), 256},
		{"odd size", otp.KeyURI("Twofold", "alice@example.com", key, otp.Default), 301},
		{"escaped URI", otp.KeyURI("Zürich Bank & Co", "jörg müller/ops", key, otp.Params{Algorithm: otp.SHA512, Digits: 8, Period: 60}), 400},
		{"long account", otp.KeyURI("Twofold", strings.Repeat("a", 200)+"@example.com", key, otp.Default), 512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := otp.QRPNG(tt.content, tt.size)
			if err != nil {
				t.Fatalf("QRPNG: %v", err)
			}
			file := filepath.Join(t.TempDir(), "code.png")
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(zbarimg, "--raw", "-q", file).Output()
			if err != nil {
				t.Fatalf("zbarimg: %v", err)
			}
			if got := strings.TrimSuffix(string(out), "\n"); got != tt.content {
				t.Errorf("zbarimg read\n %q\nwant\n %q", got, tt.content)
			}
		})
	}
}

// TestQRPNGImage checks the picture itself: its size, only black and white, and a white
// quiet zone of at least four modules around a code that starts with a finder pattern.
func TestQRPNGImage(t *testing.T) {
	content := otp.KeyURI("Twofold", "alice@example.com", []byte("12345678901234567890"), otp.Default)
	for _, size := range []int{57, 200, 256, 333} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data, err := otp.QRPNG(content, size)
			if err != nil {
				t.Fatalf("QRPNG: %v", err)
			}
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("png.Decode: %v", err)
			}
			b := img.Bounds()
			if b != image.Rect(0, 0, size, size) {
				t.Fatalf("bounds = %v, want %dx%d", b, size, size)
			}
			// Find the code: the first black pixel on the diagonal is the finder pattern's corner.
			first := -1
			for i := 0; i < size; i++ {
				if isBlack(t, img.At(i, i)) {
					first = i
					break
				}
			}
			if first < 0 {
				t.Fatal("no black pixel on the diagonal")
			}
			// The finder pattern's outer ring is 7 modules; its width gives the module size.
			module := 0
			for x := first; x < size && isBlack(t, img.At(x, first)); x++ {
				module++
			}
			if module%7 != 0 {
				t.Fatalf("finder pattern ring is %d pixels, not a multiple of 7", module)
			}
			module /= 7
			if first < otp.QuietZone*module {
				t.Errorf("quiet zone is %d pixels, want at least %d", first, otp.QuietZone*module)
			}
			// Every pixel outside the code's square must be white; the square is centred.
			inner := size - 2*first
			for y := 0; y < size; y++ {
				for x := 0; x < size; x++ {
					if x >= first && x < first+inner && y >= first && y < first+inner {
						continue
					}
					if isBlack(t, img.At(x, y)) {
						t.Fatalf("black pixel at (%d, %d) in the quiet zone", x, y)
					}
				}
			}
		})
	}
}

func isBlack(t *testing.T, c color.Color) bool {
	t.Helper()
	r, g, b, a := c.RGBA()
	switch {
	case r == 0 && g == 0 && b == 0 && a == 0xffff:
		return true
	case r == 0xffff && g == 0xffff && b == 0xffff && a == 0xffff:
		return false
	}
	t.Fatalf("colour %v is neither black nor white", c)
	return false
}

func TestQRPNGErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		size    int
	}{
		{"too small", "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP", 20},
		{"zero size", "x", 0},
		{"too much data", strings.Repeat("x", 3000), 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if data, err := otp.QRPNG(tt.content, tt.size); err == nil {
				t.Errorf("QRPNG = %d bytes, nil; want an error", len(data))
			}
		})
	}
}
