package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/twofold-auth/twofold/internal/store"
)

// BenchmarkVerifyCommit splits the cost of the second-factor step's write transaction, the part
// that one SQLite writer runs one at a time, into the durable commit and the statements. It
// runs, on the project's own schema (made by internal/store/sqlite), the statements that
// internal/store/sqlite runs for a successful TOTP verification (copied here: keep them in step
// with internal/store/sqlstore), with synchronous FULL (as the store opens it) and NORMAL. The temporary
// directory is on the disk measured; set TMPDIR to measure another.
//
//	commit-only        BEGIN IMMEDIATE; COMMIT (nothing written: no sync)
//	1-statement        the conditional TOTP-step write alone
//	verify-tx          read the account, record the step, replace the session, add the audit
//	                   event: one verification a transaction, each statement prepared anew, as
//	                   the store runs them
//	verify-tx/prepared the same with every statement prepared once
//	verify-tx/batch8   eight verifications (eight accounts) in one transaction: what a group
//	                   commit would cost per verification
//
// The reported verifies/s is verifications (not transactions) a second.
func BenchmarkVerifyCommit(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		for _, shape := range []struct {
			name           string
			stmts          int // 0: none, 1: the step write, 4: the verification
			prepared       bool
			perTransaction int
		}{
			{"commit-only", 0, false, 1},
			{"1-statement", 1, false, 1},
			{"verify-tx", 4, false, 1},
			{"verify-tx/prepared", 4, true, 1},
			{"verify-tx/batch8", 4, false, 8},
		} {
			b.Run(sync+"/"+shape.name, func(b *testing.B) {
				benchVerifyCommit(b, sync, shape.stmts, shape.prepared, shape.perTransaction)
			})
		}
	}
}

const (
	sqlUser = `SELECT id, username, email, name, kind, source, role, disabled,
	password_hash, password_temporary, password_expires_at,
	totp_key, totp_key_version, totp_last_step, backup_salt,
	mfa_failures, mfa_locked_until, mfa_locked_forever, created_at FROM users WHERE id = ?`
	sqlSetStep        = `UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`
	sqlReplaceSession = `UPDATE sessions SET
		id_hash = ?, done = ?, mfa_passed = ?, mfa_skipped = ?, pending_key = ?,
		reauthenticated = ?, created_at = ?, last_seen_at = ?
	WHERE id_hash = ? AND user_id = ? AND sid = ?`
	sqlAddEvent = `INSERT INTO events (at, actor, account, action, detail)
		VALUES (?, ?, ?, ?, ?) RETURNING id`
)

func benchVerifyCommit(b *testing.B, sync string, stmts int, prepared bool, perTx int) {
	ctx := context.Background()
	dir := b.TempDir()
	// The schema and eight enrolled accounts with a sign-in each, made by the project's own code.
	const n = 8
	db, err := openDatabase(ctx, dir, "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.ensureAccounts(ctx, n, n, io.Discard); err != nil {
		b.Fatal(err)
	}
	accts, err := db.pickAccounts(ctx, n, n)
	if err != nil || len(accts) != n {
		b.Fatalf("pick: %d accounts, %v", len(accts), err)
	}
	if err := db.seedSessions(ctx, accts); err != nil {
		b.Fatal(err)
	}
	db.Close()
	sessions := make([][]byte, n)
	for i, a := range accts {
		sessions[i] = hashOf(a.token)
	}

	w, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "twofold.db")+
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous("+sync+
		")&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	prep := map[string]*sql.Stmt{}
	if prepared {
		for _, q := range []string{sqlUser, sqlSetStep, sqlReplaceSession, sqlAddEvent} {
			if prep[q], err = w.PrepareContext(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	}

	step, k := int64(1), 0 // the seeded accounts have used no step yet (0)
	for b.Loop() {
		tx, err := w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		row := func(q string, args ...any) *sql.Row {
			if prepared {
				return tx.StmtContext(ctx, prep[q]).QueryRowContext(ctx, args...)
			}
			return tx.QueryRowContext(ctx, q, args...)
		}
		exec := func(q string, args ...any) {
			var res sql.Result
			var err error
			if prepared {
				res, err = tx.StmtContext(ctx, prep[q]).ExecContext(ctx, args...)
			} else {
				res, err = tx.ExecContext(ctx, q, args...)
			}
			if err != nil {
				b.Fatal(err)
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				b.Fatalf("%s changed %d rows (%v), want 1", q, n, err)
			}
		}
		for range perTx {
			i := k % n // the next account
			k++
			if k%n == 0 {
				step++
			}
			if stmts >= 4 {
				var u store.User
				var t1, t2, t3 int64
				if err := row(sqlUser, accts[i].id).Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.Kind,
					&u.Source, &u.Role, &u.Disabled, &u.PasswordHash, &u.PasswordTemporary, &t1, &u.TOTPKey,
					&u.TOTPKeyVersion, &u.TOTPLastStep, &u.BackupSalt, &u.MFAFailures, &t2,
					&u.MFALockedForever, &t3); err != nil {
					b.Fatal(err)
				}
			}
			if stmts >= 1 {
				exec(sqlSetStep, step, accts[i].id, step)
			}
			if stmts >= 4 {
				next := make([]byte, 32)
				rand.Read(next)
				now := time.Now().UnixNano()
				exec(sqlReplaceSession, next, 1, 1, 0, nil, 0, now, now, sessions[i], accts[i].id, "") // seeded without a sid
				sessions[i] = next
				var id int64
				if err := row(sqlAddEvent, now, accts[i].username, accts[i].username, "signin", "signed in").Scan(&id); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*perTx)/b.Elapsed().Seconds(), "verifies/s")
}

// hashOf is the stored hash of a session cookie.
func hashOf(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
