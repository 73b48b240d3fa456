package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
	"github.com/twofold-auth/twofold/internal/store/storetest"
)

// BenchmarkVerifyStep runs the store's part of a successful second-factor step, as the
// account service runs it: the session and the account read on the readers, then one
// transaction that reads the account, records the TOTP step, replaces the session and adds
// the audit event. Its allocations are the store's share of the step's garbage (run with
// -benchmem, or -memprofile).
func BenchmarkVerifyStep(b *testing.B) {
	ctx := context.Background()
	db := open(b, filepath.Join(b.TempDir(), "twofold.db"))
	u := storetest.NewUser(b, db, "bench")
	hash := func(i int64) []byte {
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], uint64(i))
		h := sha256.Sum256(buf[:])
		return h[:]
	}
	t0 := time.Unix(1_700_000_000, 0)
	sess := &store.Session{IDHash: hash(0), UserID: u.ID, SID: "sid", AMR: []string{"pwd"}, CreatedAt: t0, LastSeenAt: t0}
	if err := db.CreateSession(ctx, sess); err != nil {
		b.Fatal(err)
	}
	step := int64(0)
	for b.Loop() {
		step++
		cur, err := db.Session(ctx, sess.IDHash)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.User(ctx, cur.UserID); err != nil {
			b.Fatal(err)
		}
		next := *cur
		next.IDHash, next.Done, next.MFAPassed, next.LastSeenAt = hash(step), true, true, t0.Add(time.Duration(step))
		next.AMR = []string{"pwd", "otp", "mfa"}
		err = db.Update(ctx, func(q store.Queries) error {
			if _, err := q.User(ctx, cur.UserID); err != nil {
				return err
			}
			if ok, err := q.SetTOTPStep(ctx, cur.UserID, step); err != nil || !ok {
				return err
			}
			if err := q.ReplaceSession(ctx, cur.IDHash, &next); err != nil {
				return err
			}
			return q.AddEvent(ctx, &store.Event{At: next.LastSeenAt, Actor: "bench", User: "bench", Action: "signin", Detail: "password and otp"})
		})
		if err != nil {
			b.Fatal(err)
		}
		sess = &next
	}
}
