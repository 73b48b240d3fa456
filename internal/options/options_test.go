package options_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/options"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name, key, value string
		want             string // canonical value; "" when refused
		mention          string // what the refusal must name
	}{
		{"policy", options.InternalMFA, "optional", "optional", ""},
		{"policy in upper case", options.ExternalMFA, " OFF ", "off", ""},
		{"unknown policy", options.InternalMFA, "sometimes", "", "off, required, optional"},
		{"yes/no", options.EnableMFABackupCodes, "no", "no", ""},
		{"yes/no refused", options.MFARotateBackupCodes, "true", "", "yes, no"},
		{"count low end", options.MFABackupCodeCount, "1", "1", ""},
		{"count high end", options.MFABackupCodeCount, "20", "20", ""},
		{"count zero", options.MFABackupCodeCount, "0", "", "1 to 20"},
		{"count 21", options.MFABackupCodeCount, "21", "", "1 to 20"},
		{"count not a number", options.MFABackupCodeCount, "five", "", "1 to 20"},
		{"lifetime days", options.TemporaryPasswordLifetime, "30d", "30d", ""},
		{"lifetime seconds", options.TemporaryPasswordLifetime, "1s", "1s", ""},
		{"lifetime zero", options.TemporaryPasswordLifetime, "0s", "", "1s to 30d"},
		{"lifetime over 30 days", options.TemporaryPasswordLifetime, "31d", "", "1s to 30d"},
		{"lifetime in hours over", options.TemporaryPasswordLifetime, "721h", "", "1s to 30d"},
		{"lifetime without unit", options.TemporaryPasswordLifetime, "12", "", "1s to 30d"},
		{"lifetime negative", options.TemporaryPasswordLifetime, "-1d", "", "1s to 30d"},
		// 99999927755 days is past what a duration holds; wrapped round, it is about 29 days.
		{"lifetime past a duration's range", options.TemporaryPasswordLifetime, "99999927755d", "", "1s to 30d"},
		{"remember device past a duration's range", options.MFARememberDevice, "99999927755d", "", "1d to 30d"},
		{"lifetime unknown unit", options.TemporaryPasswordLifetime, "2w", "", "1s to 30d"},
		{"issuer", options.MFAIssuer, "Acme Corp", "Acme Corp", ""},
		{"issuer with colon", options.MFAIssuer, "Acme:Corp", "", "':'"},
		{"issuer empty", options.MFAIssuer, "", "", "1 to 64"},
		{"issuer 65 characters", options.MFAIssuer, strings.Repeat("é", 65), "", "1 to 64"},
		{"address limit off", options.FailedSignInsPerAddress, "0", "0", ""},
		{"address limit over", options.FailedSignInsPerAddress, "10001", "", "0 to 10000"},
		{"remember device off", options.MFARememberDevice, "0", "0", ""},
		{"remember device 0d", options.MFARememberDevice, "0d", "0", ""},
		{"remember device one day", options.MFARememberDevice, "1D", "1d", ""},
		{"remember device 30 days", options.MFARememberDevice, "30d", "30d", ""},
		{"remember device 31 days", options.MFARememberDevice, "31d", "", "1d to 30d"},
		{"remember device hours", options.MFARememberDevice, "12h", "", "1d to 30d"},
		{"remember device without unit", options.MFARememberDevice, "7", "", "1d to 30d"},
		{"remember device negative", options.MFARememberDevice, "-1d", "", "1d to 30d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := options.Validate(tt.key, tt.value)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("Validate(%q, %q) = %q, %v; want %q", tt.key, tt.value, got, err, tt.want)
				}
				return
			}
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.Invalid {
				t.Fatalf("Validate(%q, %q) = %q, %v; want invalid_request", tt.key, tt.value, got, err)
			}
			if !strings.Contains(e.Message, tt.mention) {
				t.Fatalf("message %q does not name %q", e.Message, tt.mention)
			}
		})
	}
	if _, err := options.Validate("noSuchOption", "x"); errs.Code(err) != errs.NotFound {
		t.Fatalf("unknown key: %v, want not_found", err)
	}
}

func TestSearch(t *testing.T) {
	var keys []string
	for _, o := range options.Search("mfa") {
		keys = append(keys, o.Key)
	}
	for _, want := range []string{options.InternalMFA, options.ExternalMFA, options.EnableMFABackupCodes,
		options.MFABackupCodeCount, options.MFARotateBackupCodes, options.MFAIssuer} {
		if !strings.Contains(strings.Join(keys, " "), want) {
			t.Errorf("searching MFA misses %s (found %v)", want, keys)
		}
	}
	for _, k := range keys {
		if k == options.TemporaryPasswordLifetime || k == options.FailedSignInsPerAddress {
			t.Errorf("searching MFA finds %s", k)
		}
	}
	if n := len(options.Search("")); n != len(options.All()) {
		t.Errorf("an empty search finds %d of %d options", n, len(options.All()))
	}
}

func TestDefaultsAndValues(t *testing.T) {
	v := options.NewValues(map[string]string{
		options.MFABackupCodeCount: "7",
		options.InternalMFA:        "bogus", // an invalid stored value falls back to the default
	})
	if v.Policy("internal") != options.PolicyRequired || v.Policy("external") != options.PolicyOptional {
		t.Errorf("policies %q/%q, want required/optional", v.Policy("internal"), v.Policy("external"))
	}
	if v.BackupCodeCount() != 7 || !v.BackupCodesEnabled() || v.RotateBackupCodes() {
		t.Errorf("backup codes: count %d enabled %v rotate %v", v.BackupCodeCount(), v.BackupCodesEnabled(), v.RotateBackupCodes())
	}
	if v.TemporaryPasswordLifetime() != 24*time.Hour || v.Issuer() != "Twofold" || v.FailedSignInsPerAddress() != 60 {
		t.Errorf("defaults: %v %q %d", v.TemporaryPasswordLifetime(), v.Issuer(), v.FailedSignInsPerAddress())
	}
	o, _ := options.Lookup(options.InternalMFA)
	if _, ok := o.Values().([]string); !ok {
		t.Errorf("a choice's values are %T, want a list", o.Values())
	}
	o, _ = options.Lookup(options.MFABackupCodeCount)
	if s, ok := o.Values().(string); !ok || s != "1 to 20" {
		t.Errorf("a range's values are %#v, want \"1 to 20\"", o.Values())
	}
}

// TestCacheMaxAge shows that a value stored elsewhere is read again once MaxAge has passed,
// and that a failed read is an error, never stale values.
func TestCacheMaxAge(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	stored := map[string]string{options.InternalMFA: "required"}
	var fail error
	reads := 0
	c := options.NewCache(func(context.Context) (map[string]string, error) {
		reads++
		if fail != nil {
			return nil, fail
		}
		return map[string]string{options.InternalMFA: stored[options.InternalMFA]}, nil
	}, func() time.Time { return now })
	ctx := context.Background()
	get := func() *options.Values {
		t.Helper()
		v, err := c.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if get().Policy("internal") != "required" {
		t.Fatal("first read")
	}
	stored[options.InternalMFA] = "off" // saved by another instance
	now = now.Add(options.MaxAge / 2)
	if get().Policy("internal") != "required" || reads != 1 {
		t.Fatalf("read again before MaxAge (%d reads)", reads)
	}
	now = now.Add(options.MaxAge)
	if get().Policy("internal") != "off" {
		t.Fatal("not read again after MaxAge")
	}
	stored[options.InternalMFA] = "optional"
	c.Invalidate()
	if get().Policy("internal") != "optional" {
		t.Fatal("Invalidate did not make the next Get read")
	}
	fail = errors.New("database down")
	now = now.Add(options.MaxAge)
	if _, err := c.Get(ctx); err == nil {
		t.Fatal("a failed read answered stale values")
	}
}

// TestInvalid: stored values that no longer pass their rule are named, with the rule, so
// that the server can say why it reads them as the default; valid and unknown keys are not.
func TestInvalid(t *testing.T) {
	bad := options.Invalid(map[string]string{
		options.InternalMFA: "bogus", options.MFABackupCodeCount: "999", options.FailedSignInsPerAddress: "-5",
		options.ExternalMFA: "optional", "retired": "x",
	})
	if len(bad) != 3 {
		t.Fatalf("Invalid = %v, want the three bad values", bad)
	}
	for i, key := range []string{options.FailedSignInsPerAddress, options.InternalMFA, options.MFABackupCodeCount} {
		if !strings.HasPrefix(bad[i], key+" must be") {
			t.Errorf("Invalid[%d] = %q, want %s's rule", i, bad[i], key)
		}
	}
	if v := options.NewValues(map[string]string{options.InternalMFA: "bogus"}); v.Get(options.InternalMFA) != "required" {
		t.Errorf("an invalid internalMFA reads as %q, want the default", v.Get(options.InternalMFA))
	}
}
