package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/store"
)

// schemaVersioner is a store that tells its schema version (both backends do).
type schemaVersioner interface {
	SchemaVersion(ctx context.Context) (int, error)
}

// migrateCommand brings the database's schema up to date and stops: run it once before
// starting new instances, so that none of them starts on a migration. (Instances migrate at
// start too, under an advisory lock on PostgreSQL, so it is not required.)
func migrateCommand(ctx context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	f := newFlags("migrate")
	if _, err := f.parse(args); err != nil {
		return err
	}
	if f.common.db == "" {
		if err := os.MkdirAll(f.common.data, 0o700); err != nil {
			return fmt.Errorf("data folder: %w", err)
		}
	}
	st, err := app.OpenStore(ctx, f.common.data, f.common.db)
	if err != nil {
		return err
	}
	defer st.Close()
	if sv, ok := st.(schemaVersioner); ok {
		v, err := sv.SchemaVersion(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "The database schema is up to date (version %d).\n", v)
		return nil
	}
	fmt.Fprintln(stdout, "The database schema is up to date.")
	return nil
}

// copyDBCommand copies every row of one database into another, empty one: SQLite to
// PostgreSQL when an organisation outgrows one machine, and back. The servers using the source
// should be stopped first; the copy is checked by counting the rows of every table on both
// sides. No key is needed: sealed TOTP keys are copied as they are, so the instances on the
// target must use the server key the source was written with.
func copyDBCommand(ctx context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	f := newFlags("copy-db")
	from := f.required("from", "URL", "the database to copy: sqlite:PATH or postgres://...")
	to := f.required("to", "URL", "the empty database to copy into: sqlite:PATH or postgres://...")
	if _, err := f.parse(args); err != nil {
		return err
	}
	switch {
	case *from == "" || *to == "":
		return usageError{"copy-db: --from URL and --to URL are required"}
	case *from == *to:
		return usageError{"copy-db: --from and --to name the same database"}
	}
	// Opening a SQLite path makes the file, so a mistyped source would copy an empty database.
	if app.IsSQLiteURL(*from) {
		path, err := app.SQLitePath(*from)
		if err != nil {
			return fmt.Errorf("copy-db: --from: %w", err)
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("copy-db: --from: no database at %s: %w", path, err)
		}
	}
	src, err := app.OpenStore(ctx, f.common.data, *from)
	if err != nil {
		return fmt.Errorf("copy-db: --from: %w", err)
	}
	defer src.Close()
	dst, err := app.OpenStore(ctx, f.common.data, *to)
	if err != nil {
		return fmt.Errorf("copy-db: --to: %w", err)
	}
	defer dst.Close()
	sc, ok1 := src.(store.Copier)
	dc, ok2 := dst.(store.Copier)
	if !ok1 || !ok2 {
		return errors.New("copy-db: this backend cannot be copied")
	}
	counts, err := store.Copy(ctx, sc, dc)
	if errors.Is(err, store.ErrNotEmpty) {
		return fmt.Errorf("copy-db: --to: %w; copy-db only copies into a new, empty database", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Copied %s to %s; the row counts match:\n", kindOf(*from), kindOf(*to))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS")
	for _, t := range store.Tables {
		fmt.Fprintf(tw, "%s\t%d\n", t, counts[t])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Start the servers on the new database with the server key of the old one (TWOFOLD_SECRET_KEY, or the contents of DATA/secret.key).")
	return nil
}

// kindOf names a database URL's backend without its address or password.
func kindOf(url string) string {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		return "PostgreSQL"
	}
	return "SQLite"
}
