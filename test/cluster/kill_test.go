package cluster

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// item is one code of the load: a backup code or a TOTP code of an account.
type item struct {
	user string
	body map[string]string
	// A TOTP item's code is chosen when it is first sent, of the step the account may use
	// then (from codes, by step), so that a slow load cannot make it stale before it is sent.
	acct  *account
	codes map[int64]string
}

// totpItem is the TOTP item of a, with the codes of the steps a long load could reach.
func totpItem(t *testing.T, a *account) item {
	t.Helper()
	it := item{user: a.name, acct: a, codes: map[int64]string{}}
	for s := a.fresh(); s <= a.fresh()+int64(hang/(30*time.Second))+1; s++ {
		it.codes[s] = totp(t, a.secret, s)
	}
	return it
}

// outcome is what happened to an item: accepted, or its answer was lost with the instance and
// the retry was refused (the use had been committed before the kill).
type outcome struct {
	accepted   bool
	lostAnswer bool
}

// TestKill9 kills one of three instances with SIGKILL in the middle of a verification load:
// the other two keep answering every request, and afterwards no code that was accepted (or
// whose use the dead instance had committed) works again, on any instance.
func TestKill9(t *testing.T) {
	c := newCluster(t, 3)
	b := c.bases()
	c.mustCLI(t, "options", "set", "mfaBackupCodeCount", "20")
	admin := enrol(t, "boss", c.addUser(t, "boss", true), b...)
	var items []item
	for u := range 4 {
		name := fmt.Sprint("kay", u)
		a := enrol(t, name, c.addUser(t, name, false), b[u%3], b[(u+1)%3], b[(u+2)%3])
		items = append(items, totpItem(t, a))
		for _, code := range a.backup {
			items = append(items, item{user: name, body: map[string]string{"backup_code": code}})
		}
	}

	const victim = 1
	victimIn := c.ins[victim]
	var dead atomic.Bool
	alive := func(i int) int { // the instance to use for the i-th request
		i %= 3
		if i == victim && dead.Load() {
			i = (i + 1) % 3
		}
		return i
	}
	var (
		mu        sync.Mutex
		outcomes  = make([]outcome, len(items))
		accepted  int
		afterKill int     // answers from the living instances after the kill
		cut       int     // requests the kill left without an answer
		cutCodes  int     // of which code verifications
		refused   int     // codes whose answer was lost and whose retry was refused
		survivors []error // anything but a good answer from an instance that was not killed
	)
	// one runs item i until it has an answer from a living instance.
	one := func(i int) {
		it := items[i]
		if it.acct != nil { // a retry sends the same code: its use may have been committed
			s := it.acct.fresh()
			code, ok := it.codes[s]
			if !ok {
				mu.Lock()
				survivors = append(survivors, fmt.Errorf("item %d: the load reached step %d, past the codes made for it", i, s))
				mu.Unlock()
				return
			}
			it.body = map[string]string{"code": code}
			items[i].body = it.body
		}
		for attempt := 0; attempt < 3; attempt++ {
			in, vin := alive(i+attempt), alive(i+attempt+1)
			c := &client{}
			verifying := false
			r, err := c.password(b[in], it.user, userPassword)
			if err == nil && r.str("next") == "mfa_verify" {
				verifying = true
				r, err = c.do(b[vin], "POST", "/api/v1/signin/mfa/verify", it.body)
			} else if err == nil {
				err = fmt.Errorf("password step: %s", r)
			}
			mu.Lock()
			switch {
			case err != nil && (in == victim || vin == victim) && dead.Load():
				cut++
				if verifying {
					cutCodes++
					outcomes[i].lostAnswer = true
				}
				mu.Unlock()
				continue // try again on the living instances
			case err != nil:
				survivors = append(survivors, fmt.Errorf("item %d on instances %d, %d: %w", i, in, vin, err))
			case r.status == http.StatusOK && r.str("next") == "done":
				outcomes[i].accepted = true
				if dead.Load() {
					afterKill++
				}
				// Killed here, under the lock, the victim dies while the other workers'
				// requests are in flight and two thirds of the codes are still to be sent.
				if accepted++; accepted == len(items)/3 {
					dead.Store(true)
					victimIn.Kill()
				}
			case r.status == http.StatusUnauthorized && outcomes[i].lostAnswer:
				// The dead instance had committed the use before it died: refused, as it must be.
				refused++
			default:
				survivors = append(survivors, fmt.Errorf("item %d on instances %d, %d: %s", i, in, vin, r))
			}
			mu.Unlock()
			return
		}
	}

	work := make(chan int)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				one(i)
			}
		}()
	}
	deadline := time.After(hang)
feed:
	for i := range items {
		select {
		case work <- i:
		case <-deadline:
			t.Errorf("the load did not finish within %s", hang)
			break feed
		}
	}
	close(work)
	wg.Wait()
	for _, err := range survivors {
		t.Errorf("a living instance: %v", err)
	}
	if !dead.Load() {
		t.Fatalf("only %d of %d codes were accepted: the kill never came", accepted, len(items))
	}
	<-victimIn.Done()
	t.Logf("%d codes, %d accepted (%d after the kill); kill -9 of instance %d cut %d requests, %d of them code checks, of which %d had been committed (refused when tried again)",
		len(items), accepted, afterKill, victim, cut, cutCodes, refused)
	// The kill came while work was in flight: codes were accepted before it, and the living
	// instances answered the rest after it.
	if afterKill == 0 {
		t.Fatalf("no code was accepted after the kill: it came after the load, testing nothing")
	}
	for _, i := range []int{0, 2} {
		if r, err := (&client{}).do(b[i], "GET", "/readyz", nil); err != nil || r.status != http.StatusOK {
			t.Errorf("instance %d /readyz after the kill: %v, %v", i, r, err)
		}
	}

	// Every code that was used, answered or not, is refused on the living instances. Refusals
	// count towards the lock, so an admin unlocks every account first (a retry refused during
	// the load counted already) and then after every four refusals.
	signins := map[string]*client{}
	failures := map[string]int{}
	for _, it := range items {
		if _, ok := failures[it.user]; !ok {
			failures[it.user] = 0
			expect(t, "unlock", admin.session.call(t, b[0], "POST", "/api/v1/admin/users/"+it.user+"/unlock", nil), http.StatusOK, "")
		}
	}
	for i, it := range items {
		if !outcomes[i].accepted && !outcomes[i].lostAnswer {
			continue
		}
		in := []int{0, 2}[i%2]
		si := signins[it.user]
		if si == nil {
			si = signIn(t, b[in], it.user)
			signins[it.user] = si
		}
		r := si.call(t, b[in], "POST", "/api/v1/signin/mfa/verify", it.body)
		if r.status == http.StatusOK {
			t.Fatalf("a used code of %s works again after kill -9: %v", it.user, it.body)
		}
		expect(t, "a used code again", r, http.StatusUnauthorized, "invalid_code")
		if failures[it.user]++; failures[it.user] == 4 {
			expect(t, "unlock", admin.session.call(t, b[2-in], "POST", "/api/v1/admin/users/"+it.user+"/unlock", nil), http.StatusOK, "")
			failures[it.user] = 0
		}
	}
}
