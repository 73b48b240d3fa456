package account_test

// SPEC §8 "Groups": an account's groups, changed by an administrator.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/app/apptest"
	"github.com/twofold-auth/twofold/internal/errs"
	"github.com/twofold-auth/twofold/internal/store/postgres/pgtest"
)

func TestChangeGroups(t *testing.T) {
	h := newHarness(t)
	h.user("gus")
	admin := account.Actor{Name: "root", Admin: true}

	v, err := h.svc.ChangeGroups(h.ctx, admin, "GUS", account.GroupChange{Add: []string{"ops", "dev", "a.b_c-9"}})
	mustNo(t, err)
	if want := []string{"a.b_c-9", "dev", "ops"}; !slices.Equal(v.Groups, want) {
		t.Fatalf("groups after adding = %q, want %q", v.Groups, want)
	}
	ev := h.events("gus", account.ActionGroupsChanged)
	if len(ev) != 1 || ev[0].Actor != "root" || ev[0].Detail != "added a.b_c-9,dev,ops" {
		t.Fatalf("audit after adding: %+v", ev)
	}

	v, err = h.svc.ChangeGroups(h.ctx, admin, "gus", account.GroupChange{Add: []string{"qa"}, Remove: []string{"dev", "ops"}})
	mustNo(t, err)
	if want := []string{"a.b_c-9", "qa"}; !slices.Equal(v.Groups, want) {
		t.Fatalf("groups after adding and removing = %q, want %q", v.Groups, want)
	}
	if ev := h.events("gus", account.ActionGroupsChanged); len(ev) != 2 || ev[0].Detail != "added qa; removed dev,ops" {
		t.Fatalf("audit after adding and removing: %+v", ev)
	}
	if u := h.storeUser("gus"); !u.InGroup("qa") || u.InGroup("dev") {
		t.Fatalf("stored groups %q", u.Groups)
	}

	t.Run("idempotent", func(t *testing.T) {
		for _, c := range []account.GroupChange{
			{Add: []string{"qa", "qa"}},
			{Remove: []string{"nope"}},
			{},
		} {
			v, err := h.svc.ChangeGroups(h.ctx, admin, "gus", c)
			mustNo(t, err)
			if want := []string{"a.b_c-9", "qa"}; !slices.Equal(v.Groups, want) {
				t.Fatalf("%+v changed the groups to %q", c, v.Groups)
			}
		}
		if ev := h.events("gus", account.ActionGroupsChanged); len(ev) != 2 {
			t.Fatalf("changes that changed nothing were audited: %d events", len(ev))
		}
	})

	t.Run("invalid names change nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			c     account.GroupChange
			field string
		}{
			{"upper case", account.GroupChange{Add: []string{"new", "Ops"}}, "add"},
			{"65 characters", account.GroupChange{Add: []string{strings.Repeat("a", 65)}}, "add"},
			{"empty", account.GroupChange{Add: []string{""}}, "add"},
			{"space", account.GroupChange{Add: []string{"new", "a b"}}, "add"},
			{"slash", account.GroupChange{Add: []string{"a/b"}}, "add"},
			{"comma", account.GroupChange{Add: []string{"a,b"}}, "add"},
			{"at sign", account.GroupChange{Add: []string{"a@b"}}, "add"},
			{"control character", account.GroupChange{Add: []string{"a\x1b[2J"}}, "add"},
			{"bad name to remove", account.GroupChange{Add: []string{"new"}, Remove: []string{"QA"}}, "remove"},
			{"both to add and to remove", account.GroupChange{Add: []string{"new"}, Remove: []string{"new"}}, "remove"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := h.svc.ChangeGroups(h.ctx, admin, "gus", tc.c)
				e := wantCode(t, err, errs.Invalid)
				if e.Field != tc.field {
					t.Errorf("refusal is about %q, want %q", e.Field, tc.field)
				}
				if tc.field == "add" && !strings.Contains(e.Message, "1 to 64 characters of a-z") {
					t.Errorf("message %q does not say the rule", e.Message)
				}
				if strings.ContainsRune(e.Message, '\x1b') {
					t.Errorf("message %q holds a raw control character", e.Message)
				}
				if got := h.storeUser("gus").Groups; !slices.Equal(got, []string{"a.b_c-9", "qa"}) {
					t.Fatalf("a refused change left groups %q", got)
				}
			})
		}
		if ev := h.events("gus", account.ActionGroupsChanged); len(ev) != 2 {
			t.Fatalf("refused changes were audited: %d events", len(ev))
		}
	})

	t.Run("admins only", func(t *testing.T) {
		_, err := h.svc.ChangeGroups(h.ctx, account.Actor{Name: "gus"}, "gus", account.GroupChange{Add: []string{"admins"}})
		wantCode(t, err, errs.Forbidden)
		if h.storeUser("gus").InGroup("admins") {
			t.Fatal("a non-admin added a group")
		}
	})

	t.Run("principal", func(t *testing.T) {
		u := h.enrolledUser("pia")
		_, err := h.svc.ChangeGroups(h.ctx, admin, "pia", account.GroupChange{Add: []string{"ops"}})
		mustNo(t, err)
		p := h.principal(h.session(u))
		if !p.InGroup("ops") || p.InGroup("qa") || !slices.Equal(p.Groups(), []string{"ops"}) {
			t.Fatalf("principal groups %q, InGroup(ops) %v, InGroup(qa) %v", p.Groups(), p.InGroup("ops"), p.InGroup("qa"))
		}
	})

	t.Run("unknown account", func(t *testing.T) {
		_, err := h.svc.ChangeGroups(h.ctx, admin, "nobody", account.GroupChange{Add: []string{"x"}})
		wantCode(t, err, errs.NotFound)
	})

	t.Run("view", func(t *testing.T) {
		h.user("nina")
		v, err := h.svc.User(h.ctx, admin, "nina")
		mustNo(t, err)
		b, _ := json.Marshal(v)
		if !strings.Contains(string(b), `"groups":[]`) {
			t.Fatalf("an account without groups reads %s, want \"groups\":[]", b)
		}
		list, err := h.svc.Users(h.ctx, admin)
		mustNo(t, err)
		for _, u := range list {
			if u.Username == "gus" && !slices.Equal(u.Groups, []string{"a.b_c-9", "qa"}) {
				t.Fatalf("Users lists gus with groups %q", u.Groups)
			}
		}
	})
}

// TestChangeGroupsConcurrently: changes of one account's groups made at once, by two
// goroutines or two instances, are all kept, on both backends.
func TestChangeGroupsConcurrently(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			c := app.Config{SecretKey: testServerKey}
			if backend == "postgres" {
				c.DB = pgtest.URL(t)
			}
			first := apptest.Open(t, c)
			c.Data = first.Data
			second := apptest.Open(t, c)
			admin := account.Actor{Name: "root", Admin: true}
			if _, _, err := first.Service.CreateUser(t.Context(), admin, account.NewUser{Username: "race", Email: "race@example.com"}); err != nil {
				t.Fatal(err)
			}
			_, err := first.Service.ChangeGroups(t.Context(), admin, "race", account.GroupChange{Add: []string{"gone-1", "gone-2"}})
			mustNo(t, err)

			const n = 10
			var wg sync.WaitGroup
			errc := make(chan error, 2*n)
			for i := range n {
				for j, svc := range []*account.Service{first.Service, second.Service} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c := account.GroupChange{Add: []string{fmt.Sprintf("g%d-%d", j, i)}}
						if i < 2 && j == 0 {
							c.Remove = []string{fmt.Sprintf("gone-%d", i+1)}
						}
						_, err := svc.ChangeGroups(t.Context(), admin, "race", c)
						errc <- err
					}()
				}
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				mustNo(t, err)
			}
			v, err := first.Service.User(t.Context(), admin, "race")
			mustNo(t, err)
			if len(v.Groups) != 2*n || slices.Contains(v.Groups, "gone-1") || slices.Contains(v.Groups, "gone-2") {
				t.Fatalf("after %d changes at once the groups are %q (lost updates)", 2*n, v.Groups)
			}
		})
	}
}
