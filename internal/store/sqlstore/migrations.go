package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
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
// with createTable when there is none, refuses a database of a newer schema than ms know, and
// applies each migration newer than the newest applied, in order. begin runs fn in a new
// transaction; each migration is applied and recorded in one, after checking again that it is
// not applied, so that processes starting at once apply it once.
func (f *Flavor) Migrate(ctx context.Context, x Executor, createTable string, ms []Migration,
	begin func(ctx context.Context, fn func(tx Executor) error) error) error {
	if _, err := x.Exec(ctx, createTable); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	newest, err := f.SchemaVersion(ctx, x)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(ms) > 0 && newest > ms[len(ms)-1].Version {
		return fmt.Errorf("migrate: the database has schema version %d, newer than this program knows (%d)",
			newest, ms[len(ms)-1].Version)
	}
	for _, m := range ms {
		if m.Version <= newest {
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
