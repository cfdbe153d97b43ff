package sqlout

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// TLS modes of a connection.
const (
	TLSDisable    = "disable"
	TLSRequire    = "require"
	TLSVerifyCA   = "verify-ca"
	TLSVerifyFull = "verify-full"
)

// ConnConfig is a target connection, with its password opened.
type ConnConfig struct {
	// Type is Postgres or MySQL.
	Type     string
	Host     string
	Port     int
	Database string
	Username string
	Password string
	// TLSMode is disable, require (encrypted, the certificate not checked), verify-ca (signed
	// by CAPEM) or verify-full (signed by CAPEM and naming Host).
	TLSMode string
	// CAPEM is the CA that signs the server's certificate (verify-ca, verify-full); the
	// system's roots when empty.
	CAPEM string
}

// tlsConfig builds the TLS configuration of a mode, nil for disable.
func (c ConnConfig) tlsConfig() (*tls.Config, error) {
	if c.TLSMode == TLSDisable || c.TLSMode == "" {
		return nil, nil
	}
	if c.TLSMode == TLSRequire {
		return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, nil //nolint:gosec // encryption without verification is what "require" means
	}
	var roots *x509.CertPool
	if c.CAPEM != "" {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(c.CAPEM)) {
			return nil, errors.New("ca_pem holds no PEM certificate")
		}
	}
	if c.TLSMode == TLSVerifyFull {
		return &tls.Config{RootCAs: roots, ServerName: c.Host, MinVersion: tls.VersionTLS12}, nil
	}
	// verify-ca: the chain must lead to the CA; the name is not checked.
	return &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true, //nolint:gosec // verified below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("the server sent no certificate")
			}
			certs := make([]*x509.Certificate, len(raw))
			for i, r := range raw {
				cert, err := x509.ParseCertificate(r)
				if err != nil {
					return err
				}
				certs[i] = cert
			}
			inter := x509.NewCertPool()
			for _, ct := range certs[1:] {
				inter.AddCert(ct)
			}
			_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}}, nil
}

// Source is a stream of rows, each with one value per column.
type Source interface {
	Next() bool
	Values() ([]any, error)
	Err() error
}

// capped counts a source's rows and stops it with ErrTooManyRows past max (0: no cap).
type capped struct {
	src Source
	n   int64
	max int64
	err error
}

func (c *capped) Next() bool {
	if c.err != nil || !c.src.Next() {
		return false
	}
	c.n++
	if c.max > 0 && c.n > c.max {
		c.err = ErrTooManyRows
		return false
	}
	return true
}

func (c *capped) Values() ([]any, error) { return c.src.Values() }

func (c *capped) Err() error {
	if c.err != nil {
		return c.err
	}
	return c.src.Err()
}

// Modes of an export.
const (
	ModeFull        = "full"
	ModeIncremental = "incremental"
)

// Schema-change policies: what an export does when the query's columns changed since the
// table was written.
const (
	SchemaFail       = "fail"
	SchemaAddColumns = "add_columns"
	SchemaRebuild    = "rebuild"
)

// Export describes the writing of one result into one table.
type Export struct {
	// Table is the target table (checked with CheckTableName; shortened to the database's
	// limit).
	Table string
	// Columns are the result's columns, already shortened (ShortColumns).
	Columns []Column
	// Mode is ModeFull (the table's rows are replaced) or ModeIncremental (rows upserted by
	// Keys, and with DeleteMissing the rows whose keys the result lacks deleted).
	Mode          string
	Keys          []string
	DeleteMissing bool
	// SchemaChange is the policy when Columns differ from Previous.
	SchemaChange string
	// RunID is recorded with the refresh.
	RunID uuid.UUID
	// MaxRows fails the export (nothing written) when the result has more rows. 0: no cap.
	MaxRows int64
}

// Result is what an export did.
type Result struct {
	Table   string `json:"table"`
	Written int64  `json:"written"`
	Deleted int64  `json:"deleted"`
	// Created, Altered and Rebuilt say what happened to the table's definition.
	Created bool `json:"created,omitempty"`
	Altered bool `json:"altered,omitempty"`
	Rebuilt bool `json:"rebuilt,omitempty"`
}

// Target is a database that results are written to.
type Target interface {
	// Version is the server's version, for a connection test.
	Version(ctx context.Context) (string, error)
	// Write writes the rows of src into e.Table in one transaction: readers see the old rows
	// until it commits, and nothing when it fails.
	Write(ctx context.Context, e Export, src Source) (Result, error)
	Close() error
}

// Open connects to a target.
func Open(ctx context.Context, c ConnConfig) (Target, error) {
	switch c.Type {
	case Postgres:
		return openPostgres(ctx, c)
	case MySQL:
		return openMySQL(c)
	}
	return nil, fmt.Errorf("unknown database type %q", c.Type)
}

// RefreshTable is the table in every target database that records when each exported table
// was last refreshed, its row count, the run and what the run deleted (run_deleted), written
// in the same transaction as the table.
const RefreshTable = "tributary_refreshes"

// runDeleted is what a write of e reports as deleted, given the refresh row of its table
// before it (prevRun, prevDeleted: the run that last refreshed the table and what that run
// deleted) and the rows this write deleted. When an earlier attempt of the same run already
// committed the table (a retry after a crash: a task writes each table once a run, but for
// the dashboard's status row, upserted twice and never deleted), a full refresh's DELETE
// removed only the rows that attempt wrote, so the run deleted what that attempt did; an
// incremental one's deletions come on top of it. Either way a retried run counts what one
// clean run would.
func runDeleted(e Export, prevRun string, prevDeleted, deleted int64) int64 {
	if prevRun == "" || prevRun != e.RunID.String() {
		return deleted
	}
	if e.Mode == ModeFull {
		return prevDeleted
	}
	return prevDeleted + deleted
}

// ErrTooManyRows is returned when a result has more rows than Export.MaxRows.
var ErrTooManyRows = errors.New("the result has more rows than the task allows (max_rows); nothing was written")

// Refused is an export that its own settings or result prevent (a changed schema under the
// fail policy, a missing or repeated key): retrying changes nothing.
type Refused struct{ Msg string }

func (e *Refused) Error() string { return e.Msg }

func refused(format string, args ...any) error { return &Refused{Msg: fmt.Sprintf(format, args...)} }

// checkPlan validates an export against the columns the table has (prev, nil when it does
// not exist) and the policy, returning the columns to add or whether to rebuild.
func checkPlan(e *Export, prev []Column) (add []Column, rebuild bool, err error) {
	if e.Mode == ModeIncremental {
		if len(e.Keys) == 0 {
			return nil, false, refused("an incremental export needs key columns")
		}
		names := map[string]bool{}
		for _, c := range e.Columns {
			names[c.Name] = true
		}
		for _, k := range e.Keys {
			if !names[k] {
				return nil, false, refused("the key column %q is not in the query's result", k)
			}
		}
	}
	if prev == nil {
		return nil, false, nil
	}
	d := Compare(prev, e.Columns)
	if d.Empty() {
		return nil, false, nil
	}
	switch e.SchemaChange {
	case SchemaAddColumns:
		if len(d.Changed) > 0 {
			return nil, false, refused("the query's columns changed (%s): schema_change add_columns cannot change a column's type (use rebuild)", d)
		}
		for _, c := range e.Columns {
			for _, a := range d.Added {
				if c.Name == a {
					add = append(add, c)
				}
			}
		}
		return add, false, nil
	case SchemaRebuild:
		return nil, true, nil
	}
	return nil, false, refused("the query's columns changed (%s) and the task's schema_change is fail: change the query back, or set add_columns or rebuild", d)
}

// plainValue converts a value read from the reporting database for a column type into what
// a MySQL driver takes (PostgreSQL targets take pgx's values as they are).
func plainValue(t string, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t {
	case TypeNumeric:
		switch n := v.(type) {
		case pgtype.Numeric:
			if !n.Valid {
				return nil, nil
			}
			if n.NaN || n.InfinityModifier != pgtype.Finite {
				return nil, nil
			}
			return numericString(n), nil
		}
	case TypeTimestamptz, TypeDate:
		if tm, ok := v.(time.Time); ok {
			return tm.UTC(), nil
		}
	case TypeUUID:
		switch u := v.(type) {
		case [16]byte:
			return uuid.UUID(u).String(), nil
		}
	case TypeJSON:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	}
	return v, nil
}

// numericString formats a numeric exactly.
func numericString(n pgtype.Numeric) string {
	if n.Int == nil {
		return "0"
	}
	s := new(big.Int).Abs(n.Int).String()
	neg := n.Int.Sign() < 0
	if n.Exp > 0 {
		for i := int32(0); i < n.Exp; i++ {
			s += "0"
		}
	} else if n.Exp < 0 {
		frac := int(-n.Exp)
		for len(s) <= frac {
			s = "0" + s
		}
		s = s[:len(s)-frac] + "." + s[len(s)-frac:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
