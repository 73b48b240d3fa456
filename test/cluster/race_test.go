package cluster

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// signIns makes n sign-ins of name at mfa_verify, spread over bases, a few at a time (the
// password step is argon2id: a flood would be answered 503 by design).
func signIns(t *testing.T, bases []string, name string, n int) []*client {
	t.Helper()
	out := make([]*client, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2*len(bases))
	var mu sync.Mutex
	var errs []error
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c := &client{}
			r, err := c.password(bases[i%len(bases)], name, userPassword)
			if err == nil && (r.status != http.StatusOK || r.str("next") != "mfa_verify") {
				err = fmt.Errorf("password step: %s", r)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			out[i] = c
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d sign-ins failed, first: %v", len(errs), n, errs[0])
	}
	return out
}

// submitAll sends body from every sign-in at once, sign-in i to instance i mod 3, and counts
// the answers by status and code.
func submitAll(t *testing.T, bases []string, signins []*client, body map[string]string) map[string]int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	start := make(chan struct{})
	for i, c := range signins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := c.do(bases[i%len(bases)], "POST", "/api/v1/signin/mfa/verify", body)
			key := fmt.Sprintf("%d %s", r.status, r.code())
			if err != nil {
				key = "error: " + err.Error()
			} else if r.status == http.StatusOK {
				key = "200 " + r.str("next")
			}
			mu.Lock()
			answers[key]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return answers
}

// checkOneWinner checks that exactly one of the answers is a success and every other a
// refusal (a wrong code or, once those reached the limit, the lock), never an error.
func checkOneWinner(t *testing.T, what string, answers map[string]int) {
	t.Helper()
	t.Logf("%s: %v", what, answers)
	if answers["200 done"] != 1 {
		t.Errorf("%s: %d successes, want exactly 1 (answers %v)", what, answers["200 done"], answers)
	}
	for k, n := range answers {
		switch k {
		case "200 done", "401 invalid_code", "429 locked":
		default:
			t.Errorf("%s: %d answers %q, want only one success and refusals", what, n, k)
		}
	}
}

// TestRace sends one code 200 times at once, spread over three instances, each from its own
// sign-in: exactly one is accepted. Every guess is counted before it is checked, so the
// losers also add up to one lock. The sign-ins the backup-code race leaves at mfa_verify (all
// but the winner and the one that reached the lock) serve the TOTP race after an admin unlock,
// so that the test pays for 200 password hashes rather than 400.
func TestRace(t *testing.T) {
	c := newCluster(t, 3)
	b := c.bases()
	const n = 200
	a := enrol(t, "eve", c.addUser(t, "eve", false), b...)
	s := signIns(t, b, "eve", n)

	checkOneWinner(t, fmt.Sprintf("%d submissions of one backup code", n),
		submitAll(t, b, s, map[string]string{"backup_code": a.backup[0]}))

	c.mustCLI(t, "user", "unlock", "eve")
	var left []*client
	for i, si := range s {
		if r, err := si.do(b[i%3], "GET", "/api/v1/signin", nil); err == nil && r.str("next") == "mfa_verify" {
			left = append(left, si)
		}
	}
	if len(left) != n-2 {
		t.Errorf("%d sign-ins left at mfa_verify after the race, want %d", len(left), n-2)
	}
	s = append(left, signIns(t, b, "eve", n-len(left))...)
	checkOneWinner(t, fmt.Sprintf("%d submissions of one TOTP code", n),
		submitAll(t, b, s, map[string]string{"code": totp(t, a.secret, a.fresh())}))
}
