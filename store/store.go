// Package store reads and writes Tributary's Postgres tables through bun.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

var (
	// ErrNotFound is returned when the requested row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate is returned when a write would break a uniqueness rule, such as a task name in use.
	ErrDuplicate = errors.New("already exists")
)

// OpenOptions configures Open.
type OpenOptions struct {
	// MaxOpenConns caps the pool. Optional; defaults to 20.
	MaxOpenConns int
	// PingTimeout bounds the first connection check. Optional; defaults to 10s. Negative skips the check.
	PingTimeout time.Duration
}

// Open connects to the Postgres database at dsn (a postgres:// URL or a key=value string).
func Open(ctx context.Context, dsn string, opts OpenOptions) (*bun.DB, error) {
	if dsn == "" {
		return nil, errors.New("no database URL given (set DATABASE_URL)")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	// bun writes every value into the SQL text, so no two statements with other values are
	// alike: pgx's default cache of prepared statements would keep up to 512 of them per
	// connection, on both sides (a 100,000-entry directory import reached 100 MB in the client
	// that way), and never reuse one.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	sqldb := stdlib.OpenDB(*cfg)
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 20
	}
	sqldb.SetMaxOpenConns(opts.MaxOpenConns)
	sqldb.SetMaxIdleConns(opts.MaxOpenConns)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	db := bun.NewDB(sqldb, pgdialect.New())
	if opts.PingTimeout >= 0 {
		if opts.PingTimeout == 0 {
			opts.PingTimeout = 10 * time.Second
		}
		pctx, cancel := context.WithTimeout(ctx, opts.PingTimeout)
		defer cancel()
		if err := db.PingContext(pctx); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("connect to database: %w", err)
		}
	}
	return db, nil
}

// Store groups the repositories over one database.
type Store struct {
	DB     *bun.DB
	Tasks  *Tasks
	Runs   *Runs
	Tokens *Tokens
	Audit  *Audit
	// SecretChecks holds the check values of the encryption keys.
	SecretChecks *SecretChecks
	// Directory holds what LDAP import tasks imported, and the shared assets.
	Directory *Directory
	// Connectors holds connectors, their records, and the product hierarchy they sync into.
	Connectors *Connectors
	// Events holds the Workflow module's events.
	Events *Events
	// Files holds the files uploaded for the XML file imports.
	Files *Files
	// DBConnections holds the target databases of the data-out tasks.
	DBConnections *Named[DBConnection]
	// SavedQueries holds the SQL the data-out tasks run over the reporting schema.
	SavedQueries *Named[SavedQuery]
}

// New returns a Store over db.
func New(db *bun.DB) *Store {
	return bind(db, db)
}

// RunInTx runs fn with repositories bound to one transaction, committed when fn returns nil.
func (s *Store) RunInTx(ctx context.Context, fn func(ctx context.Context, tx *Store) error) error {
	return s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		return fn(ctx, bind(s.DB, tx))
	})
}

// WithLock runs fn while holding the Postgres advisory lock named name on a connection of its
// own, so that processes doing the same (several workers starting at once) take turns. The
// lock goes with the connection if the process dies. Waiting ends with ctx.
func (s *Store) WithLock(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return mapError(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(hashtext(?))", "lock:"+name); err != nil {
		return fmt.Errorf("take lock %s: %w", name, mapError(err))
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(uctx, "SELECT pg_advisory_unlock(hashtext(?))", "lock:"+name)
	}()
	return fn(ctx)
}

func bind(db *bun.DB, q bun.IDB) *Store {
	return &Store{DB: db, Tasks: &Tasks{db: q}, Runs: &Runs{db: q}, Tokens: &Tokens{db: q}, Audit: &Audit{db: q},
		SecretChecks: &SecretChecks{db: q}, Directory: &Directory{db: q}, Connectors: &Connectors{db: q}, Events: &Events{db: q}, Files: &Files{db: q},
		DBConnections: &Named[DBConnection]{db: q}, SavedQueries: &Named[SavedQuery]{db: q}}
}

// mapError turns driver errors that callers act on into the package's sentinel errors.
// IsUnavailable reports whether err says the database did not answer: it is down,
// restarting, recovering, refusing connections, or dropped the connection (rather than the
// request being wrong). The API answers such errors with 503, and activities retry them.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exception; 57P01-57P03: admin or crash shutdown, cannot connect now;
		// 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" ||
			pgErr.Code == "57P03" || pgErr.Code == "53300"
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		pgconn.Timeout(err) || strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF")
}

func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %s", ErrDuplicate, pgErr.ConstraintName)
	}
	return err
}

// withPgx runs fn on a pooled connection of db as pgx sees it (for COPY); what named the
// caller in the error when the driver is not pgx.
func withPgx(ctx context.Context, db *bun.DB, what string, fn func(*pgx.Conn) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("%s needs a pgx connection, not %T", what, dc)
		}
		return fn(sc.Conn())
	})
}
