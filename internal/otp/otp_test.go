package otp_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/otp"
)

// The seeds of RFC 6238's reference code: the ASCII digits repeated to the hash's size.
var (
	seedSHA1   = []byte("12345678901234567890")
	seedSHA256 = []byte("12345678901234567890123456789012")
	seedSHA512 = []byte("1234567890123456789012345678901234567890123456789012345678901234")
)

func TestHOTPRFC4226(t *testing.T) {
	// RFC 4226 Appendix D.
	want := []string{
		"755224", "287082", "359152", "969429", "338314",
		"254676", "287922", "162583", "399871", "520489",
	}
	for counter, code := range want {
		if got := otp.HOTP(seedSHA1, uint64(counter), 6, otp.SHA1); got != code {
			t.Errorf("HOTP(counter %d) = %q, want %q", counter, got, code)
		}
	}
}

func TestTOTPRFC6238(t *testing.T) {
	// RFC 6238 Appendix B, 8 digits, 30-second steps.
	rows := []struct {
		unix                 int64
		sha1, sha256, sha512 string
		step                 int64
	}{
		{59, "94287082", "46119246", "90693936", 0x1},
		{1111111109, "07081804", "68084774", "25091201", 0x23523EC},
		{1111111111, "14050471", "67062674", "99943326", 0x23523ED},
		{1234567890, "89005924", "91819424", "93441116", 0x273EF07},
		{2000000000, "69279037", "90698825", "38618901", 0x3F940AA},
		{20000000000, "65353130", "77737706", "47863826", 0x27BC86AA}, // beyond 2^32 seconds
	}
	for _, r := range rows {
		at := time.Unix(r.unix, 0)
		if got := otp.StepAt(at, 30); got != r.step {
			t.Errorf("StepAt(%d) = %#x, want %#x", r.unix, got, r.step)
		}
		for _, c := range []struct {
			alg  otp.Algorithm
			key  []byte
			want string
		}{
			{otp.SHA1, seedSHA1, r.sha1},
			{otp.SHA256, seedSHA256, r.sha256},
			{otp.SHA512, seedSHA512, r.sha512},
		} {
			p := otp.Params{Algorithm: c.alg, Digits: 8, Period: 30}
			if got := otp.TOTP(c.key, at, p); got != c.want {
				t.Errorf("TOTP(%s, %d) = %q, want %q", c.alg, r.unix, got, c.want)
			}
		}
	}
}

func TestLeadingZerosKept(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		unix int64
		p    otp.Params
		want string
	}{
		// 68084774 in RFC 6238 Appendix B, cut to six digits.
		{"SHA256 6 digits", seedSHA256, 1111111109, otp.Params{Algorithm: otp.SHA256, Digits: 6, Period: 30}, "084774"},
		{"SHA1 8 digits", seedSHA1, 1111111109, otp.Params{Algorithm: otp.SHA1, Digits: 8, Period: 30}, "07081804"},
		{"SHA1 6 digits", seedSHA1, 1111111109, otp.Default, "081804"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := otp.TOTP(tt.key, time.Unix(tt.unix, 0), tt.p)
			if got != tt.want || len(got) != tt.p.Digits || !strings.HasPrefix(got, "0") {
				t.Errorf("TOTP = %q, want %q (%d digits, leading 0)", got, tt.want, tt.p.Digits)
			}
		})
	}
}

func TestHOTPDigits(t *testing.T) {
	// The truncated value of counter 0 is 1284755224 (RFC 4226 Appendix D).
	tests := []struct {
		name   string
		digits int
		want   string
	}{
		{"six", 6, "755224"},
		{"seven", 7, "4755224"},
		{"eight", 8, "84755224"},
		{"nine", 9, "284755224"},
		{"ten", 10, "1284755224"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := otp.HOTP(seedSHA1, 0, tt.digits, otp.SHA1); got != tt.want {
				t.Errorf("HOTP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHOTPPanicsOnBadInput(t *testing.T) {
	tests := []struct {
		name   string
		digits int
		alg    otp.Algorithm
	}{
		{"five digits", 5, otp.SHA1},
		{"eleven digits", 11, otp.SHA1},
		{"unknown algorithm", 6, otp.Algorithm(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("HOTP did not panic")
				}
			}()
			otp.HOTP(seedSHA1, 0, tt.digits, tt.alg)
		})
	}
}

func TestStepAt(t *testing.T) {
	tests := []struct {
		name   string
		unix   int64
		period int
		want   int64
	}{
		{"epoch", 0, 30, 0},
		{"end of first step", 29, 30, 0},
		{"start of second step", 30, 30, 1},
		{"2^32 seconds", 1 << 32, 30, (1 << 32) / 30},
		{"far future", 20000000000, 30, 666666666},
		{"period 60", 119, 60, 1},
		{"one second before epoch", -1, 30, -1},
		{"step before epoch", -30, 30, -1},
		{"floor before epoch", -31, 30, -2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := otp.StepAt(time.Unix(tt.unix, 0), tt.period); got != tt.want {
				t.Errorf("StepAt(%d, %d) = %d, want %d", tt.unix, tt.period, got, tt.want)
			}
		})
	}
}

func TestAlgorithmString(t *testing.T) {
	tests := []struct {
		alg  otp.Algorithm
		want string
	}{
		{otp.SHA1, "SHA1"},
		{otp.SHA256, "SHA256"},
		{otp.SHA512, "SHA512"},
		{otp.Algorithm(7), "Algorithm(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.alg.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParamsValid(t *testing.T) {
	tests := []struct {
		name string
		p    otp.Params
		want bool
	}{
		{"default", otp.Default, true},
		{"SHA512 8 digits 60 s", otp.Params{Algorithm: otp.SHA512, Digits: 8, Period: 60}, true},
		{"ten digits", otp.Params{Algorithm: otp.SHA1, Digits: 10, Period: 30}, true},
		{"five digits", otp.Params{Algorithm: otp.SHA1, Digits: 5, Period: 30}, false},
		{"eleven digits", otp.Params{Algorithm: otp.SHA1, Digits: 11, Period: 30}, false},
		{"zero period", otp.Params{Algorithm: otp.SHA1, Digits: 6, Period: 0}, false},
		{"negative algorithm", otp.Params{Algorithm: -1, Digits: 6, Period: 30}, false},
		{"unknown algorithm", otp.Params{Algorithm: 3, Digits: 6, Period: 30}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Valid(); got != tt.want {
				t.Errorf("Valid() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	key := seedSHA1
	now := time.Unix(1234567890, 0)
	cur := otp.StepAt(now, 30) // 0x273EF07
	code := func(step int64) string { return otp.HOTP(key, uint64(step), 6, otp.SHA1) }
	none := int64(-1)

	tests := []struct {
		name     string
		key      []byte
		code     string
		p        otp.Params
		skew     int
		after    int64
		wantStep int64
		wantOK   bool
	}{
		{"current step", key, code(cur), otp.Default, 1, none, cur, true},
		{"previous step", key, code(cur - 1), otp.Default, 1, none, cur - 1, true},
		{"next step", key, code(cur + 1), otp.Default, 1, none, cur + 1, true},
		{"two steps back", key, code(cur - 2), otp.Default, 1, none, 0, false},
		{"two steps ahead", key, code(cur + 2), otp.Default, 1, none, 0, false},
		{"two steps back with skew 2", key, code(cur - 2), otp.Default, 2, none, cur - 2, true},
		{"previous step with skew 0", key, code(cur - 1), otp.Default, 0, none, 0, false},
		{"negative skew is 0", key, code(cur), otp.Default, -3, none, cur, true},
		{"after MinInt64", key, code(cur), otp.Default, 1, math.MinInt64, cur, true},
		{"after previous step", key, code(cur), otp.Default, 1, cur - 1, cur, true},
		{"replay of current step", key, code(cur), otp.Default, 1, cur, 0, false},
		{"replay of previous step", key, code(cur - 1), otp.Default, 1, cur - 1, 0, false},
		{"step before last accepted", key, code(cur - 1), otp.Default, 1, cur, 0, false},
		{"next step after current accepted", key, code(cur + 1), otp.Default, 1, cur, cur + 1, true},
		{"wrong key", []byte("another secret key!!"), code(cur), otp.Default, 1, none, 0, false},
		{"wrong code", key, "000000", otp.Default, 1, none, 0, false},
		{"empty", key, "", otp.Default, 1, none, 0, false},
		{"too short", key, code(cur)[:5], otp.Default, 1, none, 0, false},
		{"too long", key, code(cur) + "0", otp.Default, 1, none, 0, false},
		{"non-digit", key, code(cur)[:5] + "a", otp.Default, 1, none, 0, false},
		{"space inside", key, code(cur)[:3] + " " + code(cur)[3:5], otp.Default, 1, none, 0, false},
		{"leading space", key, " " + code(cur), otp.Default, 1, none, 0, false},
		{"non-ASCII digits", key, "٢٨٧", otp.Default, 1, none, 0, false},
		{"invalid params", key, "1234", otp.Params{Algorithm: otp.SHA1, Digits: 4, Period: 30}, 1, none, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := otp.Verify(tt.key, tt.code, now, tt.p, tt.skew, tt.after)
			if step != tt.wantStep || ok != tt.wantOK {
				t.Errorf("Verify(%q) = %d, %v; want %d, %v", tt.code, step, ok, tt.wantStep, tt.wantOK)
			}
		})
	}
}

func TestVerifyBeyond2To32Seconds(t *testing.T) {
	// RFC 6238 Appendix B's last SHA512 row.
	p := otp.Params{Algorithm: otp.SHA512, Digits: 8, Period: 30}
	step, ok := otp.Verify(seedSHA512, "47863826", time.Unix(20000000000, 0), p, 1, -1)
	if !ok || step != 0x27BC86AA {
		t.Errorf("Verify = %#x, %v; want 0x27BC86AA, true", step, ok)
	}
}

func TestVerifyRefusesStepsBeforeEpoch(t *testing.T) {
	// Step -1 would be counter 2^64-1; RFC 6238 defines no code for it.
	at := time.Unix(-10, 0)
	code := otp.HOTP(seedSHA1, math.MaxUint64, 6, otp.SHA1)
	if step, ok := otp.Verify(seedSHA1, code, at, otp.Default, 1, math.MinInt64); ok {
		t.Errorf("Verify before 1970 = %d, true; want false", step)
	}
	// Step 0 is still reachable through the skew.
	if step, ok := otp.Verify(seedSHA1, otp.HOTP(seedSHA1, 0, 6, otp.SHA1), at, otp.Default, 1, -1); !ok || step != 0 {
		t.Errorf("Verify of step 0 = %d, %v; want 0, true", step, ok)
	}
}

func TestVerifyAcceptsWhatTOTPAnswers(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(7, 11))
	for i := range 500 {
		key := make([]byte, 1+rng.IntN(64))
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		p := otp.Params{
			Algorithm: otp.Algorithm(rng.IntN(3)),
			Digits:    otp.MinDigits + rng.IntN(otp.MaxDigits-otp.MinDigits+1),
			Period:    []int{30, 60, 15}[rng.IntN(3)],
		}
		at := time.Unix(rng.Int64N(1<<34), 0)
		step, ok := otp.Verify(key, otp.TOTP(key, at, p), at, p, 1, -1)
		if !ok || step != otp.StepAt(at, p.Period) {
			t.Fatalf("case %d: Verify(TOTP) = %d, %v; want %d, true", i, step, ok, otp.StepAt(at, p.Period))
		}
	}
}

// countingReader counts the bytes handed out, to show GenerateKey takes no more than it needs.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestGenerateKey(t *testing.T) {
	source := bytes.Repeat([]byte{0xa5, 0x3c, 0x01}, 40)
	tests := []struct {
		name    string
		r       io.Reader
		want    []byte
		wantErr bool
	}{
		{"plenty", bytes.NewReader(source), source[:20], false},
		{"exactly twenty", bytes.NewReader(source[:20]), source[:20], false},
		{"one byte at a time", &oneByteReader{source}, source[:20], false},
		{"nineteen bytes", bytes.NewReader(source[:19]), nil, true},
		{"empty", bytes.NewReader(nil), nil, true},
		{"error", failingReader{}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := &countingReader{r: tt.r}
			key, err := otp.GenerateKey(cr)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("GenerateKey = %x, nil; want an error", key)
				}
				return
			}
			if err != nil {
				t.Fatalf("GenerateKey: %v", err)
			}
			if !bytes.Equal(key, tt.want) {
				t.Errorf("GenerateKey = %x, want %x", key, tt.want)
			}
			if cr.n != otp.KeySize {
				t.Errorf("GenerateKey read %d bytes, want %d", cr.n, otp.KeySize)
			}
		})
	}

	key, err := otp.GenerateKey(rand.Reader)
	if err != nil || len(key) != 20 {
		t.Fatalf("GenerateKey(crypto/rand) = %x, %v; want 20 bytes", key, err)
	}
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0], r.b = r.b[0], r.b[1:]
	return 1, nil
}

func TestEncodeKey(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		want string
	}{
		{"RFC seed", seedSHA1, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"},
		{"no padding", []byte("Hello!\xde\xad\xbe\xef"), "JBSWY3DPEHPK3PXP"},
		{"would be padded", []byte("f"), "MY"},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := otp.EncodeKey(tt.key); got != tt.want {
				t.Errorf("EncodeKey = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodeKey(t *testing.T) {
	hello := []byte("Hello!\xde\xad\xbe\xef")
	tests := []struct {
		name    string
		in      string
		want    []byte
		wantErr bool
	}{
		{"canonical", "JBSWY3DPEHPK3PXP", hello, false},
		{"lower case", "jbswy3dpehpk3pxp", hello, false},
		{"mixed case", "JbSwY3dPeHpK3pXp", hello, false},
		{"grouped", "JBSW Y3DP EHPK 3PXP", hello, false},
		{"messy white space", "  jbsw\ty3dp\nehpk  3pxp \r\n", hello, false},
		{"missing padding", "MY", []byte("f"), false},
		{"with padding", "MY======", []byte("f"), false},
		{"grouped with padding", "MZXW 6=== ", []byte("foo"), false},
		{"empty", "", nil, true},
		{"only spaces", "   ", nil, true},
		{"only padding", "====", nil, true},
		{"invalid letter", "JBSWY3DPEHPK3PX1", nil, true},
		{"one dangling character", "JBSWY3DPE", nil, true},
		{"three dangling characters", "JBSWY3DPEHP", nil, true},
		{"six dangling characters", "JBSWY3DPEHPK3P", nil, true},
		{"single character", "M", nil, true},
		{"seven characters", "JBSWY3D", []byte("Hell"), false},
		{"padding inside", "MY==MY", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := otp.DecodeKey(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Errorf("DecodeKey(%q) = %x, nil; want an error", tt.in, got)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("DecodeKey(%q) = %x, %v; want %x", tt.in, got, err, tt.want)
			}
		})
	}
	if _, err := otp.DecodeKey(""); !errors.Is(err, otp.ErrEmptyKey) {
		t.Errorf("DecodeKey(\"\") error = %v, want ErrEmptyKey", err)
	}
}

func TestKeyRoundTrip(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	for n := 1; n <= 64; n++ {
		key := make([]byte, n)
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		enc := otp.EncodeKey(key)
		if strings.ContainsAny(enc, "= ") || enc != strings.ToUpper(enc) {
			t.Errorf("EncodeKey(%d bytes) = %q, want upper case without padding", n, enc)
		}
		for _, s := range []string{enc, strings.ToLower(enc), otp.GroupKey(enc)} {
			got, err := otp.DecodeKey(s)
			if err != nil || !bytes.Equal(got, key) {
				t.Errorf("DecodeKey(%q) = %x, %v; want %x", s, got, err, key)
			}
		}
	}
}

func TestGroupKey(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"sixteen", "JBSWY3DPEHPK3PXP", "JBSW Y3DP EHPK 3PXP"},
		{"thirty-two", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"},
		{"ragged end", "ABCDEF", "ABCD EF"},
		{"short", "ABC", "ABC"},
		{"four", "ABCD", "ABCD"},
		{"empty", "", ""},
		{"already grouped", "JBSW Y3DP EHPK 3PXP", "JBSW Y3DP EHPK 3PXP"},
		{"odd spacing", " JB SWY3\tDPE ", "JBSW Y3DP E"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := otp.GroupKey(tt.in); got != tt.want {
				t.Errorf("GroupKey(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestKeyURI(t *testing.T) {
	key := []byte("Hello!\xde\xad\xbe\xef") // JBSWY3DPEHPK3PXP
	tests := []struct {
		name     string
		issuer   string
		account  string
		p        otp.Params
		want     string
		wantPath string // the decoded label
	}{
		{
			"default", "Twofold", "alice@example.com", otp.Default,
			"otpauth://totp/Twofold:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Twofold&algorithm=SHA1&digits=6&period=30",
			"/Twofold:alice@example.com",
		},
		{
			"spaces", "Acme Corp", "Alice Smith", otp.Params{Algorithm: otp.SHA256, Digits: 8, Period: 60},
			"otpauth://totp/Acme%20Corp:Alice%20Smith?secret=JBSWY3DPEHPK3PXP&issuer=Acme%20Corp&algorithm=SHA256&digits=8&period=60",
			"/Acme Corp:Alice Smith",
		},
		{
			"reserved characters", "A&B=C+D", "a/b?c#d%e", otp.Params{Algorithm: otp.SHA512, Digits: 6, Period: 30},
			"otpauth://totp/A&B=C+D:a%2Fb%3Fc%23d%25e?secret=JBSWY3DPEHPK3PXP&issuer=A%26B%3DC%2BD&algorithm=SHA512&digits=6&period=30",
			"/A&B=C+D:a/b?c#d%e",
		},
		{
			"non-ASCII", "Zürich Bank", "jörg", otp.Default,
			"otpauth://totp/Z%C3%BCrich%20Bank:j%C3%B6rg?secret=JBSWY3DPEHPK3PXP&issuer=Z%C3%BCrich%20Bank&algorithm=SHA1&digits=6&period=30",
			"/Zürich Bank:jörg",
		},
		{
			"no issuer", "", "bob", otp.Default,
			"otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30",
			"/bob",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := otp.KeyURI(tt.issuer, tt.account, key, tt.p)
			if got != tt.want {
				t.Errorf("KeyURI =\n %s\nwant\n %s", got, tt.want)
			}
			// What a standard URI parser reads back must be what went in.
			u, err := url.Parse(got)
			if err != nil {
				t.Fatalf("url.Parse: %v", err)
			}
			q := u.Query()
			if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != tt.wantPath {
				t.Errorf("parsed %q %q %q, want otpauth totp %q", u.Scheme, u.Host, u.Path, tt.wantPath)
			}
			if q.Get("issuer") != tt.issuer || q.Get("secret") != otp.EncodeKey(key) ||
				q.Get("algorithm") != tt.p.Algorithm.String() {
				t.Errorf("parsed query %v", q)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	key := seedSHA1
	now := time.Unix(1234567890, 0)
	code := otp.TOTP(key, now, otp.Default)
	for b.Loop() {
		if _, ok := otp.Verify(key, code, now, otp.Default, 1, -1); !ok {
			b.Fatal("Verify refused a valid code")
		}
	}
}
