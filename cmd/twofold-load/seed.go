package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/backupcode"
	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/options"
	"github.com/twofold-auth/twofold/internal/otp"
	"github.com/twofold-auth/twofold/internal/password"
	"github.com/twofold-auth/twofold/internal/store"
)

// loadPassword is the password of every load account.
const loadPassword = "twofold-load: correct horse battery staple"

// accountName is the username of the i-th load account. The names are made in order, in
// transactions, so the ones that exist are always load-0000000 up to some index.
func accountName(i int) string { return fmt.Sprintf("load-%07d", i) }

// loadAccount is a load account ready for a sign-in.
type loadAccount struct {
	id       int64
	username string
	key      []byte // the plain TOTP key, to compute codes locally
	token    string // a seeded sign-in's cookie (verify mode)
}

// database is the server's store and key, opened by the tool itself.
type database struct {
	app  *app.App
	st   store.Store
	keys *keys.Keys
	// hashing is the argon2id cost of the load accounts' password (-argon2), DefaultParams
	// unless set: the cost the server runs at, so that no sign-in replaces the hash.
	hashing password.Params

	closeOnce sync.Once
	closeErr  error
}

// openDatabase opens the data folder's SQLite database (or, with dbURL, the database it names,
// as serve's --db) and the server key as `serve` does (through internal/app):
// TWOFOLD_SECRET_KEY, or DATA/secret.key (made when missing), checked against the database.
func openDatabase(ctx context.Context, data, dbURL string) (*database, error) {
	a, err := app.Open(ctx, app.Config{Data: data, DB: dbURL, SecretKey: os.Getenv("TWOFOLD_SECRET_KEY"),
		MailFrom: "Twofold <twofold@localhost>", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	return &database{app: a, st: a.Store, keys: a.Keys, hashing: password.DefaultParams}, nil
}

// Close closes the database once; later calls do nothing.
func (db *database) Close() error {
	db.closeOnce.Do(func() { db.closeErr = db.app.Close() })
	return db.closeErr
}

// requireMFA makes internal accounts need MFA (the default), saying so when it had to change
// the stored value.
func (db *database) requireMFA(ctx context.Context, log io.Writer) error {
	stored, err := db.st.Options(ctx)
	if err != nil {
		return err
	}
	if v, ok := stored[options.InternalMFA]; ok && v != options.PolicyRequired {
		fmt.Fprintf(log, "note: option %s was %q; set to %q for the load\n", options.InternalMFA, v, options.PolicyRequired)
		return db.st.SetOption(ctx, options.InternalMFA, options.PolicyRequired)
	}
	return nil
}

// countSeeded answers how many load accounts exist, by an exponential then a binary search on
// the names (they exist from index 0 up to some index, without gaps).
func (db *database) countSeeded(ctx context.Context) (int, error) {
	exists := func(i int) (bool, error) {
		_, err := db.st.UserByName(ctx, accountName(i))
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	ok, err := exists(0)
	if err != nil || !ok {
		return 0, err
	}
	lo, hi := 0, 1 // exists(lo) holds; hi is a candidate
	for {
		ok, err := exists(hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 { // exists(lo) and !exists(hi)
		mid := lo + (hi-lo)/2
		ok, err := exists(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}

// seedResult says what seeding did.
type seedResult struct {
	existing, made int
	took           time.Duration
}

// rate answers accounts made a second.
func (r seedResult) rate() float64 {
	if r.took <= 0 {
		return 0
	}
	return float64(r.made) / r.took.Seconds()
}

// ensureAccounts makes load accounts until want exist, batch accounts per transaction, and
// reports progress on log.
func (db *database) ensureAccounts(ctx context.Context, want, batch int, log io.Writer) (seedResult, error) {
	have, err := db.countSeeded(ctx)
	if err != nil {
		return seedResult{}, err
	}
	r := seedResult{existing: have}
	if have >= want {
		return r, nil
	}
	start := time.Now()
	hash, err := password.Hash(loadPassword, db.hashing, rand.Reader) // once, reused
	if err != nil {
		return r, err
	}
	for from := have; from < want; from += batch {
		to := min(from+batch, want)
		if err := db.seedBatch(ctx, from, to, hash); err != nil {
			return r, fmt.Errorf("seeding accounts %d to %d: %w", from, to-1, err)
		}
		r.made = to - have
		if want-have > batch {
			fmt.Fprintf(log, "seeded %d of %d accounts (%.1fs)\n", to, want, time.Since(start).Seconds())
		}
	}
	r.took = time.Since(start)
	return r, nil
}

// seedBatch makes accounts from..to-1 in one transaction.
func (db *database) seedBatch(ctx context.Context, from, to int, hash string) error {
	now := time.Now()
	return db.st.Update(ctx, func(q store.Queries) error {
		for i := from; i < to; i++ {
			if err := db.seedAccount(ctx, q, i, hash, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// seedAccount makes one enrolled internal account. The TOTP key is sealed to the account's id,
// which only CreateUser gives, so the key is written by an UpdateUser in the same transaction.
func (db *database) seedAccount(ctx context.Context, q store.Queries, i int, hash string, now time.Time) error {
	salt, err := backupcode.NewSalt(rand.Reader)
	if err != nil {
		return err
	}
	name := accountName(i)
	u := &store.User{Username: name, Email: name + "@load.invalid", Name: "Load " + name,
		Kind: store.KindInternal, Source: store.SourceLocal, Role: store.RoleUser,
		PasswordHash: hash, BackupSalt: salt, CreatedAt: now}
	if err := q.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("account %s exists already (is another twofold-load seeding this folder?)", name)
		}
		return err
	}
	key, err := otp.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if u.TOTPKey, err = db.keys.SealTOTP(u.ID, keys.Version, key, rand.Reader); err != nil {
		return err
	}
	u.TOTPKeyVersion = keys.Version
	return q.UpdateUser(ctx, u)
}

// pickAccounts answers up to need load accounts of the total that can sign in now, chosen at
// random across the whole table so that a large database is exercised as a whole. Accounts
// whose last accepted TOTP step is the current one (used moments ago) are skipped.
func (db *database) pickAccounts(ctx context.Context, total, need int) ([]*loadAccount, error) {
	step := otp.StepAt(time.Now(), otp.Default.Period)
	out := make([]*loadAccount, 0, min(need, total))
	for _, i := range mrand.Perm(total) {
		if len(out) == need {
			break
		}
		u, err := db.st.UserByName(ctx, accountName(i))
		if err != nil {
			return nil, err
		}
		if !u.Enrolled() || u.Disabled || account.SecondFactorLockedAt(u, time.Now()) || u.TOTPLastStep >= step {
			continue
		}
		key, err := db.keys.OpenTOTP(u.ID, u.TOTPKeyVersion, u.TOTPKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u.Username, err)
		}
		out = append(out, &loadAccount{id: u.ID, username: u.Username, key: key})
	}
	return out, nil
}

// seedSessions gives every account a sign-in waiting at its second factor, as the password
// step would leave it, in one transaction. The cookie is made exactly as internal/account's
// newToken makes it: 32 random bytes, base64url without padding (43 characters), stored as the
// SHA-256 of the cookie text.
func (db *database) seedSessions(ctx context.Context, accts []*loadAccount) error {
	now := time.Now()
	return db.st.Update(ctx, func(q store.Queries) error {
		for _, a := range accts {
			token, hash, err := newToken()
			if err != nil {
				return err
			}
			if err := q.CreateSession(ctx, &store.Session{IDHash: hash, UserID: a.id,
				CreatedAt: now, LastSeenAt: now}); err != nil {
				return err
			}
			a.token = token
		}
		return nil
	})
}

// newToken makes a session cookie and its stored hash (see seedSessions).
func newToken() (token string, hash []byte, err error) {
	var b [32]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return "", nil, err
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(token))
	return token, h[:], nil
}

// seedOnly is -mode seed: make sure -accounts accounts exist and say how long it took.
func seedOnly(ctx context.Context, c *config, stdout io.Writer) error {
	db, err := openDatabase(ctx, c.data, c.db)
	if err != nil {
		return err
	}
	defer db.Close()
	db.hashing = c.hashing
	if err := db.requireMFA(ctx, stdout); err != nil {
		return err
	}
	r, err := db.ensureAccounts(ctx, c.accounts, c.batch, stdout)
	if err != nil {
		return err
	}
	writeSeed(stdout, r, c.batch)
	return nil
}
