package proxies

import (
	"context"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/access"
	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
)

// TestRuleChangedByCommandLine: Twofold keeps its rules in its database; a rule added, then
// removed, by the command line (which opens the same database beside the running server, as
// `twofold rule add` and `twofold rule remove` do) is in force through nginx within 5
// seconds of the server's clock.
func TestRuleChangedByCommandLine(t *testing.T) {
	need(t, "nginx")
	tf := startTwofold(t, nil) // the server's own rules: none yet, so deny by default
	_, upAddr := startUpstream(t)
	px := startNginx(t, upAddr, tf.addr)
	hc := client(t, "")
	ctx := context.Background()
	status := func() int { return get(t, hc, "GET", px.url("public", "/"), "").StatusCode }
	if got := status(); got != 403 {
		t.Fatalf("before any rule: %d, want 403 (accessDefaultPolicy deny)", got)
	}

	cli := apptest.Open(t, app.Config{Data: tf.Data})
	if _, err := cli.Rules.AddRule(ctx, account.CLI, access.RuleSpec{Hosts: []string{"public." + domain}, Policy: "bypass"}, 0); err != nil {
		t.Fatal(err)
	}
	tf.clock.Advance(5 * time.Second)
	if got := status(); got != 200 {
		t.Fatalf("5 seconds after rule add: %d, want 200 (bypass)", got)
	}
	if _, err := cli.Rules.RemoveRule(ctx, account.CLI, 1); err != nil {
		t.Fatal(err)
	}
	tf.clock.Advance(5 * time.Second)
	if got := status(); got != 403 {
		t.Fatalf("5 seconds after rule remove: %d, want 403", got)
	}
}
