package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/twofold-auth/twofold/internal/store"
)

// Migration is one embedded schema change, named NNNN_what.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations reads the migrations/*.sql files of fsys in version order, refusing a badly named
// file or two files of one version. Each backend embeds its own folder of its own dialect's
// SQL, and Migrate applies them.
func Migrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	seen := map[int]string{}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name is not NNNN_what.sql", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same version", other, base)
		}
		seen[v] = base
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Migrate brings a database's schema up to date with ms: it makes the schema_migrations table
// with createTable when there is none, refuses a database that records a version ms do not
// have (a newer Twofold wrote it), and applies, in version order, every migration not
// recorded: also one older than the newest recorded, as when a migration is merged after a
// later one was released. begin runs fn in a new transaction; each migration is applied and
// recorded in one, after checking again that it is not recorded, so that processes starting at
// once apply it once.
func (f *Flavor) Migrate(ctx context.Context, x Executor, createTable string, ms []Migration,
	begin func(ctx context.Context, fn func(tx Executor) error) error) error {
	if _, err := x.Exec(ctx, createTable); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	recorded, err := f.recordedVersions(ctx, x)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := unknownVersions(recorded, ms); err != nil {
		return err
	}
	for _, m := range ms {
		if recorded[m.Version] {
			continue
		}
		err := begin(ctx, func(tx Executor) error {
			var n int
			if err := tx.QueryRow(ctx, f.sql(`SELECT count(*) FROM schema_migrations WHERE version = ?`), m.Version).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, f.sql(`INSERT INTO schema_migrations (version) VALUES (?)`), m.Version)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
	}
	return nil
}

// recordedVersions answers the versions schema_migrations records, read through x.
func (f *Flavor) recordedVersions(ctx context.Context, x Executor) (map[int]bool, error) {
	recorded := map[int]bool{}
	err := x.QueryEach(ctx, func(row Scanner) error {
		var v int64
		err := row.Scan(&v)
		recorded[int(v)] = true
		return err
	}, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, f.MapErr("schema versions", err)
	}
	return recorded, nil
}

// unknownVersions refuses recorded versions that ms do not have: a newer Twofold applied them,
// and this one cannot know what its schema holds.
func unknownVersions(recorded map[int]bool, ms []Migration) error {
	known := map[int]bool{}
	for _, m := range ms {
		known[m.Version] = true
	}
	var unknown []int
	for v := range recorded {
		if !known[v] {
			unknown = append(unknown, v)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Ints(unknown)
	what := "schema version " + strconv.Itoa(unknown[0])
	if len(unknown) > 1 {
		vs := make([]string, len(unknown))
		for i, v := range unknown {
			vs[i] = strconv.Itoa(v)
		}
		what = "schema versions " + strings.Join(vs, ", ")
	}
	knows := "none"
	if len(ms) > 0 {
		knows = fmt.Sprintf("up to %d", ms[len(ms)-1].Version)
	}
	return fmt.Errorf("migrate: the database records %s, which this program does not know (it knows %s): a newer Twofold has written it; run that version or a later one",
		what, knows)
}

// SchemaVersion answers the newest migration applied (0 for none), read through x.
func (f *Flavor) SchemaVersion(ctx context.Context, x Executor) (int, error) {
	var v *int64
	if err := x.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, f.MapErr("schema version", err)
	}
	if v == nil {
		return 0, nil
	}
	return int(*v), nil
}

// A Check looks at a database that Open has reached but not yet migrated, and answers an error
// to refuse it: a start refused (a server key that is not the database's) then leaves the
// schema as it found it, which matters when other instances of an older Twofold still run on
// it. meta answers a value of the store's metadata, ok false when there is none, as on a new
// database whose meta table does not exist yet.
type Check func(ctx context.Context, meta func(ctx context.Context, key string) (value string, ok bool, err error)) error

// RunChecks runs checks in order, reading metadata through x. hasMeta is the backend's query
// of one integer that is 1 when the meta table exists and 0 when it does not.
func (f *Flavor) RunChecks(ctx context.Context, x Executor, hasMeta string, checks []Check) error {
	meta := func(ctx context.Context, key string) (string, bool, error) {
		var n int
		if err := x.QueryRow(ctx, hasMeta).Scan(&n); err != nil {
			return "", false, f.MapErr("meta table", err)
		}
		if n == 0 {
			return "", false, nil
		}
		v, err := Queries{f: f, x: x}.Meta(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return "", false, nil
		}
		return v, err == nil, err
	}
	for _, check := range checks {
		if err := check(ctx, meta); err != nil {
			return err
		}
	}
	return nil
}
