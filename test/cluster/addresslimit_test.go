package cluster

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/options"
)

// TestAddressLimitAcrossInstances sends 24 wrong passwords at once from one address, spread
// over three instances on one database, with failedSignInsPerAddress 5: exactly 5 are checked
// and answered 401, the other 19 are refused 429 rate_limited (SPEC §5, "fail closed": the
// per-address limit holds exactly for guesses sent at the same moment, to several instances).
func TestAddressLimitAcrossInstances(t *testing.T) {
	c := newCluster(t, 3)
	b := c.bases()
	const n, limit = 24, 5
	c.mustCLI(t, "options", "set", options.FailedSignInsPerAddress, fmt.Sprint(limit))
	// Each instance reads the options again at its first request once they are MaxAge old.
	time.Sleep(options.MaxAge + 100*time.Millisecond)

	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Every guess names another username, so that only the address limit applies.
			r, err := (&client{}).do(b[i%len(b)], "POST", "/api/v1/signin",
				map[string]string{"username": fmt.Sprintf("guess-%02d", i), "password": "not the password at all"})
			key := fmt.Sprintf("%d %s", r.status, r.code())
			if err != nil {
				key = "error: " + err.Error()
			}
			mu.Lock()
			answers[key]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	t.Logf("answers: %v", answers)
	want := map[string]int{"401 invalid_credentials": limit, "429 rate_limited": n - limit}
	if fmt.Sprint(answers) != fmt.Sprint(want) {
		t.Fatalf("answers %v, want %v", answers, want)
	}
}
